"""A BBBC004-like generator of fluorescence nuclei images with exact instance labels.

BBBC004 (Broad Bioimage Benchmark Collection) holds SIMCEP-simulated fluorescence nuclei:
950 x 950 8-bit images with about 300 nuclei each, generated with overlap probability 0.
This module draws images in the same spirit, so that every part of the project (training,
metrics, the demo) can run offline on data that looks like the paper's:

* **shapes**: ellipses (random size, aspect ratio and orientation) whose radius is
  modulated by random low-frequency radial harmonics (k = 2..5), so nuclei are
  star-convex blobs with varied, irregular outlines, not plain disks;
* **placement**: rejection sampling; a nucleus is only accepted if it keeps a gap of at
  least ``gap`` pixels from every nucleus already placed (no overlap, no touching), and a
  nucleus cut by the image border keeps at least a quarter of its area;
* **labels**: int32, ids ``1..N`` contiguous in placement order, each id one 4-connected
  object without holes, background 0;
* **intensities**: raw 8-bit-like values (float32 in roughly 0..255): a dim, slowly
  varying background, a per-nucleus brightness, a centre-bright radial profile,
  multiplicative chromatin-like texture at two scales, a faint out-of-focus glow and an
  optical blur.  The clean image carries no noise: the paper's noise levels (Gaussian
  sigma 150 / 200 in raw intensity units for BBBC004) are added by
  :func:`keras_voidseg.data.noise.add_gaussian_noise`.

Generation is deterministic for a seed and takes about a tenth of a second for a
950 x 950 image (numpy work on each nucleus's bounding box plus a few whole-image filters).
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
from scipy import ndimage

#: BBBC004 image side and nuclei per image; the default density scales with image area.
BBBC004_SIZE = 950
BBBC004_NUCLEI = 300

_DISK_CACHE: dict[int, np.ndarray] = {}


def _disk(radius: int) -> np.ndarray:
    """Boolean disk structuring element of the given pixel radius."""
    if radius not in _DISK_CACHE:
        yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
        _DISK_CACHE[radius] = (yy * yy + xx * xx) <= radius * radius
    return _DISK_CACHE[radius]


def _as_shape(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        shape = (int(size), int(size))
    else:
        shape = tuple(int(s) for s in size)
    if len(shape) != 2 or min(shape) < 8:
        raise ValueError(f"size must be an int or (height, width), each >= 8, got {size!r}")
    return shape


def default_n_nuclei(shape: tuple[int, int]) -> int:
    """BBBC004 density (300 nuclei per 950 x 950 pixels) scaled to ``shape``, at least 1."""
    area_ratio = shape[0] * shape[1] / (BBBC004_SIZE * BBBC004_SIZE)
    return max(1, int(round(BBBC004_NUCLEI * area_ratio)))


def _nucleus_shape(rng: np.random.Generator, radius: float):
    """Draw one nucleus outline.

    Returns ``(r_of, r_max)``: ``r_of(cos_t, sin_t)`` gives the outline radius in the
    direction ``theta`` (passed as its cosine and sine, so no ``arctan2`` is needed), and
    ``r_max`` bounds it.
    """
    mean_r = float(np.clip(rng.normal(radius, 0.15 * radius), 0.55 * radius, 1.6 * radius))
    aspect = rng.uniform(1.0, 1.6)
    a, b = mean_r * math.sqrt(aspect), mean_r / math.sqrt(aspect)
    orientation = rng.uniform(0.0, math.pi)
    orders = range(2, 6)
    amplitudes = rng.uniform(0.0, 0.10, size=4) / np.sqrt(np.arange(1, 5))
    phases = rng.uniform(0.0, 2 * math.pi, size=4)
    # a_k cos(k theta + phi_k) = Re(a_k e^{i phi_k} z^k) with z = e^{i theta}
    coefficients = amplitudes * np.exp(1j * phases)
    co, so = math.cos(orientation), math.sin(orientation)

    def r_of(cos_t: np.ndarray, sin_t: np.ndarray) -> np.ndarray:
        along = cos_t * co + sin_t * so  # cos(theta - orientation)
        across = sin_t * co - cos_t * so  # sin(theta - orientation)
        ellipse = a * b / np.sqrt((b * along) ** 2 + (a * across) ** 2)
        z = cos_t + 1j * sin_t
        power = z * z
        wobble = np.ones_like(cos_t)
        for k, coefficient in zip(orders, coefficients):
            wobble += (coefficient * power).real
            if k < 5:
                power = power * z
        return ellipse * np.maximum(wobble, 0.5)

    r_max = a * (1.0 + amplitudes.sum())
    return r_of, r_max


def _place_nuclei(rng, shape, n_nuclei, radius, gap, max_attempts):
    """Rejection-sample non-touching nuclei.

    Returns ``labels`` (int32, ids 1..N) and ``profile`` (float32: each nucleus's relative
    radial position ``rho / r(theta)`` in 0..1 inside it, used for the intensity profile).
    """
    height, width = shape
    labels = np.zeros(shape, np.int32)
    blocked = np.zeros(shape, bool)  # nuclei dilated by `gap`: new nuclei may not touch it
    profile = np.zeros(shape, np.float32)
    structure = _disk(gap) if gap > 0 else None
    placed = attempts = 0
    while placed < n_nuclei and attempts < max_attempts:
        attempts += 1
        r_of, r_max = _nucleus_shape(rng, radius)
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        if blocked[int(cy), int(cx)]:
            continue
        half = int(math.ceil(r_max)) + 1
        y0, y1 = max(0, int(cy) - half), min(height, int(cy) + half + 1)
        x0, x1 = max(0, int(cx) - half), min(width, int(cx) + half + 1)
        dy = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - cy
        dx = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - cx
        rho = np.maximum(np.hypot(dy, dx), 1e-6)
        rel = rho / r_of(dx / rho, dy / rho)
        mask = rel <= 1.0
        full_area = math.pi * r_max * r_max * 0.5
        if mask.sum() < max(12.0, 0.25 * full_area) or blocked[y0:y1, x0:x1][mask].any():
            continue
        # one 4-connected object without holes (pixelised star shapes can shed slivers)
        parts, n_parts = ndimage.label(mask)
        if n_parts > 1:
            sizes = np.bincount(parts.ravel())[1:]
            mask = parts == (1 + int(np.argmax(sizes)))
        mask = ndimage.binary_fill_holes(mask)
        placed += 1
        labels[y0:y1, x0:x1][mask] = placed
        profile[y0:y1, x0:x1][mask] = np.minimum(rel[mask], 1.0)
        if structure is not None:
            grown = ndimage.binary_dilation(np.pad(mask, gap), structure=structure)
            gy0, gx0 = y0 - gap, x0 - gap
            sy0, sx0 = max(0, gy0), max(0, gx0)
            sy1, sx1 = min(height, y1 + gap), min(width, x1 + gap)
            blocked[sy0:sy1, sx0:sx1] |= grown[sy0 - gy0:sy1 - gy0, sx0 - gx0:sx1 - gx0]
        else:
            blocked[y0:y1, x0:x1] |= mask
    return labels, profile, placed


def _smooth_noise(rng: np.random.Generator, shape, sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise rescaled to unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    return field / max(float(field.std()), 1e-6)


def _render(rng, labels, profile, n):
    """Clean float32 intensities (8-bit-like range) for the given label image."""
    shape = labels.shape
    # per-nucleus brightness (index 0 = background stays 0)
    brightness = np.zeros(n + 1, np.float32)
    brightness[1:] = 125.0 * np.exp(rng.normal(0.0, 0.18, size=n))
    # centre-bright radial profile and two-scale chromatin texture
    radial = 1.0 - 0.35 * profile**2
    texture = 1.0 + 0.10 * _smooth_noise(rng, shape, 1.0) + 0.12 * _smooth_noise(rng, shape, 3.0)
    nuclei = brightness[labels] * radial * np.clip(texture, 0.3, None)
    # dim background with a slow gradient, plus out-of-focus glow around nuclei
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (np.cos(angle) * yy + np.sin(angle) * xx) / max(shape)
    background = rng.uniform(8.0, 16.0) + rng.uniform(2.0, 6.0) * ramp
    glow = 0.10 * ndimage.gaussian_filter(nuclei, 6.0)
    image = ndimage.gaussian_filter(nuclei, 1.0) + glow + background
    return np.clip(image, 0.0, 255.0).astype(np.float32)


def synthesize(
    size: int | Sequence[int] = BBBC004_SIZE,
    n_nuclei: int | None = None,
    seed: int | Sequence[int] = 0,
    *,
    radius: float = 13.0,
    gap: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one BBBC004-like image and its instance labels.

    Args:
        size: image side, or ``(height, width)``; BBBC004 is 950.
        n_nuclei: nuclei to place; None = BBBC004 density (300 per 950 x 950), scaled to
            the image area.  If they do not fit (too dense), fewer are placed and a
            ``UserWarning`` says how many.
        seed: int (or a sequence of ints, as for ``np.random.default_rng``); same seed,
            same image.
        radius: mean nucleus radius in pixels (BBBC004-like: about 13).
        gap: minimal background gap in pixels between two nuclei (0 allows touching;
            nuclei never overlap).

    Returns:
        ``(image, labels)``: float32 ``(H, W)`` clean intensities in 0..255 (8-bit-like,
        not rounded), and int32 ``(H, W)`` labels with ids ``1..N``.
    """
    shape = _as_shape(size)
    if n_nuclei is None:
        n_nuclei = default_n_nuclei(shape)
    if n_nuclei < 0:
        raise ValueError(f"n_nuclei must be >= 0, got {n_nuclei}")
    if radius < 2:
        raise ValueError(f"radius must be >= 2 pixels, got {radius}")
    if gap < 0:
        raise ValueError(f"gap must be >= 0 pixels, got {gap}")
    rng = np.random.default_rng(seed)
    labels, profile, placed = _place_nuclei(
        rng, shape, int(n_nuclei), float(radius), int(gap), max_attempts=50 * int(n_nuclei) + 50
    )
    if placed < n_nuclei:
        warnings.warn(
            f"synthesize: only {placed} of {n_nuclei} nuclei fit in a {shape} image "
            f"(radius {radius}, gap {gap}); pass a smaller n_nuclei or a larger size",
            stacklevel=2,
        )
    image = _render(rng, labels, profile, placed)
    return image, labels


def synthetic_dataset(
    n_images: int,
    size: int | Sequence[int] = BBBC004_SIZE,
    seed: int = 0,
    **kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_images`` images; image ``i`` is ``synthesize(size, seed=(seed, i), **kwargs)``.

    So the first images of a data set do not depend on how many are drawn.

    Returns:
        ``(images, labels)``: float32 ``(N, H, W)`` and int32 ``(N, H, W)``.
    """
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")
    pairs = [synthesize(size, seed=(int(seed), i), **kwargs) for i in range(n_images)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
