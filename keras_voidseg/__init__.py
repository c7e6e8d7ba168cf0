"""keras_voidseg: VoidSeg (Prakash et al., ISBI 2020) as a Keras 3 backend-agnostic model zoo.

Importing this package is cheap: it never imports TensorFlow, PyTorch or Keras.  The
public names below are resolved lazily on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (imported on first attribute access)
_LAZY = {
    "load_pretrained": "keras_voidseg.hub",
    "list_pretrained": "keras_voidseg.hub",
    "Pipeline": "keras_voidseg.pipeline",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keras_voidseg' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
