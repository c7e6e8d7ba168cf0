"""Percentile normalisation (the CSBDeep / StarDist / Noise2Void convention).

Each image is mapped so that its ``pmin``-th percentile becomes 0 and its ``pmax``-th
percentile becomes 1 (defaults 1 and 99.8), without clipping.  Training and prediction
must normalise identically, so a pipeline stores a :class:`PercentileNormalizer`
(``to_dict``/``from_dict``) and applies it again at prediction time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np


def percentile_normalize(
    image: np.ndarray,
    pmin: float = 1.0,
    pmax: float = 99.8,
    *,
    clip: bool = False,
    eps: float = 1e-20,
) -> np.ndarray:
    """``(image - p_lo) / (p_hi - p_lo + eps)`` with percentiles over the whole image.

    Args:
        image: any shape (one image; all its pixels share one pair of percentiles).
        pmin, pmax: percentiles, ``0 <= pmin < pmax <= 100``.
        clip: clip the result to ``[0, 1]``.
        eps: avoids division by zero on constant images (which map to 0).

    Returns:
        float32 array of the same shape.
    """
    _check_percentiles(pmin, pmax)
    image = np.asarray(image, dtype=np.float32)
    if image.size == 0:
        raise ValueError("percentile_normalize: image is empty")
    lo, hi = np.percentile(image, [pmin, pmax])
    out = (image - np.float32(lo)) / np.float32(hi - lo + eps)
    if clip:
        np.clip(out, 0.0, 1.0, out=out)
    return out.astype(np.float32, copy=False)


def _check_percentiles(pmin: float, pmax: float) -> None:
    if not 0.0 <= pmin < pmax <= 100.0:
        raise ValueError(f"percentiles must satisfy 0 <= pmin < pmax <= 100, got pmin={pmin}, pmax={pmax}")


@dataclass(frozen=True)
class PercentileNormalizer:
    """Per-image percentile normalisation settings, recorded in a saved pipeline."""

    pmin: float = 1.0
    pmax: float = 99.8
    clip: bool = False

    def __post_init__(self):
        _check_percentiles(self.pmin, self.pmax)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Normalise one image (float32, same shape)."""
        return percentile_normalize(image, self.pmin, self.pmax, clip=self.clip)

    def to_dict(self) -> dict:
        return {"kind": "percentile", **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PercentileNormalizer":
        data = dict(data)
        kind = data.pop("kind", "percentile")
        if kind != "percentile":
            raise ValueError(f"PercentileNormalizer.from_dict: kind must be 'percentile', got {kind!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"PercentileNormalizer.from_dict: unknown key(s) {unknown}; expected {sorted(known)}"
            )
        return cls(**data)
