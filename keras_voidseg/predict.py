"""Tiled prediction: any image size, bounded memory, results that match untiled prediction.

A fully convolutional U-Net can predict a whole image at once, but memory grows with the
image.  Here the image is cut into ``n_tiles`` pieces ("cores"); each core is predicted with
``context`` pixels of surrounding image on every side (so every output pixel sees the same
neighbourhood it would see untiled, up to the network's receptive field), and only the core
is written into the output.  Tile boundaries are aligned to the network's size divisor
(``2**depth``) so pooling grids line up with the untiled prediction.

This module is numpy-only: the network enters as ``predict_batch``, a callable mapping a
float32 batch ``(B, h, w, C)`` to ``(B, h, w, K)``.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

PredictBatch = Callable[[np.ndarray], np.ndarray]

#: default pixel budget of one tile (core + context); 1024*1024 keeps a depth-3, 32-filter
#: U-Net well below 2 GiB of activations on the CPU.
DEFAULT_MAX_TILE_PIXELS = 1024 * 1024


def _round_up(value: int, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def auto_n_tiles(shape: Sequence[int], max_tile_pixels: int = DEFAULT_MAX_TILE_PIXELS,
                 context: int = 0) -> tuple[int, int]:
    """Smallest tile grid whose tiles (core + context) hold at most ``max_tile_pixels``.

    Splits the longer axis first, so tiles stay roughly square.
    """
    if max_tile_pixels < 1:
        raise ValueError(f"max_tile_pixels must be positive, got {max_tile_pixels}")
    height, width = int(shape[0]), int(shape[1])
    tiles = [1, 1]
    while True:
        tile_h = math.ceil(height / tiles[0]) + 2 * context * (tiles[0] > 1)
        tile_w = math.ceil(width / tiles[1]) + 2 * context * (tiles[1] > 1)
        if tile_h * tile_w <= max_tile_pixels or (tiles[0] >= height and tiles[1] >= width):
            return tiles[0], tiles[1]
        axis = 0 if tile_h >= tile_w else 1
        tiles[axis] += 1


def _axis_cores(length: int, n: int, divisor: int) -> list[tuple[int, int]]:
    """Split ``[0, length)`` into ``n`` cores whose inner boundaries are multiples of ``divisor``."""
    units = length // divisor
    n = max(1, min(n, units))
    edges = [round(i * units / n) * divisor for i in range(n)] + [length]
    return [(edges[i], edges[i + 1]) for i in range(n) if edges[i + 1] > edges[i]]


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(
            f"image must be 2D (Y, X) or 3D (Y, X, C), got shape {image.shape}; "
            "for a stack, call predict once per plane"
        )
    if not np.issubdtype(image.dtype, np.number):
        raise ValueError(f"image must be numeric, got dtype {image.dtype}")
    return image.astype(np.float32, copy=False)


def predict_tiled(
    predict_batch: PredictBatch,
    image: np.ndarray,
    *,
    divisor: int,
    n_tiles: Sequence[int] | int | None = None,
    context: int = 32,
    max_tile_pixels: int = DEFAULT_MAX_TILE_PIXELS,
) -> np.ndarray:
    """Predict ``image`` tile by tile and stitch the result.

    Args:
        predict_batch: network callable, float32 ``(B, h, w, C)`` -> ``(B, h, w, K)``.
        image: ``(H, W)`` or ``(H, W, C)``; any size (reflect-padded to ``divisor``).
        divisor: spatial sizes the network accepts are multiples of this (``2**depth``).
        n_tiles: ``(ny, nx)`` tiles, an int for both axes, or None to choose from
            ``max_tile_pixels``.  ``(1, 1)`` predicts the whole image at once.
        context: pixels of image context around every core (rounded up to ``divisor``).

    Returns:
        float32 ``(H, W, K)``.
    """
    image = _check_image(image)
    if divisor < 1:
        raise ValueError(f"divisor must be positive, got {divisor}")
    if context < 0:
        raise ValueError(f"context must be >= 0, got {context}")
    height, width = image.shape[:2]
    padded_shape = (_round_up(height, divisor), _round_up(width, divisor))
    pad = [(0, padded_shape[0] - height), (0, padded_shape[1] - width), (0, 0)]
    mode = "reflect" if min(height, width) > 1 else "edge"
    padded = np.pad(image, pad, mode=mode)
    context = _round_up(context, divisor)

    if n_tiles is None:
        n_tiles = auto_n_tiles(padded_shape, max_tile_pixels, context)
    elif isinstance(n_tiles, int):
        n_tiles = (n_tiles, n_tiles)
    if len(n_tiles) != 2 or min(n_tiles) < 1:
        raise ValueError(f"n_tiles must be two positive integers (ny, nx), got {n_tiles}")

    output = None
    for y0, y1 in _axis_cores(padded_shape[0], n_tiles[0], divisor):
        for x0, x1 in _axis_cores(padded_shape[1], n_tiles[1], divisor):
            ty0, ty1 = max(0, y0 - context), min(padded_shape[0], y1 + context)
            tx0, tx1 = max(0, x0 - context), min(padded_shape[1], x1 + context)
            tile = padded[ty0:ty1, tx0:tx1][None]
            result = np.asarray(predict_batch(tile))[0]
            if result.shape[:2] != tile.shape[1:3]:
                raise ValueError(
                    f"predict_batch changed the spatial size {tile.shape[1:3]} -> "
                    f"{result.shape[:2]}; tiled prediction needs a same-size output"
                )
            if output is None:
                output = np.empty(padded_shape + result.shape[2:], dtype=np.float32)
            output[y0:y1, x0:x1] = result[y0 - ty0:y1 - ty0, x0 - tx0:x1 - tx0]
    return output[:height, :width]
