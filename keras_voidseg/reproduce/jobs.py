"""The jobs a worker runs: the shared N2V stage of a (noise, repeat) pair, and one grid cell.

Both are plain functions of picklable arguments (a :class:`GridSpec`, a :class:`Cell`, the
output folder as a string), so Dask can ship them to any worker that has keras_voidseg
installed and sees the output folder.  Both are idempotent: a finished cell returns its
stored ``result.json``; a half-finished one resumes from its last checkpoint
(:func:`keras_voidseg.workflow.train_pipeline`).
"""

from __future__ import annotations

import json
from pathlib import Path

from .allocator import restore_heap_allocation
from .grid import RESULT_COLUMNS, Cell, GridSpec, cell_dir, denoiser_dir

RESULT_FILE = "result.json"

#: per-process cache of prepared data: (data, noise, seed, preset, n_images, size) -> ExperimentData
_DATA_CACHE: dict = {}


def experiment_data(spec: GridSpec, noise: float):
    """The cell's data (generated/loaded once per worker process and noise level)."""
    from keras_voidseg.experiment import prepare_data

    key = (spec.data, float(noise), spec.seed, spec.preset, spec.n_images, spec.size)
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = prepare_data(spec.data, noise, seed=spec.seed, preset=spec.preset,
                                        n_images=spec.n_images, size=spec.size)
    return _DATA_CACHE[key]


def repeat_preset(spec: GridSpec, repeat: int, stage: str = "segmenter"):
    """The preset of ``stage`` ("segmenter" or "n2v") of repeat ``repeat`` (seed ``seed + repeat``)."""
    from keras_voidseg.workflow import train_preset

    if stage == "n2v":
        return train_preset(spec.preset, spec.n2v_epochs, spec.n2v_steps, spec.seed + repeat)
    return train_preset(spec.preset, spec.epochs, spec.steps, spec.seed + repeat, spec.batch_size)


def read_result(out, cell: Cell) -> dict | None:
    """The stored results row of a finished cell, or None."""
    path = cell_dir(Path(out), cell) / RESULT_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def run_denoiser(spec: GridSpec, noise: float, repeat: int, out: str) -> str:
    """Train (or load) the N2V stage shared by every scheme of (noise, repeat)."""
    import keras

    from keras_voidseg.workflow import get_denoiser

    restore_heap_allocation()
    folder = denoiser_dir(Path(out), noise, repeat)
    get_denoiser(experiment_data(spec, noise), repeat_preset(spec, repeat, "n2v"), folder, verbose=0)
    keras.backend.clear_session()
    return str(folder)


def reproduce_command(spec: GridSpec, cell: Cell) -> str:
    """The ``kvs train`` command that trains this cell alone (for its model card)."""
    parts = [f"kvs train --method {cell.method} --scheme {cell.scheme} --data {spec.data}",
             f"--noise {cell.noise:g} --subset {cell.subset} --preset {spec.preset}",
             f"--seed {spec.seed + cell.repeat}"]
    for option, value in (("--epochs", spec.epochs), ("--steps", spec.steps), ("--batch-size", spec.batch_size),
                          ("--images", spec.n_images), ("--size", spec.size)):
        if value is not None:
            parts.append(f"{option} {value}")
    return " ".join(parts) + f"  (cell {cell.key} of kvs reproduce; data seed {spec.seed})"


def run_cell(spec: GridSpec, cell: Cell, out: str, denoiser_ready: str | None = None) -> dict:
    """Train one cell (unless finished) and return its results row (see ``RESULT_COLUMNS``).

    ``denoiser_ready`` is the folder returned by :func:`run_denoiser` when the scheme needs
    N2V; the executor passes it once the shared stage has finished.
    """
    import keras

    from keras_voidseg.model_card import write_text_atomic
    from keras_voidseg.workflow import train_pipeline

    finished = read_result(out, cell)
    if finished is not None:
        return finished
    restore_heap_allocation()
    folder = cell_dir(Path(out), cell)
    pipe = train_pipeline(experiment_data(spec, cell.noise), cell.method, cell.scheme, cell.subset,
                          repeat_preset(spec, cell.repeat), folder,
                          denoiser_dir=denoiser_dir(Path(out), cell.noise, cell.repeat),
                          denoiser_preset=repeat_preset(spec, cell.repeat, "n2v"), command=reproduce_command(spec, cell), verbose=0)
    m = pipe.metrics
    row = {
        "data": spec.data, "noise": cell.noise, "subset": cell.subset,
        "n_train": pipe.metadata["data"]["n_train"], "method": cell.method, "scheme": cell.scheme,
        "repeat": cell.repeat, "seed": spec.seed + cell.repeat, "ap": m["ap"], "seg": m["seg"],
        "precision": m["precision"], "recall": m["recall"],
        "thresholds": json.dumps(pipe.thresholds, sort_keys=True),
        "train_seconds": m["train_seconds"], "backend": keras.backend.backend(), "preset": spec.preset,
        "f1": m["f1"], "tp": m["tp"], "fp": m["fp"], "fn": m["fn"], "val_ap": m.get("val_ap"),
    }
    assert tuple(row)[: len(RESULT_COLUMNS)] == RESULT_COLUMNS
    write_text_atomic(folder / RESULT_FILE, json.dumps(row, indent=2))
    keras.backend.clear_session()
    return row
