"""Data pipeline: synthetic BBBC004-like data, TIFF folders, noise, normalisation,
patches, split and nested subsets, dihedral augmentation, and the Keras ``PatchDataset``.

Importing this package does not import Keras; ``PatchDataset`` is loaded on first use
(``from keras_voidseg.data import PatchDataset`` or ``keras_voidseg.data.datasets``).
"""

from __future__ import annotations

import importlib
from typing import Any

from .augment import batch_dihedral, dihedral, inverse_dihedral, random_dihedral
from .io import load_folder, load_images, read_image, read_labels, validate_labels, write_tiff
from .noise import NOISE_LEVELS, add_gaussian_noise, parse_noise
from .normalize import PercentileNormalizer, percentile_normalize
from .patches import (
    SUBSET_SIZES,
    clipped_subsets,
    extract_patches,
    nested_subsets,
    split_indices,
    subset_indices,
)
from .synthetic import synthesize, synthetic_dataset

_LAZY = {"PatchDataset": "keras_voidseg.data.datasets", "identity_targets": "keras_voidseg.data.datasets"}

__all__ = [
    "NOISE_LEVELS", "SUBSET_SIZES", "PercentileNormalizer", "add_gaussian_noise",
    "batch_dihedral", "clipped_subsets", "dihedral", "extract_patches", "inverse_dihedral",
    "load_folder", "load_images", "nested_subsets", "parse_noise", "percentile_normalize",
    "random_dihedral", "read_image", "read_labels", "split_indices", "subset_indices",
    "synthesize", "synthetic_dataset", "validate_labels", "write_tiff", *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keras_voidseg.data' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
