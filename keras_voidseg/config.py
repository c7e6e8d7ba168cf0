"""Plain-data configuration: every network and training run is rebuilt from these.

Configs are frozen dataclasses so that a saved ``config.json`` fully describes a
pipeline (no pickled code).  ``to_dict``/``from_dict`` round-trip exactly, and
unknown keys raise a clear error instead of being silently dropped.

The three presets (DESIGN §5):

* ``paper`` - faithful to Prakash et al. 2020: patch 128, batch 128, 200 epochs x
  400 steps, Adam lr 4e-4 with reduce-on-plateau, depth-4 U-Net with 32 base filters.
* ``cpu``   - trains a useful model in minutes on 2 CPU cores.
* ``smoke`` - tiny, for tests (seconds).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

METHODS = ("unet", "stardist")
SCHEMES = ("baseline", "sequential", "finetune", "finetune-sequential", "joint")
HEAD_KINDS = ("voidseg", "stardist")


def _from_mapping(cls, data: Mapping[str, Any], what: str):
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys by name."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(
            f"{what}: unknown key(s) {unknown}; expected a subset of {sorted(known)}"
        )
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class _Serialisable:
    """Mixin giving frozen dataclasses ``to_dict``/``from_dict``/``replace``."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        return _from_mapping(cls, data, cls.__name__)

    def replace(self, **changes):
        return replace(self, **changes)


@dataclass(frozen=True)
class BackboneConfig(_Serialisable):
    """U-Net backbone: ``depth`` poolings, ``base_filters`` doubling per level."""

    depth: int = 2
    base_filters: int = 32
    kernel_size: int = 3
    conv_per_level: int = 2
    batch_norm: bool = True
    dropout: float = 0.0
    input_channels: int = 1

    def __post_init__(self):
        if self.depth < 1:
            raise ValueError(f"BackboneConfig.depth must be >= 1, got {self.depth}")
        if self.base_filters < 1:
            raise ValueError(f"BackboneConfig.base_filters must be >= 1, got {self.base_filters}")
        if self.kernel_size % 2 != 1:
            raise ValueError(f"BackboneConfig.kernel_size must be odd, got {self.kernel_size}")

    @property
    def size_divisor(self) -> int:
        """Spatial sizes fed to the network must be multiples of this."""
        return 2**self.depth


@dataclass(frozen=True)
class HeadConfig(_Serialisable):
    """Output head.

    ``voidseg``: 4 channels = 3 class logits (background, foreground, border) + 1
    denoised intensity (the N2V channel).  ``stardist``: 1 object probability + ``n_rays``
    radial distances, at ``grid`` subsampling.
    """

    kind: str = "voidseg"
    n_rays: int = 32
    grid: int = 1
    n_classes: int = 3

    def __post_init__(self):
        if self.kind not in HEAD_KINDS:
            raise ValueError(f"HeadConfig.kind must be one of {HEAD_KINDS}, got {self.kind!r}")
        if self.n_rays < 3:
            raise ValueError(f"HeadConfig.n_rays must be >= 3, got {self.n_rays}")
        if self.grid < 1:
            raise ValueError(f"HeadConfig.grid must be >= 1, got {self.grid}")

    @property
    def n_outputs(self) -> int:
        return self.n_classes + 1 if self.kind == "voidseg" else 1 + self.n_rays


@dataclass(frozen=True)
class TrainConfig(_Serialisable):
    """Optimisation and data-pipeline settings of one training stage."""

    patch_size: int = 64
    batch_size: int = 16
    epochs: int = 20
    steps_per_epoch: int = 50
    learning_rate: float = 4e-4
    plateau_factor: float = 0.5
    plateau_patience: int = 10
    min_learning_rate: float = 1e-6
    augment: bool = True
    # Noise2Void blind-spot masking (Krull et al. 2019): ~0.2 % of pixels per patch,
    # replaced by a random neighbour in a 5x5 window (never the pixel itself).
    n2v_masked_fraction: float = 0.002
    n2v_neighborhood: int = 5
    # 3-class cross-entropy weights: background, foreground, border (paper: border x5).
    class_weights: tuple = (1.0, 1.0, 5.0)
    # StarDist loss = BCE(prob) + dist_weight * prob-weighted MAE(dist).
    stardist_dist_weight: float = 0.2
    # Joint (DenoiSeg-style) scheme: loss = alpha * n2v + (1 - alpha) * segmentation.
    joint_alpha: float = 0.5
    validation_fraction: float = 0.15
    seed: int = 42

    def __post_init__(self):
        if self.patch_size < 8:
            raise ValueError(f"TrainConfig.patch_size must be >= 8, got {self.patch_size}")
        if self.batch_size < 1:
            raise ValueError(f"TrainConfig.batch_size must be >= 1, got {self.batch_size}")
        if self.epochs < 1 or self.steps_per_epoch < 1:
            raise ValueError(
                f"TrainConfig.epochs and steps_per_epoch must be >= 1, "
                f"got {self.epochs} and {self.steps_per_epoch}"
            )
        if not 0.0 < self.n2v_masked_fraction < 1.0:
            raise ValueError(
                f"TrainConfig.n2v_masked_fraction must be in (0, 1), got {self.n2v_masked_fraction}"
            )
        if self.n2v_neighborhood < 3 or self.n2v_neighborhood % 2 != 1:
            raise ValueError(
                f"TrainConfig.n2v_neighborhood must be odd and >= 3, got {self.n2v_neighborhood}"
            )
        if len(self.class_weights) != 3:
            raise ValueError(f"TrainConfig.class_weights needs 3 values, got {self.class_weights}")

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch


@dataclass(frozen=True)
class Preset(_Serialisable):
    """A named bundle of backbone and training settings."""

    name: str
    backbone: BackboneConfig
    train: TrainConfig

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Preset":
        return cls(
            name=data["name"],
            backbone=BackboneConfig.from_dict(data["backbone"]),
            train=TrainConfig.from_dict(data["train"]),
        )


PRESETS: dict[str, Preset] = {
    "paper": Preset(
        name="paper",
        backbone=BackboneConfig(depth=4, base_filters=32),
        train=TrainConfig(patch_size=128, batch_size=128, epochs=200, steps_per_epoch=400),
    ),
    "cpu": Preset(
        name="cpu",
        backbone=BackboneConfig(depth=3, base_filters=16),
        train=TrainConfig(patch_size=64, batch_size=16, epochs=15, steps_per_epoch=40,
                          plateau_patience=3),
    ),
    "smoke": Preset(
        name="smoke",
        backbone=BackboneConfig(depth=1, base_filters=4),
        train=TrainConfig(patch_size=16, batch_size=2, epochs=2, steps_per_epoch=2,
                          plateau_patience=1),
    ),
}


def get_preset(name: str) -> Preset:
    """Return the preset called ``name`` or raise a ValueError listing the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


@dataclass(frozen=True)
class PipelineConfig(_Serialisable):
    """Everything needed to rebuild a trained pipeline's networks and behaviour."""

    method: str = "unet"
    scheme: str = "baseline"
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str = "cpu"
    has_denoiser: bool = False
    denoiser_backbone: BackboneConfig | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"PipelineConfig.method must be one of {METHODS}, got {self.method!r}")
        if self.scheme not in SCHEMES:
            raise ValueError(f"PipelineConfig.scheme must be one of {SCHEMES}, got {self.scheme!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PipelineConfig":
        data = dict(data)
        nested = {
            "backbone": BackboneConfig,
            "head": HeadConfig,
            "train": TrainConfig,
            "denoiser_backbone": BackboneConfig,
        }
        for key, sub in nested.items():
            if data.get(key) is not None:
                data[key] = sub.from_dict(data[key])
        return _from_mapping(cls, data, "PipelineConfig")
