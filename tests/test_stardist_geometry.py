"""StarDist geometry (keras_voidseg.stardist) against the stardist package and plain Python."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.ndimage import gaussian_filter

from keras_voidseg.data.synthetic import synthesize
from keras_voidseg.stardist import non_maximum_suppression, object_probability, polygons_to_label, star_dist
from keras_voidseg.stardist.nms import intersection_area

stardist = pytest.importorskip("stardist")
from stardist.geometry import polygons_to_label as sd_polygons_to_label  # noqa: E402
from stardist.geometry import star_dist as sd_star_dist  # noqa: E402
from stardist.nms import non_maximum_suppression as sd_nms  # noqa: E402
from stardist.utils import edt_prob  # noqa: E402


@pytest.fixture(scope="module")
def scene():
    _, labels = synthesize(192, n_nuclei=30, seed=5)
    labels[:, :4] = 99  # an object cut by the image border
    return labels


def python_star_dist(labels, n_rays):
    """Plain-Python walk along each ray (the rule the numba kernel implements)."""
    out = np.zeros(labels.shape + (n_rays,), np.float32)
    step = np.float32(2 * math.pi / n_rays)
    for i, j in zip(*np.nonzero(labels)):
        for k in range(n_rays):
            phi = np.float32(np.float32(k) * step)
            dy, dx = np.float32(np.sin(phi)), np.float32(np.cos(phi))
            y = x = np.float32(0)
            while True:
                y, x = np.float32(y + dy), np.float32(x + dx)
                ii, jj = int(np.rint(np.float32(i) + y)), int(np.rint(np.float32(j) + x))
                if not (0 <= ii < labels.shape[0] and 0 <= jj < labels.shape[1]) or labels[ii, jj] != labels[i, j]:
                    corr = np.float32(0.5) / max(abs(dy), abs(dx)) - np.float32(1)
                    y, x = np.float32(y + corr * dy), np.float32(x + corr * dx)
                    out[i, j, k] = np.sqrt(y * y + x * x)
                    break
    return out


def test_star_dist_equals_stardist_cpp(scene):
    ours = star_dist(scene, 32)
    np.testing.assert_allclose(ours, sd_star_dist(scene.astype(np.uint16), 32, mode="cpp"), atol=1e-5)
    assert ours.dtype == np.float32 and ours.shape == scene.shape + (32,)


def test_star_dist_equals_plain_python_and_supports_huge_ids():
    labels = np.zeros((12, 13), np.int64)
    labels[2:7, 3:9] = 2**40
    labels[7:11, 1:5] = 5
    np.testing.assert_allclose(star_dist(labels, 8), python_star_dist(labels, 8), atol=1e-6)


def test_object_probability_equals_stardist(scene):
    np.testing.assert_allclose(object_probability(scene), edt_prob(scene), atol=1e-6)
    full = np.full((9, 9), 3)
    np.testing.assert_allclose(object_probability(full), edt_prob(full), atol=1e-6)


def _prediction(labels, seed=0):
    rng = np.random.default_rng(seed)
    prob = np.clip(gaussian_filter(object_probability(labels), 1) + rng.normal(0, 0.05, labels.shape), 0, 1)
    dist = np.maximum(star_dist(labels) + rng.normal(0, 0.5, labels.shape + (32,)), 0)
    return dist.astype(np.float32), prob.astype(np.float32)


@pytest.mark.parametrize("prob_thresh,nms_thresh", [(0.3, 0.4), (0.5, 0.3), (0.6, 0.5)])
def test_nms_keeps_the_same_polygons_as_stardist(scene, prob_thresh, nms_thresh):
    dist, prob = _prediction(scene)
    points, scores, dists = non_maximum_suppression(dist, prob, prob_thresh, nms_thresh)
    ref_points, ref_scores, ref_dists = sd_nms(dist, prob, prob_thresh=prob_thresh, nms_thresh=nms_thresh)
    np.testing.assert_array_equal(points, ref_points)
    np.testing.assert_array_equal(scores, ref_scores)
    np.testing.assert_array_equal(dists, ref_dists)
    assert len(points) >= 25


def test_polygons_to_label_equals_stardist(scene):
    dist, prob = _prediction(scene, seed=1)
    points, scores, dists = non_maximum_suppression(dist, prob, 0.2, 0.7)  # overlapping polygons
    ours = polygons_to_label(dists, points, scene.shape, prob=scores)
    np.testing.assert_array_equal(ours, sd_polygons_to_label(dists, points, scene.shape, prob=scores))
    # a polygon reaching beyond the image, and drawing without probabilities
    edge = np.array([[1, 1]]), np.full((1, 32), 6.0, np.float32)
    np.testing.assert_array_equal(polygons_to_label(edge[1], edge[0], (10, 10)),
                                  sd_polygons_to_label(edge[1], edge[0], (10, 10)))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6))
def test_intersection_area_of_random_star_polygons(seed):
    rng = np.random.default_rng(seed)
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    polys = []
    for centre in (rng.uniform(7, 12, 2), rng.uniform(7, 12, 2)):
        radii = rng.uniform(2, 6, 12)
        polys.append((np.round(centre[1] + radii * np.cos(angles)), np.round(centre[0] + radii * np.sin(angles))))
    (ax, ay), (bx, by) = polys
    scratch = np.empty(30)
    ours = intersection_area(ax, ay, bx, by, scratch)
    assert ours == pytest.approx(intersection_area(bx, by, ax, ay, scratch), abs=1e-9)
    assert intersection_area(ax, ay, ax, ay, scratch) == pytest.approx(_shoelace(ax, ay), abs=1e-9)
    # against a fine rasterisation of the two polygons' intersection
    from skimage.draw import polygon2mask

    a = polygon2mask((80, 80), np.stack([ay, ax], 1) * 4 + 0.5)
    b = polygon2mask((80, 80), np.stack([by, bx], 1) * 4 + 0.5)
    assert ours == pytest.approx((a & b).sum() / 16.0, abs=0.05 * _shoelace(ax, ay) + 2)


def _shoelace(xs, ys):
    return 0.5 * abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1)))


def test_empty_and_background_inputs():
    empty = np.zeros((16, 16), np.int32)
    assert not star_dist(empty).any() and not object_probability(empty).any()
    points, scores, dists = non_maximum_suppression(np.zeros((16, 16, 32), np.float32), np.zeros((16, 16)))
    assert points.shape == (0, 2) and scores.shape == (0,) and dists.shape == (0, 32)
    assert not polygons_to_label(dists, points, (16, 16)).any()


@pytest.mark.parametrize("bad,match", [
    (np.zeros((4, 4), np.float32) + 0.5, "integer"),
    (np.zeros((2, 4, 4), np.int32), "2D"),
    (-np.ones((4, 4), np.int32), "negative"),
])
def test_bad_labels_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        star_dist(bad)


def test_bad_nms_inputs_are_named():
    with pytest.raises(ValueError, match="dist"):
        non_maximum_suppression(np.zeros((5, 5, 32)), np.zeros((6, 6)))
    with pytest.raises(ValueError, match="n_rays"):
        star_dist(np.zeros((4, 4), np.int32), n_rays=2)
