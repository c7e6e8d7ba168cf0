"""Paper noise and percentile normalisation (checked against csbdeep's reference)."""

import numpy as np
import pytest
from csbdeep.utils import normalize as csbdeep_normalize

from keras_voidseg.data.noise import add_gaussian_noise, parse_noise
from keras_voidseg.data.normalize import PercentileNormalizer, percentile_normalize


def test_noise_has_the_requested_sigma_and_zero_mean():
    clean = np.full((300, 300), 100.0, np.float32)
    noisy = add_gaussian_noise(clean, "n150", seed=0)
    residual = noisy - clean
    assert noisy.dtype == np.float32 and noisy.shape == clean.shape
    assert abs(residual.std() - 150) < 2.0
    assert abs(residual.mean()) < 1.5
    assert noisy.min() < 0 and noisy.max() > 255  # not clipped, as in the paper


def test_noise_is_seeded_and_works_on_lists():
    images = [np.zeros((10, 10)), np.zeros((5, 7))]
    a = add_gaussian_noise(images, 20, seed=1)
    b = add_gaussian_noise(images, 20, seed=1)
    c = add_gaussian_noise(images, 20, seed=2)
    assert [x.shape for x in a] == [(10, 10), (5, 7)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    np.testing.assert_array_equal(add_gaussian_noise(images[0], 0, seed=0), images[0])


@pytest.mark.parametrize("level,sigma", [("n10", 10.0), ("n200", 200.0), ("40", 40.0),
                                         (20, 20.0), ("clean", 0.0)])
def test_parse_noise(level, sigma):
    assert parse_noise(level) == sigma


@pytest.mark.parametrize("level", ["x10", "n-5", -3, "n"])
def test_parse_noise_rejects_nonsense(level):
    with pytest.raises(ValueError):
        parse_noise(level)


@pytest.mark.parametrize("pmin,pmax", [(1, 99.8), (0, 100), (3, 97)])
def test_percentile_normalize_matches_csbdeep(pmin, pmax):
    image = np.random.default_rng(0).gamma(2.0, 30.0, (64, 48)).astype(np.float32)
    ours = percentile_normalize(image, pmin, pmax)
    reference = csbdeep_normalize(image, pmin, pmax, axis=None)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)


def test_normalizer_round_trips_and_repeats_the_same_mapping():
    norm = PercentileNormalizer(2.0, 99.0, clip=True)
    again = PercentileNormalizer.from_dict(norm.to_dict())
    assert again == norm
    image = np.random.default_rng(1).random((20, 20)) * 1000
    np.testing.assert_array_equal(norm(image), again(image))
    assert norm(image).min() == 0.0 and norm(image).max() == 1.0
    assert percentile_normalize(np.full((4, 4), 7.0)).max() == 0.0  # constant image


def test_normalizer_validation():
    with pytest.raises(ValueError, match="pmin"):
        PercentileNormalizer(50, 10)
    with pytest.raises(ValueError, match="unknown key"):
        PercentileNormalizer.from_dict({"pmin": 1, "pmax": 99, "gamma": 2})
    with pytest.raises(ValueError, match="kind"):
        PercentileNormalizer.from_dict({"kind": "meanstd"})
