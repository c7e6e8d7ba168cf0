"""The experiment grid: data set x noise x training subset x method x scheme x repeat.

A :class:`GridSpec` is plain data (it is shipped to Dask workers and written to
``grid.json``); :meth:`GridSpec.cells` expands it into :class:`Cell` jobs in a stable order.
Every cell has its own folder under ``<out>/cells/`` and the N2V stage of a
(noise, repeat) pair lives in ``<out>/n2v/`` so that all schemes of that pair share it.

Schedules: ``epochs`` / ``steps`` override the preset for the segmenters only; the N2V
stage (trained once per noise and repeat, then shared by up to six schemes) keeps the
preset's full schedule unless ``n2v_epochs`` / ``n2v_steps`` say otherwise.

Seeds: the data (synthetic images, noise, split, nested subsets P1 <= P2 <= ...) always use
``seed``, so every repeat sees the same images and the same test split; repeat ``r`` trains
with seed ``seed + r`` (network initialisation, batch order, augmentation, N2V masks).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from keras_voidseg.config import METHODS, PRESETS, SCHEMES
from keras_voidseg.data.noise import parse_noise

#: the first columns of results.csv, in order (DESIGN §4 metrics follow the cell's identity)
RESULT_COLUMNS = (
    "data", "noise", "subset", "n_train", "method", "scheme", "repeat", "seed", "ap", "seg",
    "precision", "recall", "thresholds", "train_seconds", "backend", "preset",
)


def schemes_of(method: str) -> tuple[str, ...]:
    """Every scheme that exists for ``method`` (``joint`` is U-Net only)."""
    return tuple(s for s in SCHEMES if not (s == "joint" and method != "unet"))


def _split(value, name: str) -> list[str]:
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if str(v).strip()]
    if not items:
        raise ValueError(f"--{name} is empty; give a comma-separated list")
    return items


@dataclass(frozen=True)
class Cell:
    """One training job of the grid (one pipeline folder and one results row)."""

    noise: float
    subset: str
    method: str
    scheme: str
    repeat: int

    @property
    def key(self) -> str:
        """``n200/P3/stardist-sequential/r0``: the cell's folder below ``cells/``."""
        return f"n{self.noise:g}/{self.subset}/{self.method}-{self.scheme}/r{self.repeat}"

    @property
    def needs_denoiser(self) -> bool:
        from keras_voidseg.schemes import scheme_spec

        return scheme_spec(self.scheme, self.method).needs_denoiser


@dataclass(frozen=True)
class GridSpec:
    """What ``kvs reproduce`` runs (validated on construction, so workers never see bad input)."""

    data: str = "synthetic"
    noises: tuple = (200.0,)
    subsets: tuple = ("P1", "P3", "P5", "P10")
    methods: tuple = METHODS
    schemes: tuple = ("all",)
    repeats: int = 2
    preset: str = "cpu"
    seed: int = 0
    epochs: int | None = None
    steps: int | None = None
    batch_size: int | None = None
    n2v_epochs: int | None = None
    n2v_steps: int | None = None
    n_images: int | None = None
    size: int | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, *, noises="200", subsets="P1,P3,P5,P10", methods="unet,stardist", schemes="all",
              **kwargs) -> "GridSpec":
        """Build from the CLI's comma-separated strings (``"150,200"``, ``"P1,P3"``, ...)."""
        from keras_voidseg.experiment import check_subset

        methods = _split(methods, "methods")
        for method in methods:
            if method not in METHODS:
                raise ValueError(f"unknown method {method!r} in --methods; choose from {', '.join(METHODS)}")
        schemes = _split(schemes, "schemes")
        if schemes != ["all"]:
            for scheme in schemes:
                if scheme not in SCHEMES:
                    raise ValueError(f"unknown scheme {scheme!r} in --schemes; choose from "
                                     f"{', '.join(SCHEMES)} or 'all'")
        return cls(noises=tuple(parse_noise(n) for n in _split(noises, "noise")),
                   subsets=tuple(check_subset(s) for s in _split(subsets, "subsets")),
                   methods=tuple(methods), schemes=tuple(schemes), **kwargs)

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose one of {sorted(PRESETS)}")
        if self.repeats < 1:
            raise ValueError(f"--repeats must be >= 1, got {self.repeats}")

    def schemes_for(self, method: str) -> tuple[str, ...]:
        """The schemes of ``method`` in this grid (``all`` expands; joint skipped for StarDist)."""
        if tuple(self.schemes) == ("all",):
            return schemes_of(method)
        return tuple(s for s in self.schemes if s in schemes_of(method))

    def cells(self) -> list[Cell]:
        """Every cell, ordered noise > repeat > subset > method > scheme."""
        return [Cell(float(noise), subset, method, scheme, repeat)
                for noise in self.noises for repeat in range(self.repeats) for subset in self.subsets
                for method in self.methods for scheme in self.schemes_for(method)]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "GridSpec":
        data = json.loads(text)
        for key in ("noises", "subsets", "methods", "schemes"):
            data[key] = tuple(data[key])
        return cls(**data)


def cell_dir(out: Path, cell: Cell) -> Path:
    return Path(out) / "cells" / cell.key


def denoiser_dir(out: Path, noise: float, repeat: int) -> Path:
    """The shared N2V stage of one (noise, repeat) pair."""
    return Path(out) / "n2v" / f"n{noise:g}-r{repeat}"
