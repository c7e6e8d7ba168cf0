"""One training job end to end: data -> (N2V) -> segmenter -> thresholds -> test scores -> folder.

:func:`train_pipeline` is what ``kvs train`` and every cell of ``kvs reproduce`` run.
Layout of its work (all resumable: repeat the call after an interruption and finished
stages are loaded, unfinished ones continue from their last epoch)::

    <denoiser_dir>/            shared N2V stage (default: <out>/../n2v-<data key>)
        train/                 checkpoints, log.csv, done.json (training.fit)
        pipeline/              the denoiser as a loadable pipeline (task "denoising")
    <out>/
        train/                 the segmenter's checkpoints and log
        config.json, *.weights.h5, thresholds.json, metrics.json, metadata.json, README.md

The pipeline folder is written last (atomically, file by file; ``metrics.json`` and the
model card after the weights), so a folder with ``metrics.json`` is complete.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import keras

from keras_voidseg.config import Preset, get_preset
from keras_voidseg.experiment import ExperimentData, check_subset
from keras_voidseg.pipeline import Pipeline, score_labels
from keras_voidseg.schemes import (
    pipeline_config,
    scheme_spec,
    segmentation_inputs,
    train_denoiser,
    train_segmenter,
)
from keras_voidseg.thresholds import optimize_thresholds


def data_key(data: ExperimentData, preset: Preset) -> str:
    """``synthetic-bbbc004-n200-cpu-s0``: what a shared N2V stage depends on."""
    return f"{data.name}-n{data.noise:g}-{preset.name}-s{data.seed}"


def train_preset(preset: str | Preset, epochs: int | None = None, steps: int | None = None,
                 seed: int | None = None, batch_size: int | None = None) -> Preset:
    """``preset`` with optional overrides of epochs, steps per epoch, seed and batch size."""
    preset = get_preset(preset) if isinstance(preset, str) else preset
    changes: dict[str, Any] = {}
    if batch_size is not None:
        changes["batch_size"] = int(batch_size)
    if epochs is not None:
        changes["epochs"] = int(epochs)
    if steps is not None:
        changes["steps_per_epoch"] = int(steps)
    if seed is not None:
        changes["seed"] = int(seed)
    return preset.replace(train=preset.train.replace(**changes)) if changes else preset


def get_denoiser(data: ExperimentData, preset: Preset, denoiser_dir, *, verbose: int = 1) -> keras.Model:
    """Train (or load, if finished; or resume) the shared N2V stage and save it as a pipeline."""
    denoiser_dir = Path(denoiser_dir)
    model = train_denoiser(data, preset.backbone, preset.train, denoiser_dir / "train", verbose=verbose)
    folder = denoiser_dir / "pipeline"
    if not (folder / "metrics.json").is_file():
        config = pipeline_config("unet", "baseline", preset).replace(denoiser_backbone=preset.backbone)
        pipe = Pipeline(config, denoiser=model, task="denoising", normalizer=data.normalizer,
                        metadata={"data": data.describe(), "seed": preset.train.seed,
                                  "command": "(N2V stage of kvs train)"},
                        metrics=denoising_scores(pipe_denoise(model, data), data))
        pipe.save_pretrained(folder)
    return model


def pipe_denoise(model: keras.Model, data: ExperimentData) -> list:
    """The N2V network's output on the test images (normalised units)."""
    from keras_voidseg.schemes import denoise_images

    return denoise_images(model, data.split_images("test"))


def denoising_scores(denoised, data: ExperimentData) -> dict:
    """PSNR of normalised denoised vs clean test images (synthetic data only; else {})."""
    import numpy as np

    if data.clean is None:
        return {}
    psnrs = []
    for pred, index in zip(denoised, data.splits["test"]):
        lo, hi = np.percentile(data.raw[index], [data.normalizer.pmin, data.normalizer.pmax])
        clean = (data.clean[index] - lo) / (hi - lo)
        peak = float(clean.max() - clean.min())
        mse = float(np.mean((pred - clean) ** 2))
        psnrs.append(10 * np.log10(peak ** 2 / max(mse, 1e-12)))
    return {"psnr": float(np.mean(psnrs))}


def train_pipeline(data: ExperimentData, method: str, scheme: str, subset: str, preset: Preset,
                   out_dir, *, denoiser_dir=None, denoiser_preset: Preset | None = None,
                   command: str | None = None, verbose: int = 1) -> Pipeline:
    """Train one method/scheme on training subset ``subset`` and write the pipeline folder.

    ``denoiser_preset`` trains the shared N2V stage with another schedule than the
    segmenter (default: ``preset``; it must use the same backbone).
    Returns the pipeline with ``metrics`` = test-split scores (plus ``train_seconds``).
    """
    started = time.time()
    subset = check_subset(subset, data.subset_dataset)
    spec = scheme_spec(scheme, method)
    out = Path(out_dir)
    config = pipeline_config(method, scheme, preset)
    denoiser = None
    if spec.needs_denoiser:
        denoiser_dir = Path(denoiser_dir) if denoiser_dir else out.parent / f"n2v-{data_key(data, preset)}"
        n2v_preset = denoiser_preset or preset
        if n2v_preset.backbone != preset.backbone:
            raise ValueError("denoiser_preset must use the segmenter's backbone "
                             f"({n2v_preset.backbone} != {preset.backbone})")
        denoiser = get_denoiser(data, n2v_preset, denoiser_dir, verbose=verbose)
    inputs = segmentation_inputs(data, spec, denoiser)
    segmenter = train_segmenter(data, config, subset, out / "train", denoiser=denoiser,
                                inputs=inputs, verbose=verbose)
    n_patches = len(data.patches("train", preset.train.patch_size)[0])
    pipe = Pipeline(config, segmenter, denoiser if spec.denoised_input else None,
                    normalizer=data.normalizer)
    tuning = optimize_thresholds(pipe, [data.raw[i] for i in data.splits["val"]], data.split_labels("val"))
    test_raw = [data.raw[i] for i in data.splits["test"]]
    metrics = score_labels(data.split_labels("test"), [pipe.predict_instances(x)[0] for x in test_raw])
    metrics.update(val_ap=tuning["ap"], train_seconds=round(time.time() - started, 1), split="test")
    pipe.metrics = metrics
    pipe.metadata = {
        "data": {**data.describe(), "subset": subset, "n_train": int(len(data.subset(subset, n_patches)))},
        "seed": preset.train.seed,
        "command": command or f"kvs train --method {method} --scheme {scheme} --subset {subset} --preset {preset.name}",
    }
    pipe.save_pretrained(out)
    return pipe


def read_metrics(folder) -> dict | None:
    """The metrics of a finished pipeline folder, or None."""
    path = Path(folder) / "metrics.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
