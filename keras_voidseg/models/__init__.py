"""Networks, losses and Noise2Void masking of keras_voidseg.

Importing this package does not import Keras: ``build_unet`` and friends are resolved
lazily, and :mod:`keras_voidseg.models.n2v` is pure numpy.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "build_unet": "keras_voidseg.models.unet",
    "build_from_config": "keras_voidseg.models.unet",
    "check_input_shape": "keras_voidseg.models.unet",
    "transfer_backbone_weights": "keras_voidseg.models.unet",
    "n2v_manipulate": "keras_voidseg.models.n2v",
    "n2v_loss": "keras_voidseg.models.losses",
    "three_class_loss": "keras_voidseg.models.losses",
    "stardist_loss": "keras_voidseg.models.losses",
    "joint_loss": "keras_voidseg.models.losses",
    "predict_fn": "keras_voidseg.models.inference",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keras_voidseg.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
