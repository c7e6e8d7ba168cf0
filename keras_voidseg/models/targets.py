"""Per-batch target functions for ``keras_voidseg.data.datasets.PatchDataset``.

Each factory returns ``target_fn(x, y, rng) -> (inputs, targets)`` where ``x`` is a float32
batch ``(B, P, P)`` (already normalised and augmented), ``y`` an int32 label batch
``(B, P, P)`` or None, and ``rng`` the dataset's seeded ``numpy.random.Generator``.  The
outputs are float32 ``inputs (B, P, P, 1)`` and ``targets`` in the layouts documented in
:mod:`keras_voidseg.models.losses`.

Unlabelled samples (joint scheme): ``y`` is None for a batch without labels, and a sample
whose label image is negative everywhere (e.g. filled with -1) is unlabelled.  Its class
target is all zeros, so it contributes only to the N2V term.

Sequential schemes: the segmenter's input is the frozen N2V denoiser's output.  The caller
denoises the patches *before* building the dataset, so the target functions take ``x`` as
given; nothing here differs between the baseline and sequential schemes.

This module is numpy-only (no Keras import); the label transforms come lazily from
:mod:`keras_voidseg.postprocess` and :mod:`keras_voidseg.stardist`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from keras_voidseg.config import TrainConfig
from keras_voidseg.models.n2v import n2v_manipulate

TargetFn = Callable[[np.ndarray, "np.ndarray | None", np.random.Generator],
                    tuple[np.ndarray, np.ndarray]]

N_CLASSES = 3


def _check_x(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must be a batch of 2D patches (B, P, P), got shape {x.shape}")
    return x.astype(np.float32, copy=False)


def _require_labels(y, x: np.ndarray, what: str) -> np.ndarray:
    if y is None:
        raise ValueError(f"{what} targets need label patches, but y is None; "
                         "build the dataset with labels (y=...)")
    y = np.asarray(y)
    if y.shape != x.shape:
        raise ValueError(f"label batch shape {y.shape} differs from image batch shape {x.shape}")
    return y


def three_class_onehot(y: np.ndarray) -> np.ndarray:
    """One-hot float32 (B, P, P, 3) of each label image's bg/fg/border map.

    Samples whose labels are all negative (unlabelled) get all-zero rows.
    """
    from keras_voidseg.postprocess import labels_to_three_class

    out = np.zeros(y.shape + (N_CLASSES,), np.float32)
    for i, labels in enumerate(y):
        if np.all(labels < 0):
            continue
        classes = np.asarray(labels_to_three_class(labels))
        out[i] = np.eye(N_CLASSES, dtype=np.float32)[classes]
    return out


def n2v_targets(train_config: TrainConfig) -> TargetFn:
    """Noise2Void: inputs = blind-spot-manipulated x, targets = [original, mask] (B,P,P,2)."""

    def target_fn(x, y, rng):
        return n2v_manipulate(_check_x(x), rng, train_config.n2v_masked_fraction,
                              train_config.n2v_neighborhood)

    return target_fn


def three_class_targets() -> TargetFn:
    """3-class U-Net: inputs = x (B,P,P,1), targets = one-hot bg/fg/border (B,P,P,3)."""

    def target_fn(x, y, rng):
        x = _check_x(x)
        y = _require_labels(y, x, "3-class")
        return x[..., None], three_class_onehot(y)

    return target_fn


def stardist_targets(n_rays: int = 32) -> TargetFn:
    """StarDist: inputs = x (B,P,P,1), targets = [object prob, n_rays distances] (B,P,P,1+n_rays)."""
    if n_rays < 3:
        raise ValueError(f"n_rays must be >= 3, got {n_rays}")

    def target_fn(x, y, rng):
        from keras_voidseg.stardist import object_probability, star_dist

        x = _check_x(x)
        y = _require_labels(y, x, "StarDist")
        out = np.empty(y.shape + (1 + n_rays,), np.float32)
        for i, labels in enumerate(y):
            out[i, ..., 0] = object_probability(labels)
            out[i, ..., 1:] = star_dist(labels, n_rays)
        return x[..., None], out

    return target_fn


def joint_targets(train_config: TrainConfig) -> TargetFn:
    """Joint (DenoiSeg-style): inputs = manipulated x, targets = [one-hot 3 classes, original,
    mask] (B,P,P,5); unlabelled samples (y None or all-negative) get zero class channels."""

    def target_fn(x, y, rng):
        x = _check_x(x)
        inputs, n2v = n2v_manipulate(x, rng, train_config.n2v_masked_fraction,
                                     train_config.n2v_neighborhood)
        if y is None:
            classes = np.zeros(x.shape + (N_CLASSES,), np.float32)
        else:
            classes = three_class_onehot(_require_labels(y, x, "joint"))
        return inputs, np.concatenate([classes, n2v], axis=-1)

    return target_fn
