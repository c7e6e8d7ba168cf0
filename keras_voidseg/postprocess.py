"""3-class targets from instance labels, and instance labels from 3-class probabilities.

VoidSeg's U-Net classifies every pixel as background (0), foreground = object interior (1)
or border (2).  Numba kernels, no Keras import.

:func:`labels_to_three_class`
    border = object pixels with a 4-neighbour (inside the image) of another id or of
    background: the 1-pixel *inner* boundary, exactly
    ``skimage.segmentation.find_boundaries(labels, mode="inner")`` restricted to objects,
    as DenoiSeg's ``convert_to_oneHot`` builds it (checked in the tests).  The image edge
    does not make a border.  Touching objects are thereby separated by their borders,
    which is what lets connected components split them again.  One numba pass, since it
    runs on every training batch.

:func:`three_class_to_labels`
    1. seeds = connected components (4-connectivity: objects that meet only at a corner
       stay apart) of ``foreground probability > threshold``; the foreground probability is
       channel 1 of a ``(Y, X, 3)`` softmax output, as in DenoiSeg, or the ``(Y, X)`` map
       itself.  Components are numbered 1..N in raster order of their first pixel (like
       ``skimage.measure.label``).
    2. seeds smaller than ``min_size`` pixels (default 4: specks of noise, far below any
       nucleus) are dropped.
    3. the border is given back: the seeds grow ``grow`` steps (4-neighbour steps,
       breadth first, each pixel joins the first object that reaches it) into unlabelled
       pixels that are *not background*: ``p(foreground) + p(border) > p(background)``
       for 3-class input.  Step 1 restores every border pixel 4-adjacent to its object's
       interior (the interior's 4-neighbours always belong to the same object, so this step
       cannot leak), step 2 the corner pixels; hence the default ``grow=2``.  A
       ``(Y, X)`` foreground map carries no background information, so there growth is
       unrestricted and the default is one step (which can never leak past an exact
       object's border).  Unlike ``expand_labels`` (Euclidean distance transform of the
       whole image) this touches only the pixels next to objects.

    With exact one-hot probabilities of objects separated by background this returns the
    original objects exactly (tested), as long as each object has interior pixels and its
    border pixels lie within two steps of them.
"""

from __future__ import annotations

import numba
import numpy as np

from keras_voidseg.metrics._labels import check_labels

BACKGROUND, FOREGROUND, BORDER = 0, 1, 2


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
    """uint8 ``(Y, X)``: 0 background, 1 object interior, 2 object border (inner boundary).

    ``labels``: 2D integer label image (any integer dtype, 0 = background).
    """
    labels = np.ascontiguousarray(check_labels(labels, "labels", ndims=(2,)))
    out = np.empty(labels.shape, np.uint8)
    _three_class(labels, out)
    return out


@numba.njit(cache=True)
def _find(parent, i):
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        parent[i], i = root, parent[i]
    return root


@numba.njit(cache=True)
def _components(mask, min_size):
    """int32 labels of the 4-connected components of ``mask`` with >= min_size pixels,
    numbered 1..N in raster order of their first pixel (two-pass union-find)."""
    height, width = mask.shape
    provisional = np.zeros((height, width), np.int32)
    parent = np.zeros(height * width // 2 + 2, np.int32)
    n = 0
    for y in range(height):
        for x in range(width):
            if not mask[y, x]:
                continue
            up = provisional[y - 1, x] if y > 0 else 0
            left = provisional[y, x - 1] if x > 0 else 0
            if up == 0 and left == 0:
                n += 1
                parent[n] = n
                provisional[y, x] = n
            elif up == 0 or left == 0:
                provisional[y, x] = up + left
            else:
                ru, rl = _find(parent, up), _find(parent, left)
                if ru != rl:
                    parent[max(ru, rl)] = min(ru, rl)
                provisional[y, x] = min(ru, rl)
    size = np.zeros(n + 1, np.int64)
    for y in range(height):
        for x in range(width):
            if provisional[y, x]:
                root = _find(parent, provisional[y, x])
                provisional[y, x] = root
                size[root] += 1
    final = np.zeros(n + 1, np.int32)
    count = 0
    for y in range(height):
        for x in range(width):
            root = provisional[y, x]
            if root:
                if size[root] < min_size:
                    provisional[y, x] = 0
                    continue
                if final[root] == 0:
                    count += 1
                    final[root] = count
                provisional[y, x] = final[root]
    return provisional


@numba.njit(cache=True)
def _grow(labels, allowed, steps):
    """Breadth-first growth of ``labels`` (in place) by ``steps`` 4-neighbour steps into
    unlabelled pixels where ``allowed``; a pixel joins the first object reaching it."""
    height, width = labels.shape
    queue = np.empty(height * width, np.int64)
    tail = 0
    for y in range(height):  # frontier: labelled pixels next to a growable pixel
        for x in range(width):
            if labels[y, x] == 0:
                continue
            if ((y > 0 and labels[y - 1, x] == 0 and allowed[y - 1, x])
                    or (y + 1 < height and labels[y + 1, x] == 0 and allowed[y + 1, x])
                    or (x > 0 and labels[y, x - 1] == 0 and allowed[y, x - 1])
                    or (x + 1 < width and labels[y, x + 1] == 0 and allowed[y, x + 1])):
                queue[tail] = y * width + x
                tail += 1
    head = 0
    for _ in range(steps):
        end = tail
        while head < end:
            p = queue[head]
            head += 1
            y, x = p // width, p % width
            value = labels[y, x]
            for k in range(4):
                ny = y + (k == 1) - (k == 0)
                nx = x + (k == 3) - (k == 2)
                if 0 <= ny < height and 0 <= nx < width and labels[ny, nx] == 0 and allowed[ny, nx]:
                    labels[ny, nx] = value
                    queue[tail] = ny * width + nx
                    tail += 1
        if head == tail:
            break


def three_class_to_labels(probabilities, threshold: float = 0.5, *, min_size: int = 4,
                          grow: int | None = None) -> np.ndarray:
    """int32 instance labels ``(Y, X)`` (0 = background, objects 1..N) from 3-class output.

    Args:
        probabilities: float ``(Y, X, 3)`` class probabilities [background, foreground,
            border] (softmax output), or a float ``(Y, X)`` foreground probability map.
        threshold: foreground probability above which a pixel seeds an object.
        min_size: seed components with fewer pixels are dropped (before regrowth).
        grow: 4-neighbour steps by which objects regain their border; None = 2 for
            ``(Y, X, 3)`` input (growth only into pixels that are not background), 1 for a
            ``(Y, X)`` map (unrestricted).  See the module docstring for why.
    """
    probabilities = np.asarray(probabilities)
    if not np.issubdtype(probabilities.dtype, np.floating):
        raise ValueError(f"probabilities must be a float array, got dtype {probabilities.dtype}; "
                         "pass the network's softmax output (use labels_to_three_class for labels)")
    if probabilities.ndim == 3 and probabilities.shape[-1] == 3:
        foreground = probabilities[..., FOREGROUND]
        allowed = probabilities[..., FOREGROUND] + probabilities[..., BORDER] > probabilities[..., BACKGROUND]
        steps = 2 if grow is None else grow
    elif probabilities.ndim == 2:
        foreground = probabilities
        allowed = np.ones(probabilities.shape, bool)
        steps = 1 if grow is None else grow
    else:
        raise ValueError(f"probabilities must be (Y, X, 3) class probabilities or a (Y, X) foreground "
                         f"map, got shape {probabilities.shape}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    if int(min_size) != min_size or min_size < 0:
        raise ValueError(f"min_size must be a non-negative integer number of pixels, got {min_size}")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"grow must be a non-negative integer number of steps, got {grow}")
    labels = _components(np.ascontiguousarray(foreground > threshold), int(min_size))
    if steps > 0:
        _grow(labels, np.ascontiguousarray(allowed), int(steps))
    return labels
