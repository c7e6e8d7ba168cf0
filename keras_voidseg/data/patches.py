"""Train/test split by image, non-overlapping patches, and the paper's nested subsets.

* :func:`split_indices` splits *images* (never patches), so no test pixel is ever seen in
  training.
* :func:`extract_patches` tiles every image into non-overlapping ``patch_size`` squares
  from the top-left corner; the rest of the image that does not fill a whole patch (less
  than ``patch_size`` pixels at the bottom/right) is dropped.  Images smaller than one
  patch are rejected with a ValueError (padding would create mirrored copies of objects
  that share one id, which corrupts instance targets).
* :func:`nested_subsets`: the paper trains on nested subsets P1 ⊂ P2 ⊂ ... ⊂ P10 of the
  annotated training data.  All subsets are prefixes of ONE seeded permutation, so the
  nesting holds by construction.  Rule for smaller data sets: a size above
  ``n_available`` is clipped to ``n_available`` (so the largest subsets may be equal) and
  :func:`clipped_subsets` names them; :func:`nested_subsets` also emits a UserWarning.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

#: subset sizes P1..P10 of the paper, per data set (number of annotated training patches)
SUBSET_SIZES: dict[str, tuple[int, ...]] = {
    "dsb": (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3800),
    "bbbc004": (2, 4, 8, 16, 32, 64, 128, 256, 512, 748),
}


def subset_names(sizes: Sequence[int]) -> tuple[str, ...]:
    """``("P1", ..., "Pk")`` for ``k = len(sizes)``."""
    return tuple(f"P{i + 1}" for i in range(len(sizes)))


def split_indices(
    n: int, test_fraction: float = 0.15, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Random split of ``n`` images into training and test indices.

    The test split gets ``round(n * test_fraction)`` images, at least 1, and training
    keeps at least 1.  Both index arrays are sorted, disjoint, and together cover
    ``0..n-1``.

    Returns:
        ``(train_idx, test_idx)``, int64 arrays.
    """
    if int(n) != n or n < 2:
        raise ValueError(f"split_indices needs at least 2 images to split, got n={n}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n = int(n)
    n_test = min(n - 1, max(1, int(round(n * test_fraction))))
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _as_image_list(images, what: str) -> list[np.ndarray]:
    if isinstance(images, np.ndarray):
        if images.ndim == 2:
            raise ValueError(
                f"{what}: got one 2D image of shape {images.shape}; pass a list of images "
                "or an (N, Y, X) array"
            )
        if images.ndim != 3:
            raise ValueError(f"{what} must be (N, Y, X) or a list of (Y, X), got shape {images.shape}")
        return list(images)
    out = [np.asarray(image) for image in images]
    for i, image in enumerate(out):
        if image.ndim != 2:
            raise ValueError(f"{what}[{i}] must be 2D (Y, X), got shape {image.shape}")
    return out


def extract_patches(
    images, labels=None, patch_size: int = 128
) -> tuple[np.ndarray, np.ndarray | None]:
    """Cut images (and labels) into non-overlapping ``patch_size`` x ``patch_size`` patches.

    Args:
        images: ``(N, Y, X)`` array or list of ``(Y, X)`` arrays (sizes may differ).
        labels: same structure and shapes, or None.
        patch_size: patch side in pixels.

    Returns:
        ``(x, y)``: float32 ``(M, P, P)`` and int32 ``(M, P, P)`` (or None); patches are
        ordered image by image, row by row.
    """
    if patch_size < 1:
        raise ValueError(f"patch_size must be >= 1, got {patch_size}")
    images = _as_image_list(images, "images")
    label_list = None if labels is None else _as_image_list(labels, "labels")
    if label_list is not None and len(label_list) != len(images):
        raise ValueError(f"got {len(images)} images but {len(label_list)} label images")
    xs, ys = [], []
    for i, image in enumerate(images):
        if label_list is not None and label_list[i].shape != image.shape:
            raise ValueError(
                f"image {i} has shape {image.shape} but its labels have shape {label_list[i].shape}"
            )
        h, w = image.shape
        if h < patch_size or w < patch_size:
            raise ValueError(
                f"image {i} of shape {image.shape} is smaller than patch_size {patch_size}; "
                "use a smaller patch size or drop the image"
            )
        ny, nx = h // patch_size, w // patch_size

        def tiles(array, dtype):
            cropped = np.asarray(array)[: ny * patch_size, : nx * patch_size].astype(dtype)
            blocks = cropped.reshape(ny, patch_size, nx, patch_size).swapaxes(1, 2)
            return blocks.reshape(ny * nx, patch_size, patch_size)

        xs.append(tiles(image, np.float32))
        if label_list is not None:
            ys.append(tiles(label_list[i], np.int32))
    if not xs:
        raise ValueError("extract_patches got no images")
    x = np.ascontiguousarray(np.concatenate(xs))
    y = None if label_list is None else np.ascontiguousarray(np.concatenate(ys))
    return x, y


def clipped_subsets(n_available: int, sizes: Sequence[int]) -> list[str]:
    """Names of the subsets whose requested size exceeds ``n_available``."""
    return [name for name, size in zip(subset_names(sizes), sizes) if size > n_available]


def nested_subsets(
    n_available: int, sizes: Sequence[int], seed: int = 0
) -> dict[str, np.ndarray]:
    """Nested index subsets ``{"P1": idx, ..., "Pk": idx}`` with P1 ⊂ P2 ⊂ ... ⊂ Pk.

    Subset ``Pi`` is the first ``min(sizes[i-1], n_available)`` entries of one seeded
    permutation of ``0..n_available-1`` (so it is nested in every later subset).  Sizes
    above ``n_available`` are clipped, with a UserWarning naming the clipped subsets.

    Returns:
        dict name -> int64 index array (in permutation order, not sorted).
    """
    if int(n_available) != n_available or n_available < 1:
        raise ValueError(f"n_available must be a positive integer, got {n_available}")
    sizes = [int(s) for s in sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"subset sizes must be positive integers, got {sizes}")
    if any(b < a for a, b in zip(sizes, sizes[1:])):
        raise ValueError(f"subset sizes must be non-decreasing for nested subsets, got {sizes}")
    clipped = clipped_subsets(n_available, sizes)
    if clipped:
        warnings.warn(
            f"only {n_available} training items available: subsets {', '.join(clipped)} "
            f"are clipped to {n_available} (requested sizes {sizes})",
            stacklevel=2,
        )
    order = np.random.default_rng(seed).permutation(int(n_available))
    return {name: order[: min(size, n_available)].copy()
            for name, size in zip(subset_names(sizes), sizes)}


def subset_indices(
    name: str, n_available: int, dataset: str = "bbbc004", seed: int = 0
) -> np.ndarray:
    """Indices of the paper subset ``name`` (``"P1"``..``"P10"``) of ``dataset``.

    Same result as ``nested_subsets(n_available, SUBSET_SIZES[dataset], seed)[name]``.
    """
    if dataset not in SUBSET_SIZES:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(SUBSET_SIZES)}")
    sizes = SUBSET_SIZES[dataset]
    valid = subset_names(sizes)
    key = str(name).strip().upper()
    if key not in valid:
        raise ValueError(f"unknown subset {name!r} for {dataset}; choose one of {', '.join(valid)}")
    position = valid.index(key)
    return nested_subsets(n_available, sizes[: position + 1], seed)[key]
