"""The 8 dihedral transforms of the square (rotations by 90 degrees, with or without a flip).

Transform ``k`` (0..7) is: flip along the second spatial axis if ``k >= 4``, then rotate by
``(k % 4) * 90`` degrees (``np.rot90`` from the first towards the second spatial axis).
``k = 0`` is the identity.

Spatial axes are explicit: ``axes=(0, 1)`` (default) for ``(H, W)`` and ``(H, W, C)``
arrays, ``axes=(1, 2)`` for batches ``(B, H, W)`` / ``(B, H, W, C)``.  Images and their
label images must be transformed together (same ``k``); StarDist ray distances are not
equivariant under these transforms (the rays permute), so targets are computed AFTER
augmentation from the transformed labels.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

N_TRANSFORMS = 8


def _check_k(k) -> int:
    if int(k) != k or not 0 <= k < N_TRANSFORMS:
        raise ValueError(f"dihedral transform index k must be an integer in 0..7, got {k!r}")
    return int(k)


def dihedral(array: np.ndarray, k: int, axes: Sequence[int] = (0, 1)) -> np.ndarray:
    """Apply dihedral transform ``k`` to the spatial ``axes`` of ``array`` (a view if possible)."""
    k = _check_k(k)
    array = np.asarray(array)
    if len(axes) != 2 or array.ndim < 2:
        raise ValueError(f"dihedral needs two spatial axes of an array with ndim >= 2, got axes={axes}, shape={array.shape}")
    if k >= 4:
        array = np.flip(array, axis=axes[1])
    return np.rot90(array, k % 4, axes=tuple(axes))


def inverse_dihedral(k: int) -> int:
    """Index of the transform that undoes ``k`` (rotations invert, flips are involutions)."""
    k = _check_k(k)
    return (4 - k) % 4 if k < 4 else k


def random_dihedral(rng: np.random.Generator, *arrays: np.ndarray, axes: Sequence[int] = (0, 1)):
    """Apply ONE random transform (uniform over the 8) to all ``arrays``; returns a tuple."""
    if not arrays:
        raise ValueError("random_dihedral needs at least one array")
    shapes = {tuple(np.asarray(a).shape[ax] for ax in axes) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"random_dihedral: arrays have different spatial shapes {sorted(shapes)}")
    k = int(rng.integers(N_TRANSFORMS))
    return tuple(dihedral(a, k, axes) for a in arrays)


def batch_dihedral(ks: np.ndarray, *batches: np.ndarray) -> tuple[np.ndarray, ...]:
    """Transform sample ``i`` of every batch ``(B, P, P[, C])`` by ``ks[i]`` (new arrays).

    Samples are grouped by transform, so the cost is 8 vectorised copies, not ``B``.
    Patches must be square (odd rotations swap the spatial axes).
    """
    ks = np.asarray(ks)
    outs = []
    for batch in batches:
        batch = np.asarray(batch)
        if batch.ndim < 3 or batch.shape[1] != batch.shape[2] or len(batch) != len(ks):
            raise ValueError(
                f"batch_dihedral needs square batches (B, P, P[, C]) with B = len(ks) = {len(ks)}, "
                f"got shape {batch.shape}"
            )
        out = np.empty_like(batch)
        for k in np.unique(ks):
            idx = np.flatnonzero(ks == k)
            out[idx] = dihedral(batch[idx], int(k), axes=(1, 2))
        outs.append(out)
    return tuple(outs)
