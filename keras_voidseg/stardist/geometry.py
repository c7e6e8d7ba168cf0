"""StarDist training targets: radial distances (``star_dist``) and object probabilities.

``star_dist(labels, n_rays)`` walks from every object pixel along ``n_rays`` equally spaced
directions (angle ``phi_k = 2 pi k / n_rays``; row step ``sin phi_k``, column step
``cos phi_k``) one unit at a time until the rounded position leaves the image or the
pixel's object, then steps back by the overshoot correction ``1 - 0.5 / max(|sin|, |cos|)``
units and reports the length of the walked vector.  This is the rule of StarDist's C++
``star_dist`` in the same float32 arithmetic (``sinf``/``cosf`` of the float32 angle,
round-half-to-even like ``lrint``), so the results equal
``stardist.geometry.star_dist(..., mode="cpp")`` up to float32 rounding (tests: absolute
difference <= 1e-5).  Unlike StarDist (which casts labels to uint16) any non-negative
integer ids work.  Rows run in parallel (numba ``prange``).

``object_probability(labels)``: per object, the Euclidean distance transform divided by
its maximum (StarDist's ``edt_prob``); as there, the image border does not count as
background (an object cut by the border keeps high probability along it), except for a
label image that is one single object, which is padded with background first.
"""

from __future__ import annotations

import math

import numba
import numpy as np


def check_labels(labels, name: str = "labels") -> np.ndarray:
    """Return ``labels`` as a 2D non-negative integer array, or raise a ValueError naming it."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"{name} must be a 2D (Y, X) label image, got shape {labels.shape}; "
                         "pass one image at a time (e.g. labels[0] for a stack)")
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must hold integer object ids, got dtype {labels.dtype}; "
                         "pass a label image such as labels.astype(np.int32), not probabilities")
    if labels.size and labels.min() < 0:
        raise ValueError(f"{name} has negative id {labels.min()}; object ids must be >= 0 (0 = background)")
    return labels


def check_n_rays(n_rays) -> int:
    """``n_rays`` as an int >= 3, or a ValueError naming the value."""
    if isinstance(n_rays, (bool, np.bool_)) or not isinstance(n_rays, (int, np.integer)) or n_rays < 3:
        raise ValueError(f"n_rays must be an integer >= 3, got {n_rays!r}; StarDist uses 32")
    return int(n_rays)


def ray_angles(n_rays: int = 32) -> np.ndarray:
    """float64 (n_rays,): the ray angles ``2 pi k / n_rays`` in radians."""
    return np.linspace(0, 2 * np.pi, check_n_rays(n_rays), endpoint=False)


@numba.njit(cache=True)
def ray_steps(n_rays):
    """float32 row steps ``sinf(phi_k)`` and column steps ``cosf(phi_k)`` as StarDist's C++
    computes them (``phi_k = float32(float32(2 pi / n_rays) * k)``)."""
    step = np.float32(2 * math.pi / n_rays)
    sins = np.empty(n_rays, np.float32)
    coss = np.empty(n_rays, np.float32)
    for k in range(n_rays):
        phi = np.float32(step * np.float32(k))
        sins[k] = math.sin(phi)
        coss[k] = math.cos(phi)
    return sins, coss


@numba.njit(cache=True)
def _ray_length(labels, i, j, dy, dx, corr):
    """Walk from (i, j) by (dy, dx) until leaving the object; float32 corrected length."""
    height, width = labels.shape
    value = labels[i, j]
    fi = np.float32(i)
    fj = np.float32(j)
    y = np.float32(0.0)
    x = np.float32(0.0)
    while True:
        y += dy
        x += dx
        ii = int(np.rint(fi + y))
        jj = int(np.rint(fj + x))
        if ii < 0 or ii >= height or jj < 0 or jj >= width or labels[ii, jj] != value:
            y += corr * dy
            x += corr * dx
            return np.float32(math.sqrt(y * y + x * x))


@numba.njit(cache=True)
def _ray_setup(n_rays):
    sins, coss = ray_steps(n_rays)
    corr = np.empty(n_rays, np.float32)
    for k in range(n_rays):
        corr[k] = np.float32(0.5) / max(abs(sins[k]), abs(coss[k])) - np.float32(1.0)
    return sins, coss, corr


@numba.njit(cache=True)
def _star_dist_row(labels, i, sins, coss, corr, out):
    for j in range(labels.shape[1]):
        if labels[i, j] == 0:
            for k in range(sins.shape[0]):
                out[i, j, k] = 0.0
        else:
            for k in range(sins.shape[0]):
                out[i, j, k] = _ray_length(labels, i, j, sins[k], coss[k], corr[k])


@numba.njit(cache=True, parallel=True)
def _star_dist_parallel(labels, n_rays, out):
    sins, coss, corr = _ray_setup(n_rays)
    for i in numba.prange(labels.shape[0]):
        _star_dist_row(labels, i, sins, coss, corr, out)


@numba.njit(cache=True)
def _star_dist_serial(labels, n_rays, out):
    sins, coss, corr = _ray_setup(n_rays)
    for i in range(labels.shape[0]):
        _star_dist_row(labels, i, sins, coss, corr, out)


#: below this many pixels star_dist runs on one thread: training patches (64x64) are
#: computed inside the training loop, where numba's thread pool waking up next to the
#: backend's own threads stalled PyTorch training (``kvs bench training``)
PARALLEL_MIN_PIXELS = 128 * 128


def star_dist(labels, n_rays: int = 32, *, parallel: bool | None = None) -> np.ndarray:
    """float32 (Y, X, n_rays): distance from each object pixel to its object's outline.

    Args:
        labels: integer (Y, X) label image, 0 = background, any non-negative ids.
        n_rays: number of equally spaced rays (>= 3).
        parallel: rows on all numba threads; None = only for images of at least
            ``PARALLEL_MIN_PIXELS`` pixels.

    Background pixels get 0.  Pixels outside the image count as background.
    """
    labels = check_labels(labels)
    n_rays = check_n_rays(n_rays)
    out = np.empty(labels.shape + (n_rays,), np.float32)
    if parallel is None:
        parallel = labels.size >= PARALLEL_MIN_PIXELS
    if labels.size:
        kernel = _star_dist_parallel if parallel else _star_dist_serial
        kernel(np.ascontiguousarray(labels, dtype=np.int64), n_rays, out)
    return out


def object_probability(labels) -> np.ndarray:
    """float32 (Y, X): each object's Euclidean distance transform divided by its maximum.

    Background is 0.  Each object's EDT is measured to the nearest pixel that is not the
    object *inside the image* (the border is not background), as StarDist's ``edt_prob``.
    """
    from scipy.ndimage import distance_transform_edt, find_objects

    labels = check_labels(labels)
    prob = np.zeros(labels.shape, np.float32)
    if labels.size == 0 or labels.max() == 0:
        return prob
    if labels.min() == labels.max():  # one object filling the image: assume background around it
        return object_probability(np.pad(labels, 1))[1:-1, 1:-1].copy()
    ids, compact = np.unique(labels, return_inverse=True)
    compact = compact.reshape(labels.shape) + (0 if ids[0] == 0 else 1)  # objects 1..n, background 0
    for index, box in enumerate(find_objects(compact), start=1):
        if box is None:
            continue
        # grow the box by one pixel away from the image border, so the object's own
        # outline (not the image edge) is its background
        grown = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(box, labels.shape))
        inner = tuple(slice(s.start - g.start, s.stop - g.start) for s, g in zip(box, grown))
        mask = compact[grown] == index
        edt = distance_transform_edt(mask)[inner]
        region = mask[inner]
        values = edt[region]
        prob[box][region] = values / (values.max() + 1e-10)
    return prob
