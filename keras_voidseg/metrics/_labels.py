"""Validation of label images shared by the metrics and the post-processing."""

from __future__ import annotations

import numpy as np

_MAX_ID = np.iinfo(np.int64).max


def check_labels(labels, name: str = "labels", ndims: tuple[int, ...] = (2, 3)) -> np.ndarray:
    """``labels`` as a non-negative integer array (any integer dtype, kept as is; only
    non-native byte order is converted).

    Raises a ValueError naming ``name``, the offending value and the fix for: a dimension
    not in ``ndims``, boolean or float dtypes (like ``stardist.matching`` we do not accept
    floats, even whole-number ones, because a float array passed as labels is almost always
    a probability map), other non-integer dtypes, negative ids and ids beyond int64.
    """
    labels = np.asarray(labels)
    if labels.ndim not in ndims:
        wanted = " or ".join({2: "2D (Y, X)", 3: "3D (Z, Y, X)"}.get(n, f"{n}D") for n in ndims)
        raise ValueError(f"{name} must be a {wanted} label image, got shape {labels.shape}; "
                         "pass one image at a time (a list of images goes to the *_dataset functions)")
    if labels.dtype == bool:
        raise ValueError(f"{name} is a boolean mask; instance labels need one integer id per object "
                         f"(0 = background), e.g. skimage.measure.label({name})")
    if np.issubdtype(labels.dtype, np.floating):
        if labels.size and np.all(np.isfinite(labels)) and np.array_equal(labels, np.round(labels)):
            hint = f"it holds whole numbers only, so pass {name}.astype(np.int32)"
        else:
            bad = labels[~np.isfinite(labels) | (labels != np.round(labels))].flat[0] if labels.size else None
            hint = f"it holds non-integer values (e.g. {bad}); pass instance labels, not probabilities"
        raise ValueError(f"{name} has float dtype {labels.dtype} but label images need an integer dtype; {hint}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} has dtype {labels.dtype}; pass an integer label image (0 = background)")
    if labels.size:
        low = labels.min()
        if low < 0:
            raise ValueError(f"{name} has negative id {low}; object ids must be >= 0 (0 = background)")
        if labels.dtype == np.uint64 and labels.max() > _MAX_ID:
            raise ValueError(f"{name} has id {labels.max()} > 2**63 - 1; relabel it, e.g. "
                             f"skimage.segmentation.relabel_sequential({name})[0]")
    if not labels.dtype.isnative:  # e.g. big-endian TIFF data; numba needs native byte order
        labels = labels.astype(labels.dtype.newbyteorder("="))
    return labels


def check_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Both label images validated, with equal shapes."""
    y_true = check_labels(y_true, "y_true")
    y_pred = check_labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}; "
                         "compare label images of the same image")
    return y_true, y_pred


def check_lists(y_trues, y_preds) -> None:
    """Data-set inputs: two sequences of the same length."""
    if len(y_trues) != len(y_preds):
        raise ValueError(f"y_trues has {len(y_trues)} images but y_preds has {len(y_preds)}; "
                         "pass one prediction per ground-truth image, in the same order")
