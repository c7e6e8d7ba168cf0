"""Fast batch predictors (``keras_voidseg.models.inference.predict_fn``) agree with Keras.

Under PyTorch the fast path re-executes the Keras graph natively in torch with batch norm
folded into the convolutions; under TensorFlow it is a traced ``tf.function``.  Both must
give what ``model.predict`` gives, for both heads and with non-trivial batch-norm state.
"""

import numpy as np
import pytest

pytestmark = pytest.mark.keras

keras = pytest.importorskip("keras")

from keras_voidseg.config import BackboneConfig, HeadConfig  # noqa: E402
from keras_voidseg.models.inference import keras_forward, predict_fn  # noqa: E402
from keras_voidseg.models.unet import build_unet  # noqa: E402

from model_helpers import randomise_batch_norm  # noqa: E402


@pytest.mark.parametrize("head", [HeadConfig(kind="voidseg"), HeadConfig(kind="stardist", n_rays=8)])
@pytest.mark.parametrize("depth", [1, 2])
def test_fast_path_matches_model_predict(head, depth):
    # seeded: an unseeded initialisation sometimes gave near-constant outputs (std 0.006),
    # which the non-triviality check below rightly refused
    keras.utils.set_random_seed(10 + depth)
    model = build_unet(BackboneConfig(depth=depth, base_filters=4), head)
    randomise_batch_norm(model, seed=depth)
    x = np.random.default_rng(1).normal(size=(3, 32, 48, 1)).astype("float32")
    expected = model.predict(x, verbose=0)
    assert expected.std() > 1e-2
    fast = predict_fn(model)
    np.testing.assert_allclose(fast(x), expected, atol=1e-4, rtol=1e-4)
    # a second call with another shape reuses the same predictor
    y = x[:1, :16, :32]
    np.testing.assert_allclose(fast(y), model.predict(y, verbose=0), atol=1e-4, rtol=1e-4)


def test_generic_path_and_environment_switch(monkeypatch):
    model = build_unet(BackboneConfig(depth=1, base_filters=4), HeadConfig())
    x = np.random.default_rng(2).normal(size=(1, 16, 16, 1)).astype("float32")
    monkeypatch.setenv("KVS_FAST_INFERENCE", "0")
    slow = predict_fn(model)
    np.testing.assert_allclose(slow(x), keras_forward(model)(x), atol=1e-6)
    np.testing.assert_allclose(slow(x), model.predict(x, verbose=0), atol=1e-5)


def test_unsupported_layer_falls_back_with_a_warning():
    inputs = keras.Input((None, None, 1))
    outputs = keras.layers.Conv2D(2, 3, padding="same", strides=1, dilation_rate=2)(inputs)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(3).normal(size=(1, 16, 16, 1)).astype("float32")
    if keras.backend.backend() == "torch":  # the torch path knows only the U-Net's layers
        with pytest.warns(UserWarning, match="fast"):
            fn = predict_fn(model, fast=True)
    else:  # tf.function traces any layer
        fn = predict_fn(model, fast=True)
    np.testing.assert_allclose(fn(x), model.predict(x, verbose=0), atol=1e-5)
