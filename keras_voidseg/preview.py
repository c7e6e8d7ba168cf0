"""Small helpers to look at images and labels: coloured label overlays and titled montages.

Used by ``kvs data synth`` (preview.png), ``kvs predict`` overlays and the demo.  Pure
numpy + scikit-image + Pillow; no deep-learning framework is imported.
"""

from __future__ import annotations

import colorsys
import os
from pathlib import Path
from typing import Sequence

import numpy as np

_GOLDEN = 0.618033988749895


def label_colors(n: int) -> np.ndarray:
    """``(n + 1, 3)`` uint8 colours: row 0 (background) black, then distinct bright colours.

    Hues step by the golden ratio so consecutive ids (often neighbours) differ strongly;
    saturation and value alternate slightly so that hues that come back are still told apart.
    """
    colors = np.zeros((n + 1, 3), np.uint8)
    for i in range(1, n + 1):
        hue = (i * _GOLDEN) % 1.0
        sat = (0.65, 0.85, 1.0)[i % 3]
        val = (1.0, 0.85)[(i // 3) % 2]
        colors[i] = np.round(np.array(colorsys.hsv_to_rgb(hue, sat, val)) * 255)
    return colors


def to_uint8(image: np.ndarray, pmin: float = 1.0, pmax: float = 99.8) -> np.ndarray:
    """Display scaling of a grey image: percentiles ``pmin..pmax`` -> 0..255 (uint8).

    uint8 input is returned unchanged; RGB(A) uint8 ``(H, W, 3|4)`` too (alpha dropped).
    """
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image[..., :3] if image.ndim == 3 else image
    image = image.astype(np.float32)
    lo, hi = np.percentile(image, [pmin, pmax]) if image.size else (0.0, 1.0)
    scaled = (image - lo) / max(float(hi - lo), 1e-12)
    return np.round(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)


def _gray_to_rgb(image: np.ndarray) -> np.ndarray:
    image = to_uint8(image)
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image


def label_overlay(
    image: np.ndarray, labels: np.ndarray, *, alpha: float = 0.35, outline: bool = True
) -> np.ndarray:
    """Overlay instance ``labels`` (int, ``(H, W)``) on a grey ``image`` (``(H, W)``).

    Each id gets its own colour (:func:`label_colors`), blended with weight ``alpha``
    over the object; with ``outline`` the object's inner boundary is drawn fully opaque.

    Returns:
        uint8 RGB ``(H, W, 3)``.
    """
    labels = np.asarray(labels)
    if labels.shape != np.asarray(image).shape[:2]:
        raise ValueError(
            f"label_overlay: labels shape {labels.shape} does not match image shape "
            f"{np.asarray(image).shape[:2]}"
        )
    if labels.size and labels.min() < 0:
        raise ValueError("label_overlay: labels must be non-negative integer ids")
    rgb = _gray_to_rgb(image).astype(np.float32)
    labels = labels.astype(np.int64)
    colors = label_colors(int(labels.max()) if labels.size else 0).astype(np.float32)
    inside = labels > 0
    rgb[inside] = (1.0 - alpha) * rgb[inside] + alpha * colors[labels[inside]]
    if outline:
        from skimage.segmentation import find_boundaries

        edge = find_boundaries(labels, mode="inner") & inside
        rgb[edge] = colors[labels[edge]]
    return np.round(rgb).astype(np.uint8)


def montage(panels: Sequence[tuple[str, np.ndarray]], *, spacing: int = 6) -> np.ndarray:
    """Side-by-side uint8 RGB montage of ``(title, image)`` panels with titles on top.

    Grey panels are display-scaled with :func:`to_uint8`; uint8 RGB panels are used as is.
    Panels of different heights are top-aligned on a dark background.
    """
    from PIL import Image, ImageDraw

    if not panels:
        raise ValueError("montage needs at least one (title, image) panel")
    rgbs = [_gray_to_rgb(np.asarray(img)) for _, img in panels]
    for (title, _), rgb in zip(panels, rgbs):
        if rgb.ndim != 3 or rgb.shape[-1] != 3:
            raise ValueError(f"panel {title!r}: expected (H, W) grey or (H, W, 3) RGB, got {rgb.shape}")
    title_h = 18
    height = max(r.shape[0] for r in rgbs) + title_h
    width = sum(r.shape[1] for r in rgbs) + spacing * (len(rgbs) - 1)
    canvas = np.full((height, width, 3), 24, np.uint8)
    x = 0
    for rgb in rgbs:
        canvas[title_h:title_h + rgb.shape[0], x:x + rgb.shape[1]] = rgb
        x += rgb.shape[1] + spacing
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    x = 0
    for (title, _), rgb in zip(panels, rgbs):
        draw.text((x + 4, 3), str(title), fill=(235, 235, 235))
        x += rgb.shape[1] + spacing
    return np.asarray(picture)


def save_png(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Write a uint8 grey or RGB array as PNG atomically (temp file + ``os.replace``)."""
    from PIL import Image

    from .data.io import atomic_write

    picture = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    return atomic_write(path, lambda tmp: picture.save(tmp, format="PNG"))


def save_montage(path: str | os.PathLike, panels: Sequence[tuple[str, np.ndarray]]) -> Path:
    """Write :func:`montage` of ``panels`` (list of ``(title, grey_or_rgb)``) to ``path`` (PNG)."""
    return save_png(path, montage(panels))
