"""Synthetic noise, exactly as in the VoidSeg experiments.

The paper adds pixel-wise independent, zero-mean Gaussian noise to the raw intensities of
both training and test images: standard deviation 10, 20, 40 for DSB2018 ("n10", "n20",
"n40") and 150, 200 for the 8-bit BBBC004 images ("n150", "n200").  Noisy values are not
clipped (they leave the 0..255 range), as in the paper's data preparation.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

#: the paper's noise levels (Gaussian standard deviation, raw intensity units)
NOISE_LEVELS: dict[str, tuple[int, ...]] = {"dsb": (10, 20, 40), "bbbc004": (150, 200)}


def parse_noise(level: str | float | int) -> float:
    """``"n150"`` / ``"150"`` / ``150`` -> ``150.0``; ``"n0"`` and ``"clean"`` -> ``0.0``."""
    if isinstance(level, (int, float)) and not isinstance(level, bool):
        sigma = float(level)
    else:
        text = str(level).strip().lower()
        if text in ("clean", "none"):
            return 0.0
        match = re.fullmatch(r"n?(\d+(?:\.\d*)?)", text)
        if match is None:
            raise ValueError(
                f"noise level {level!r} not understood; use e.g. 'n150', '150' or 'clean'"
            )
        sigma = float(match.group(1))
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"noise sigma must be a finite number >= 0, got {level!r}")
    return sigma


def add_gaussian_noise(
    images: np.ndarray | Sequence[np.ndarray], sigma: float | str, seed: int = 0
) -> np.ndarray | list[np.ndarray]:
    """Add zero-mean Gaussian noise of standard deviation ``sigma`` (raw units) to images.

    Args:
        images: one array (any shape, e.g. ``(Y, X)`` or ``(N, Y, X)``) or a list of
            arrays (images of different sizes).
        sigma: standard deviation, or a level name such as ``"n200"`` (:func:`parse_noise`).
        seed: noise seed; a list gets its noise drawn in list order from one generator, so
            the same images and seed always give the same noisy images.

    Returns:
        float32 noisy image(s), same structure as ``images``.
    """
    sigma = parse_noise(sigma)
    rng = np.random.default_rng(seed)

    def noisy(image):
        image = np.asarray(image, dtype=np.float32)
        if sigma == 0:
            return image.copy()
        noise = rng.standard_normal(image.shape, dtype=np.float32)
        return image + np.float32(sigma) * noise

    if isinstance(images, np.ndarray):
        return noisy(images)
    return [noisy(image) for image in images]
