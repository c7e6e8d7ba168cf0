"""StarDist training targets: radial distances (``star_dist``) and object probabilities.

``star_dist(labels, n_rays)`` walks from every object pixel along ``n_rays`` equally spaced
directions (angle ``2 pi k / n_rays``, row step ``sin``, column step ``cos``) one unit at a
time until the rounded position leaves the image or the pixel's object, then steps back by
the overshoot correction ``1 - 0.5 / max(|sin|, |cos|)`` units.  This is exactly the rule of
StarDist's C++ ``star_dist`` (float32 arithmetic, round-half-to-even), so the results agree
with ``stardist.geometry.star_dist(..., mode="cpp")`` to float32 rounding; unlike StarDist
(which casts labels to uint16) any integer ids work.  Rows run in parallel (numba prange).

``object_probability(labels)``: per object, the Euclidean distance transform normalised
by its maximum (StarDist's ``edt_prob``); the image border does not count as background, so
an object cut by the border keeps high probability there.
"""

from __future__ import annotations

import numba
import numpy as np

from keras_voidseg.postprocess import check_labels


def check_n_rays(n_rays) -> int:
    if int(n_rays) != n_rays or n_rays < 3:
        raise ValueError(f"n_rays must be an integer >= 3, got {n_rays!r} (StarDist uses 32)")
    return int(n_rays)


def ray_angles(n_rays: int = 32) -> np.ndarray:
    """The ray directions in radians, ``2 pi k / n_rays`` (float64)."""
    return np.linspace(0, 2 * np.pi, check_n_rays(n_rays), endpoint=False)


@numba.njit(cache=True, parallel=True)
def _star_dist(labels, n_rays, out):
    height, width = labels.shape
    step = np.float32(2 * np.pi / n_rays)
    dys = np.empty(n_rays, np.float32)
    dxs = np.empty(n_rays, np.float32)
    corr = np.empty(n_rays, np.float32)
    for k in range(n_rays):
        phi = np.float32(np.float32(k) * step)
        dys[k] = np.float32(np.sin(phi))
        dxs[k] = np.float32(np.cos(phi))
        corr[k] = np.float32(0.5) / max(abs(dys[k]), abs(dxs[k])) - np.float32(1.0)
    for i in numba.prange(height):
        fi = np.float32(i)
        for j in range(width):
            value = labels[i, j]
            if value == 0:
                for k in range(n_rays):
                    out[i, j, k] = 0.0
                continue
            fj = np.float32(j)
            for k in range(n_rays):
                dy, dx = dys[k], dxs[k]
                y = np.float32(0.0)
                x = np.float32(0.0)
                while True:
                    y += dy
                    x += dx
                    ii = int(np.rint(fi + y))
                    jj = int(np.rint(fj + x))
                    if ii < 0 or ii >= height or jj < 0 or jj >= width or labels[ii, jj] != value:
                        y += corr[k] * dy
                        x += corr[k] * dx
                        out[i, j, k] = np.sqrt(y * y + x * x)
                        break


def star_dist(labels, n_rays: int = 32) -> np.ndarray:
    """float32 (Y, X, n_rays): distance from each object pixel to its object's boundary."""
    labels = check_labels(labels)
    n_rays = check_n_rays(n_rays)
    out = np.empty(labels.shape + (n_rays,), np.float32)
    _star_dist(np.ascontiguousarray(labels, dtype=np.int64), n_rays, out)
    return out


def object_probability(labels) -> np.ndarray:
    """float32 (Y, X): each object's distance transform divided by its maximum (bg 0)."""
    from scipy.ndimage import distance_transform_edt, find_objects

    labels = check_labels(labels)
    prob = np.zeros(labels.shape, np.float32)
    if labels.size == 0 or labels.max() == 0:
        return prob
    if labels.min() > 0 and labels.min() == labels.max():  # one object filling the image
        return object_probability(np.pad(labels, 1))[1:-1, 1:-1]
    from keras_voidseg.metrics import _consecutive

    flat, _ = _consecutive(labels)
    compact = flat.reshape(labels.shape)
    for index, box in enumerate(find_objects(compact), start=1):
        if box is None:
            continue
        # grow the box by one pixel on sides away from the image border, so that the
        # object's own outline (not the image edge) is its background
        grown = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(box, labels.shape))
        inner = tuple(slice(s.start - g.start, s.start - g.start + (s.stop - s.start)) for s, g in zip(box, grown))
        mask = compact[grown] == index
        edt = distance_transform_edt(mask)[inner]
        region = mask[inner]
        values = edt[region]
        prob[box][region] = values / (values.max() + 1e-10)
    return prob
