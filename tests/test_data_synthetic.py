"""The BBBC004-like generator: determinism, exact labels, realistic statistics."""

import numpy as np
import pytest
from skimage.measure import label as connected_components
from skimage.measure import regionprops

from keras_voidseg.data.synthetic import default_n_nuclei, synthesize, synthetic_dataset


@pytest.fixture(scope="module")
def bbbc_like():
    return synthesize(950, seed=0)


def test_same_seed_same_image_different_seed_different():
    a_img, a_lab = synthesize(200, seed=3)
    b_img, b_lab = synthesize(200, seed=3)
    c_img, c_lab = synthesize(200, seed=4)
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_lab, b_lab)
    assert not np.array_equal(a_lab, c_lab)
    assert not np.array_equal(a_img, c_img)


def test_types_and_ranges(bbbc_like):
    image, labels = bbbc_like
    assert image.shape == labels.shape == (950, 950)
    assert image.dtype == np.float32 and labels.dtype == np.int32
    assert image.min() >= 0 and image.max() <= 255
    # 8-bit-like: nuclei are bright (tens to ~200), background dim
    assert 60 < image[labels > 0].mean() < 200
    assert image[labels == 0].mean() < 30


def test_about_300_nuclei_at_bbbc004_density(bbbc_like):
    _, labels = bbbc_like
    n = labels.max()
    assert default_n_nuclei((950, 950)) == 300
    assert 270 <= n <= 300
    # BBBC004-like coverage: nuclei cover a minority of the field
    assert 0.08 < (labels > 0).mean() < 0.35


def test_ids_contiguous_and_each_id_one_connected_object(bbbc_like):
    _, labels = bbbc_like
    n = labels.max()
    np.testing.assert_array_equal(np.unique(labels), np.arange(n + 1))
    for region in regionprops(labels):
        assert connected_components(region.image, connectivity=2).max() == 1, region.label
        assert connected_components(region.image, connectivity=1).max() == 1, region.label
    # nuclei are separated by background: the foreground has exactly n components
    assert connected_components(labels > 0, connectivity=2).max() == n


def test_nuclei_keep_a_gap_of_two_pixels(bbbc_like):
    _, labels = bbbc_like
    h, w = labels.shape
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            if (dy, dx) == (0, 0) or dy * dy + dx * dx > 4:
                continue
            a = labels[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)]
            b = labels[max(0, -dy):h + min(0, -dy), max(0, -dx):w + min(0, -dx)]
            touching = (a > 0) & (b > 0) & (a != b)
            assert not touching.any(), (dy, dx)


def test_shapes_vary_and_are_not_disks(bbbc_like):
    image, labels = bbbc_like
    props = regionprops(labels, intensity_image=image)
    eccentricity = np.array([p.eccentricity for p in props])
    area = np.array([p.area for p in props])
    solidity = np.array([p.solidity for p in props])
    assert eccentricity.std() > 0.08
    assert (eccentricity > 0.6).mean() > 0.25  # many clearly elongated nuclei
    assert area.std() / area.mean() > 0.2
    assert solidity.min() < 0.95  # some outlines are not convex
    brightness = np.array([p.intensity_mean for p in props])
    assert brightness.std() / brightness.mean() > 0.08  # per-nucleus intensity varies
    # internal texture: pixel intensities vary inside nuclei beyond the blur at the rim
    inner = [image[p.slice][p.image] for p in props if p.area > 300]
    assert np.median([x.std() / x.mean() for x in inner]) > 0.05


def test_dataset_images_are_seeded_per_index():
    images, labels = synthetic_dataset(3, 96, seed=5)
    assert images.shape == labels.shape == (3, 96, 96)
    assert images.dtype == np.float32 and labels.dtype == np.int32
    first, first_labels = synthesize(96, seed=(5, 0))
    np.testing.assert_array_equal(images[0], first)
    np.testing.assert_array_equal(labels[0], first_labels)
    two, _ = synthetic_dataset(2, 96, seed=5)
    np.testing.assert_array_equal(two, images[:2])
    assert not np.array_equal(images[0], images[1])


def test_rectangular_size_and_explicit_count():
    image, labels = synthesize((120, 200), n_nuclei=12, seed=1)
    assert image.shape == (120, 200)
    assert labels.max() == 12


def test_too_many_nuclei_warns_and_places_fewer():
    with pytest.warns(UserWarning, match="only"):
        _, labels = synthesize(40, n_nuclei=60, seed=0)
    assert 0 < labels.max() < 60


@pytest.mark.parametrize("kwargs", [{"size": 4}, {"size": (10, 20, 30)}, {"n_nuclei": -1},
                                    {"gap": -1}, {"radius": 1}])
def test_bad_arguments_are_value_errors(kwargs):
    with pytest.raises(ValueError):
        synthesize(**{"size": 64, **kwargs})
