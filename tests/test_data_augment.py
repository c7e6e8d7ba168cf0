"""The 8 dihedral transforms: distinct, a group, checked against plain-Python rotations."""

import itertools

import numpy as np
import pytest

from keras_voidseg.data.augment import batch_dihedral, dihedral, inverse_dihedral, random_dihedral


def rot90_reference(grid):
    """Plain-Python counter-clockwise rotation of a list of rows."""
    h, w = len(grid), len(grid[0])
    return [[grid[j][w - 1 - i] for j in range(h)] for i in range(w)]


def dihedral_reference(array, k):
    grid = [list(row) for row in array.tolist()]
    if k >= 4:
        grid = [row[::-1] for row in grid]
    for _ in range(k % 4):
        grid = rot90_reference(grid)
    return np.array(grid)


ASYMMETRIC = np.arange(12).reshape(3, 4) ** 2  # no symmetry: every transform differs


@pytest.mark.parametrize("k", range(8))
def test_matches_plain_python_reference(k):
    np.testing.assert_array_equal(dihedral(ASYMMETRIC, k), dihedral_reference(ASYMMETRIC, k))


def test_eight_distinct_transforms_and_identity():
    square = np.arange(16).reshape(4, 4) ** 2
    results = {dihedral(square, k).tobytes() for k in range(8)}
    assert len(results) == 8
    np.testing.assert_array_equal(dihedral(square, 0), square)


def test_group_closure_and_inverses():
    square = np.random.default_rng(0).random((5, 5))
    images = [dihedral(square, k) for k in range(8)]
    for a, b in itertools.product(range(8), repeat=2):
        composed = dihedral(dihedral(square, a), b)
        matches = [m for m in range(8) if np.array_equal(composed, images[m])]
        assert len(matches) == 1, (a, b)
    for k in range(8):
        np.testing.assert_array_equal(dihedral(dihedral(square, k), inverse_dihedral(k)), square)


def test_channels_and_batch_axes():
    rng = np.random.default_rng(1)
    hwc = rng.random((6, 6, 3))
    bhw = rng.random((2, 6, 6))
    for k in range(8):
        for c in range(3):
            np.testing.assert_array_equal(dihedral(hwc, k)[..., c], dihedral(hwc[..., c], k))
        for b in range(2):
            np.testing.assert_array_equal(dihedral(bhw, k, axes=(1, 2))[b], dihedral(bhw[b], k))


def test_labels_follow_images():
    rng = np.random.default_rng(2)
    image = rng.random((8, 8))
    labels = (image * 10).astype(np.int32)  # a pixel-wise function of the image
    seen = set()
    for _ in range(60):
        img_t, lab_t = random_dihedral(rng, image, labels)
        np.testing.assert_array_equal(lab_t, (img_t * 10).astype(np.int32))
        seen.add(img_t.tobytes())
    assert len(seen) == 8  # all transforms are drawn
    with pytest.raises(ValueError, match="spatial shapes"):
        random_dihedral(rng, image, labels[:4])


def test_batch_dihedral_applies_each_samples_own_transform():
    rng = np.random.default_rng(3)
    x = rng.random((16, 5, 5)).astype(np.float32)
    y = rng.integers(0, 9, (16, 5, 5)).astype(np.int32)
    ks = rng.integers(8, size=16)
    xt, yt = batch_dihedral(ks, x, y)
    for i, k in enumerate(ks):
        np.testing.assert_array_equal(xt[i], dihedral(x[i], k))
        np.testing.assert_array_equal(yt[i], dihedral(y[i], k))
    assert xt.dtype == x.dtype and yt.dtype == y.dtype


def test_bad_k_is_rejected():
    with pytest.raises(ValueError, match="0..7"):
        dihedral(ASYMMETRIC, 8)
