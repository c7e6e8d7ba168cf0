"""Tiled prediction stitches exactly what untiled prediction gives (for a bounded receptive field)."""

import numpy as np
import pytest
from scipy import ndimage

from keras_voidseg.predict import auto_n_tiles, predict_tiled


def local_network(radius: int, divisor: int):
    """A stand-in 'network' with receptive field radius ``radius`` and zero padding."""

    def predict_batch(batch):
        assert batch.shape[1] % divisor == 0 and batch.shape[2] % divisor == 0
        size = 2 * radius + 1
        mean = ndimage.uniform_filter(batch[0, ..., 0], size=size, mode="constant")
        peak = ndimage.maximum_filter(batch[0, ..., 0], size=size, mode="constant")
        return np.stack([mean, peak], axis=-1)[None].astype(np.float32)

    return predict_batch


@pytest.mark.parametrize("shape", [(100, 77), (64, 64), (33, 130)])
@pytest.mark.parametrize("n_tiles", [(2, 3), (3, 1), 4])
def test_tiled_equals_untiled_when_context_covers_receptive_field(shape, n_tiles):
    rng = np.random.default_rng(0)
    image = rng.normal(size=shape).astype(np.float32)
    net = local_network(radius=5, divisor=8)
    whole = predict_tiled(net, image, divisor=8, n_tiles=(1, 1))
    tiled = predict_tiled(net, image, divisor=8, n_tiles=n_tiles, context=8)
    assert whole.shape == shape + (2,)
    np.testing.assert_array_equal(tiled, whole)


def test_too_little_context_is_visible():
    """The test above can fail: without context, tile seams differ from untiled output."""
    image = np.random.default_rng(1).normal(size=(64, 64)).astype(np.float32)
    net = local_network(radius=5, divisor=8)
    whole = predict_tiled(net, image, divisor=8, n_tiles=1)
    tiled = predict_tiled(net, image, divisor=8, n_tiles=2, context=0)
    assert not np.array_equal(tiled, whole)


def test_auto_n_tiles_respects_pixel_budget():
    ny, nx = auto_n_tiles((2048, 1024), max_tile_pixels=512 * 512, context=32)
    assert (2048 / ny + 64) * (1024 / nx + 64) <= 512 * 512
    assert auto_n_tiles((100, 100), max_tile_pixels=10**6) == (1, 1)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(image=np.zeros((2, 8, 8, 1))), "2D (Y, X) or 3D (Y, X, C)"),
        (dict(image=np.zeros((8, 8)), n_tiles=(0, 1)), "n_tiles"),
        (dict(image=np.zeros((8, 8)), context=-1), "context"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        predict_tiled(local_network(1, 4), divisor=4, **kwargs)
