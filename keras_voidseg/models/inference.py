"""``predict_fn(model)``: the fastest available batch predictor for a trained network.

The tiled predictor (:mod:`keras_voidseg.predict`) calls the network many times on numpy
batches.  ``predict_fn`` returns a callable ``float32 (B, H, W, C) -> float32 (B, H, W, K)``:

* PyTorch backend: the Keras graph executed natively in torch (batch norm folded into the
  convolutions, no per-layer layout copies; 2-4x faster than ``model.predict`` on CPU);
* TensorFlow backend: the model traced once in a ``tf.function``;
* otherwise, or if the fast path cannot handle a layer: ``model(x, training=False)``.

The fast paths live in :mod:`keras_voidseg._backend_speed` (the only backend-specific code)
and are checked against ``model.predict`` in the tests.  Set the environment variable
``KVS_FAST_INFERENCE=0`` to force the generic Keras path.  The returned callable snapshots
the weights when it is made: make it again after changing the model's weights.
"""

from __future__ import annotations

import os
import warnings
from typing import Callable

import keras
import numpy as np

PredictBatch = Callable[[np.ndarray], np.ndarray]


def keras_forward(model: keras.Model) -> PredictBatch:
    """The generic (any backend) path: ``model(x, training=False)`` as numpy."""

    def forward(batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, dtype=np.float32)
        return np.asarray(keras.ops.convert_to_numpy(model(batch, training=False)))

    return forward


def predict_fn(model: keras.Model, *, fast: bool | None = None) -> PredictBatch:
    """Return a numpy batch predictor for ``model`` (see module docstring).

    Args:
        model: a functional Keras model (e.g. from ``build_unet``).
        fast: use the backend-specific fast path; default True unless the environment
            variable ``KVS_FAST_INFERENCE`` is ``0``.
    """
    if fast is None:
        fast = os.environ.get("KVS_FAST_INFERENCE", "1") != "0"
    backend = keras.backend.backend()
    if fast and backend in ("torch", "tensorflow"):
        from keras_voidseg import _backend_speed

        make = _backend_speed.torch_forward if backend == "torch" else _backend_speed.tensorflow_forward
        try:
            return make(model)
        except NotImplementedError as err:
            warnings.warn(f"fast {backend} inference unavailable ({err}); using model(x)",
                          stacklevel=2)
    return keras_forward(model)
