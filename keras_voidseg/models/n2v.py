"""Noise2Void blind-spot masking (Krull et al., CVPR 2019), done in the data pipeline.

A blind-spot network cannot learn the identity if the pixels it is scored on were hidden
from it.  For every training patch we pick about ``masked_fraction`` of the pixels
(stratified: one random pixel per ``s x s`` box with ``s = round(sqrt(1 / fraction))``,
as N2V does, so they spread evenly over the patch), replace each by the value of a random
*other* pixel in its ``neighborhood x neighborhood`` window, and ask the network to predict
the original value there (masked MSE, see :func:`keras_voidseg.models.losses.n2v_loss`).

Pure numpy and seeded through the caller's ``numpy.random.Generator``: importing this module
never imports Keras.  The work is vectorised over the whole batch (a few hundred masked
pixels per batch), so it costs microseconds next to a training step.
"""

from __future__ import annotations

import math

import numpy as np


def box_size(masked_fraction: float) -> int:
    """Side of the stratification box: one masked pixel per ``box x box`` pixels."""
    if not 0.0 < masked_fraction < 1.0:
        raise ValueError(f"masked_fraction must be in (0, 1), got {masked_fraction}")
    return max(1, int(round(math.sqrt(1.0 / masked_fraction))))


def stratified_coords(batch: int, height: int, width: int, masked_fraction: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masked pixel coordinates ``(b, y, x)`` (int64 arrays of equal length).

    The patch is tiled by boxes of side :func:`box_size`; one uniformly random position is
    drawn in every box and kept if it falls inside the patch (so boxes cut by the border are
    kept in proportion to their area, and the expected fraction is exact).  Every patch gets
    at least one masked pixel: a patch left with none gets one uniform position.
    """
    s = box_size(masked_fraction)
    nby, nbx = -(-height // s), -(-width // s)
    ys = np.arange(nby)[None, :, None] * s + rng.integers(0, s, size=(batch, nby, nbx))
    xs = np.arange(nbx)[None, None, :] * s + rng.integers(0, s, size=(batch, nby, nbx))
    valid = (ys < height) & (xs < width)
    empty = ~valid.any(axis=(1, 2))
    if empty.any():
        n_empty = int(empty.sum())
        ys[empty, 0, 0] = rng.integers(0, height, size=n_empty)
        xs[empty, 0, 0] = rng.integers(0, width, size=n_empty)
        valid[empty, 0, 0] = True
    b = np.broadcast_to(np.arange(batch)[:, None, None], valid.shape)
    return b[valid], ys[valid], xs[valid]


def random_neighbours(ys: np.ndarray, xs: np.ndarray, height: int, width: int,
                      neighborhood: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """For each ``(y, x)`` a uniformly random *other* pixel of its window inside the patch.

    The window is ``neighborhood x neighborhood`` centred on the pixel and truncated by the
    patch border (out-of-patch offsets are redrawn, so border pixels never copy themselves
    as reflecting or clipping could do).
    """
    if neighborhood < 3 or neighborhood % 2 != 1:
        raise ValueError(f"neighborhood must be odd and >= 3, got {neighborhood}")
    if height * width < 2:
        raise ValueError(f"patch of shape {(height, width)} has no neighbour pixels")
    radius = neighborhood // 2
    ny = np.empty_like(ys)
    nx = np.empty_like(xs)
    todo = np.arange(ys.size)
    while todo.size:
        dy = rng.integers(-radius, radius + 1, size=todo.size)
        dx = rng.integers(-radius, radius + 1, size=todo.size)
        cy, cx = ys[todo] + dy, xs[todo] + dx
        ok = ((dy != 0) | (dx != 0)) & (cy >= 0) & (cy < height) & (cx >= 0) & (cx < width)
        ny[todo[ok]] = cy[ok]
        nx[todo[ok]] = cx[ok]
        todo = todo[~ok]
    return ny, nx


def n2v_manipulate(x: np.ndarray, rng: np.random.Generator, masked_fraction: float = 0.002,
                   neighborhood: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Blind-spot manipulation of a batch of single-channel patches.

    Args:
        x: float (B, P, P) (any (B, H, W)) noisy patches.
        rng: the caller's generator (the data pipeline seeds it).
        masked_fraction: share of pixels to mask per patch (N2V: 0.2 %).
        neighborhood: odd side of the window the replacement value comes from.

    Returns:
        ``x_manipulated`` float32 (B, H, W, 1): ``x`` with the masked pixels replaced;
        ``target`` float32 (B, H, W, 2): channel 0 the original ``x``, channel 1 the mask
        (1.0 at masked pixels, else 0.0).  This is the layout ``n2v_loss`` reads.
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must be a batch of 2D patches (B, H, W), got shape {x.shape}")
    x = x.astype(np.float32, copy=False)
    batch, height, width = x.shape
    b, ys, xs = stratified_coords(batch, height, width, masked_fraction, rng)
    ny, nx = random_neighbours(ys, xs, height, width, neighborhood, rng)
    manipulated = x.copy()
    manipulated[b, ys, xs] = x[b, ny, nx]
    mask = np.zeros_like(x)
    mask[b, ys, xs] = 1.0
    return manipulated[..., None], np.stack([x, mask], axis=-1)
