"""Helpers shared by the Keras model tests."""

import numpy as np


def randomise_batch_norm(model, seed=0):
    """Give every batch norm layer random (but sane) statistics and affine parameters, so
    that weight transfers and fast inference paths are tested on non-trivial state."""
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n),
                               rng.normal(0, 0.05, n), rng.uniform(0.5, 2.0, n)])
