"""Noise2Void blind-spot masking: statistics and invariants (pure numpy, no Keras)."""

import subprocess
import sys
import time

import numpy as np
import pytest

from keras_voidseg.models.n2v import box_size, n2v_manipulate


def _random_batch(shape, seed=0):
    # distinct values everywhere, so "copied from pixel p" is identifiable by value
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return rng.permutation(n).reshape(shape).astype(np.float32)


@pytest.mark.parametrize("size,fraction,neighborhood", [(64, 0.002, 5), (32, 0.01, 3), (16, 0.002, 5),
                                                        (24, 0.05, 7)])
def test_masked_pixels_are_replaced_by_an_other_pixel_of_their_window(size, fraction, neighborhood):
    x = _random_batch((6, size, size))
    xm, target = n2v_manipulate(x, np.random.default_rng(1), fraction, neighborhood)
    assert xm.shape == (6, size, size, 1) and target.shape == (6, size, size, 2)
    assert xm.dtype == np.float32 and target.dtype == np.float32
    np.testing.assert_array_equal(target[..., 0], x)
    mask = target[..., 1]
    assert set(np.unique(mask)) <= {0.0, 1.0}
    changed = xm[..., 0] != x
    # values are all distinct, so a masked pixel always changes and nothing else does
    np.testing.assert_array_equal(changed, mask == 1)
    radius = neighborhood // 2
    for b, y, xx in zip(*np.nonzero(mask)):
        src = np.argwhere(x[b] == xm[b, y, xx, 0])
        assert len(src) == 1
        sy, sx = src[0]
        assert (sy, sx) != (y, xx)
        assert abs(sy - y) <= radius and abs(sx - xx) <= radius


def test_every_patch_has_at_least_one_masked_pixel():
    x = _random_batch((50, 8, 8))
    _, target = n2v_manipulate(x, np.random.default_rng(2), 0.002, 5)
    assert (target[..., 1].sum(axis=(1, 2)) >= 1).all()


def test_masked_fraction_and_stratification():
    size, fraction = 128, 0.002
    x = np.zeros((200, size, size), np.float32)
    _, target = n2v_manipulate(x, np.random.default_rng(3), fraction, 5)
    mask = target[..., 1]
    s = box_size(fraction)
    assert s == 22
    # expected count per patch = area / s**2 (boxes cut by the border kept by area)
    expected = size * size / s**2
    assert abs(mask.sum(axis=(1, 2)).mean() - expected) < 0.05 * expected
    # stratified: never two masked pixels in one box
    nb = -(-size // s)
    padded = np.zeros((200, nb * s, nb * s))
    padded[:, :size, :size] = mask
    per_box = padded.reshape(200, nb, s, nb, s).sum(axis=(2, 4))
    assert per_box.max() == 1
    # and spread over the whole patch, not clustered at box corners
    ys, xs = np.nonzero(mask.sum(axis=0))[0], np.nonzero(mask.sum(axis=1))[1]
    assert ys.min() < 3 and ys.max() > size - 4 and xs.min() < 3 and xs.max() > size - 4


def test_border_pixels_pick_neighbours_uniformly_inside_the_patch():
    # a 3x3 patch with a 5x5 window: corner pixel (0,0) has 3 in-patch neighbours
    rng = np.random.default_rng(4)
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3)
    sources = []
    for _ in range(600):
        xm, target = n2v_manipulate(x, rng, 0.5, 5)  # box 1 -> every pixel masked
        assert target[..., 1].all()
        sources.append(xm[0, 0, 0, 0])
    values, counts = np.unique(sources, return_counts=True)
    # the 8 other pixels of the 3x3 patch are all within the 5x5 window of (0,0)
    np.testing.assert_array_equal(values, [1, 2, 3, 4, 5, 6, 7, 8])
    assert counts.min() > 600 / 8 * 0.6


def test_seeded_and_reproducible():
    x = _random_batch((4, 32, 32))
    a = n2v_manipulate(x, np.random.default_rng(7))
    b = n2v_manipulate(x, np.random.default_rng(7))
    c = n2v_manipulate(x, np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_bad_arguments_raise_clear_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="B, H, W"):
        n2v_manipulate(np.zeros((8, 8)), rng)
    with pytest.raises(ValueError, match="masked_fraction"):
        n2v_manipulate(np.zeros((1, 8, 8)), rng, masked_fraction=0.0)
    with pytest.raises(ValueError, match="neighborhood"):
        n2v_manipulate(np.zeros((1, 8, 8)), rng, neighborhood=4)


def test_fast_enough_for_a_paper_batch():
    # paper batch: 128 patches of 128x128; must be far below a training step (~seconds)
    x = np.random.default_rng(0).random((128, 128, 128), dtype=np.float32)
    rng = np.random.default_rng(0)
    n2v_manipulate(x, rng)
    start = time.perf_counter()
    for _ in range(5):
        n2v_manipulate(x, rng)
    assert (time.perf_counter() - start) / 5 < 0.1


def test_importing_n2v_does_not_import_keras():
    code = ("import sys, keras_voidseg.models.n2v, keras_voidseg.models.targets, "
            "keras_voidseg.models; "
            "bad = [m for m in ('keras', 'tensorflow', 'torch') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
