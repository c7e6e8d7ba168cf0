"""3-class targets from instance labels, and instance labels from 3-class probabilities.

VoidSeg's U-Net classifies every pixel as background (0), foreground (1) or border (2).

* :func:`labels_to_three_class`: border = object pixels with a 4-neighbour (inside the
  image) of another label or background, the 1-pixel *inner* boundary; this is
  ``skimage.segmentation.find_boundaries(labels, mode="inner")`` (checked in the tests),
  written as one numba pass because it runs on every training batch.  Touching objects
  are thereby separated by their borders, which is what lets connected components split
  them again.
* :func:`three_class_to_labels`: threshold the foreground probability, label connected
  components (4-connectivity, so two objects that only meet at a corner stay apart), drop
  components smaller than ``min_size`` pixels, then give the border back: every pixel not
  classified as background (background probability < 0.5) within ``grow`` pixels of an
  object joins the nearest object (``skimage.segmentation.expand_labels``).  With exact
  one-hot probabilities this returns the original objects (tested), as long as every
  object has interior pixels.

Numba code only; no Keras import.
"""

from __future__ import annotations

import numba
import numpy as np

BACKGROUND, FOREGROUND, BORDER = 0, 1, 2


def check_labels(labels, name: str = "labels") -> np.ndarray:
    """A 2D non-negative integer label image (ValueError naming ``name`` otherwise)."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"{name} must be a 2D (Y, X) label image, got shape {labels.shape}")
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        if np.issubdtype(labels.dtype, np.floating) and labels.size and np.all(np.mod(labels, 1) == 0):
            labels = labels.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integer object ids, got dtype {labels.dtype}; "
                             "pass a label image (e.g. labels.astype(np.int32)), not probabilities")
    if labels.size and labels.min() < 0:
        raise ValueError(f"{name} has negative id {labels.min()}; ids must be >= 0 (0 = background)")
    return labels


@numba.njit(cache=True)
def _three_class(labels, out):
    height, width = labels.shape
    for y in range(height):
        for x in range(width):
            value = labels[y, x]
            if value == 0:
                out[y, x] = 0
                continue
            border = ((y > 0 and labels[y - 1, x] != value) or (y + 1 < height and labels[y + 1, x] != value)
                      or (x > 0 and labels[y, x - 1] != value) or (x + 1 < width and labels[y, x + 1] != value))
            out[y, x] = 2 if border else 1


def labels_to_three_class(labels) -> np.ndarray:
    """uint8 (Y, X): 0 background, 1 object interior, 2 object border (inner boundary)."""
    labels = check_labels(labels)
    out = np.empty(labels.shape, np.uint8)
    _three_class(np.ascontiguousarray(labels), out)
    return out


def three_class_to_labels(probabilities, threshold: float = 0.5, *, min_size: int = 4,
                          grow: float = 2.0) -> np.ndarray:
    """int32 instance labels (Y, X) from 3-class probabilities.

    Args:
        probabilities: ``(Y, X, 3)`` softmax output [background, foreground, border], or a
            ``(Y, X)`` foreground probability map (then no border regrowth is possible and
            ``grow`` uses the mask ``foreground > threshold`` only).
        threshold: foreground probability above which a pixel seeds an object.
        min_size: components with fewer pixels are dropped.
        grow: maximal distance (pixels) over which border pixels are given back.
    """
    from skimage.measure import label as connected_components
    from skimage.segmentation import expand_labels

    probabilities = np.asarray(probabilities, dtype=np.float32)
    if probabilities.ndim == 3 and probabilities.shape[-1] == 3:
        foreground = probabilities[..., FOREGROUND]
        not_background = probabilities[..., BACKGROUND] < 0.5
    elif probabilities.ndim == 2:
        foreground = probabilities
        not_background = None
    else:
        raise ValueError(f"probabilities must be (Y, X, 3) class probabilities or a (Y, X) foreground "
                         f"map, got shape {probabilities.shape}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    labels = connected_components(foreground > threshold, connectivity=1).astype(np.int32)
    if min_size > 1 and labels.max() > 0:
        sizes = np.bincount(labels.ravel())
        small = sizes < min_size
        small[0] = False
        if small.any():
            labels[small[labels]] = 0
            labels = _relabel(labels)
    if not_background is not None and grow > 0 and labels.max() > 0:
        grown = expand_labels(labels, distance=grow)
        fill = (labels == 0) & not_background
        labels[fill] = grown[fill]
    return labels


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Consecutive ids 1..N (in increasing order of the old ids), 0 stays background."""
    ids, inverse = np.unique(labels, return_inverse=True)
    if ids[0] != 0:
        inverse = inverse + 1
    return inverse.reshape(labels.shape).astype(np.int32)
