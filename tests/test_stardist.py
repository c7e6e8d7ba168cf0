"""StarDist geometry (keras_voidseg.stardist) against the stardist package and plain Python."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from scipy.ndimage import gaussian_filter

from keras_voidseg.data.synthetic import synthesize
from keras_voidseg.stardist import non_maximum_suppression, object_probability, polygons_to_label, star_dist
from keras_voidseg.stardist._polygon import compress, fan_area2, is_simple, is_star
from keras_voidseg.stardist.nms import _exact_overlap, _prepare
from keras_voidseg.stardist import geometry as star_dist_module

stardist = pytest.importorskip("stardist")
from stardist.geometry import polygons_to_label as sd_polygons_to_label  # noqa: E402
from stardist.geometry import star_dist as sd_star_dist  # noqa: E402
from stardist.nms import non_maximum_suppression as sd_nms  # noqa: E402
from stardist.utils import edt_prob  # noqa: E402

FAST = settings(max_examples=25, deadline=None, derandomize=True)  # deterministic in CI


@pytest.fixture(scope="module")
def scene():
    _, labels = synthesize(256, n_nuclei=40, seed=5)
    labels[:, :4] = 99  # an object cut by the image border
    return labels


def prediction(labels, seed=0):
    """A realistic StarDist output: blurred noisy probabilities, noisy distances."""
    rng = np.random.default_rng(seed)
    prob = np.clip(gaussian_filter(object_probability(labels), 1) + rng.normal(0, 0.05, labels.shape), 0, 1)
    dist = np.maximum(star_dist(labels) + rng.normal(0, 0.5, labels.shape + (32,)), 0)
    return dist.astype(np.float32), prob.astype(np.float32)


# ---------------------------------------------------------------- plain-Python references

def python_star_dist(labels, n_rays):
    """Walk along each ray one unit at a time (float32), then step back by the overshoot."""
    out = np.zeros(labels.shape + (n_rays,), np.float32)
    step = np.float32(2 * math.pi / n_rays)
    for i, j in zip(*np.nonzero(labels)):
        for k in range(n_rays):
            phi = np.float32(np.float32(k) * step)
            dy, dx = np.float32(math.sin(phi)), np.float32(math.cos(phi))
            y = x = np.float32(0)
            while True:
                y, x = np.float32(y + dy), np.float32(x + dx)
                ii, jj = int(np.rint(np.float32(i) + y)), int(np.rint(np.float32(j) + x))
                if not (0 <= ii < labels.shape[0] and 0 <= jj < labels.shape[1]) or labels[ii, jj] != labels[i, j]:
                    corr = np.float32(0.5) / max(abs(dy), abs(dx)) - np.float32(1)
                    y, x = np.float32(y + corr * dy), np.float32(x + corr * dx)
                    out[i, j, k] = math.sqrt(y * y + x * x)
                    break
    return out


def python_intersection_area(a, b):
    """Exact area of the intersection of two simple polygons [(x, y), ...] (Fractions):
    Green's theorem over the parts of each outline inside the other (shared edges running
    the same way counted once)."""
    def winding_or_edge(poly, p, d):
        w = 0
        for (x0, y0), (x1, y1) in zip(poly, poly[1:] + poly[:1]):
            c = (x1 - x0) * (p[1] - y0) - (y1 - y0) * (p[0] - x0)
            if c == 0 and min(x0, x1) <= p[0] <= max(x0, x1) and min(y0, y1) <= p[1] <= max(y0, y1):
                return "same" if (x1 - x0) * d[0] + (y1 - y0) * d[1] > 0 else "opposite"
            if y0 <= p[1] < y1 and c > 0:
                w += 1
            elif y1 <= p[1] < y0 and c < 0:
                w -= 1
        return "in" if w else "out"

    def part(a, b, shared):
        total = Fraction(0)
        for p, q in zip(a, a[1:] + a[:1]):
            d = (q[0] - p[0], q[1] - p[1])
            if d == (0, 0):
                continue
            ts = {Fraction(0), Fraction(1)}
            for r, s in zip(b, b[1:] + b[:1]):
                e = (s[0] - r[0], s[1] - r[1])
                den = d[0] * e[1] - d[1] * e[0]
                if den != 0:
                    t = Fraction((r[0] - p[0]) * e[1] - (r[1] - p[1]) * e[0], den)
                    u = Fraction((r[0] - p[0]) * d[1] - (r[1] - p[1]) * d[0], den)
                    if 0 < t < 1 and 0 <= u <= 1:
                        ts.add(t)
                elif (r[0] - p[0]) * d[1] - (r[1] - p[1]) * d[0] == 0:  # collinear: split at b's vertices
                    for v in (r, s):
                        t = Fraction((v[0] - p[0]) * d[0] + (v[1] - p[1]) * d[1], d[0] ** 2 + d[1] ** 2)
                        if 0 < t < 1:
                            ts.add(t)
            ts = sorted(ts)
            for t0, t1 in zip(ts, ts[1:]):
                tm = (t0 + t1) / 2
                where = winding_or_edge(b, (p[0] + tm * d[0], p[1] + tm * d[1]), d)
                if where == "in" or (where == "same" and shared):
                    x0, y0 = p[0] + t0 * d[0], p[1] + t0 * d[1]
                    x1, y1 = p[0] + t1 * d[0], p[1] + t1 * d[1]
                    total += x0 * y1 - x1 * y0
        return total

    return abs(part(a, b, True) + part(b, a, False)) / 2


def random_star(rng, centre, n=12, rmin=2, rmax=7):
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    radii = rng.uniform(rmin, rmax, n)
    xs = np.trunc(centre[0] + radii * np.cos(angles)).astype(np.int32)
    ys = np.trunc(centre[1] + radii * np.sin(angles)).astype(np.int32)
    m = compress(xs, ys, n, xs, ys)  # without repeated / collinear vertices, as the NMS stores them
    return xs[:m].copy(), ys[:m].copy()


# ---------------------------------------------------------------- star_dist / probabilities

def test_star_dist_equals_stardist_cpp(scene):
    ours = star_dist(scene, 32)
    ref = sd_star_dist(scene.astype(np.uint16), 32, mode="cpp")
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)
    assert ours.dtype == np.float32 and ours.shape == scene.shape + (32,)


def test_star_dist_equals_stardist_python_mode():
    _, labels = synthesize(40, n_nuclei=3, seed=2)
    np.testing.assert_allclose(star_dist(labels, 16), sd_star_dist(labels, 16, mode="python"), atol=1e-5, rtol=0)


def test_star_dist_equals_plain_python_and_supports_huge_ids():
    labels = np.zeros((12, 13), np.int64)
    labels[2:7, 3:9] = 2**40
    labels[7:11, 1:5] = 5
    labels[0:3, 10:13] = 7  # touching the border
    np.testing.assert_allclose(star_dist(labels, 8), python_star_dist(labels, 8), atol=1e-6, rtol=0)


@FAST
@given(st.integers(0, 2**31 - 1), st.integers(3, 12))
def test_star_dist_random_labels_against_references(seed, n_rays):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, (7, 9)) * rng.integers(1, 2**20)  # touching, non-contiguous, big ids
    np.testing.assert_allclose(star_dist(labels, n_rays), python_star_dist(labels, n_rays), atol=1e-6, rtol=0)
    small = (labels > 0).astype(np.uint16) * (1 + labels % 7).astype(np.uint16)
    np.testing.assert_allclose(star_dist(small, n_rays), sd_star_dist(small, n_rays, mode="cpp"), atol=1e-5)


def test_object_probability_equals_stardist(scene):
    np.testing.assert_allclose(object_probability(scene), edt_prob(scene), atol=1e-6)
    with pytest.warns(UserWarning):
        full = edt_prob(np.full((9, 9), 3))
    np.testing.assert_allclose(object_probability(np.full((9, 9), 3)), full, atol=1e-6)
    no_background = np.ones((8, 10), np.int32)
    no_background[:, 5:] = 2
    np.testing.assert_allclose(object_probability(no_background), edt_prob(no_background), atol=1e-6)


def test_object_probability_ignores_id_values(scene):
    renamed = np.where(scene > 0, scene.astype(np.int64) * 1000 + 2**33, 0)
    np.testing.assert_array_equal(object_probability(renamed), object_probability(scene))
    prob = object_probability(scene)
    assert prob.dtype == np.float32 and prob.max() <= 1 and not prob[scene == 0].any()


# ---------------------------------------------------------------- polygon intersection kernels

@FAST
@given(st.integers(0, 2**31 - 1))
def test_fan_area_equals_exact_python_area(seed):
    rng = np.random.default_rng(seed)
    ca = np.array([10, 10])
    cb = ca + rng.integers(-2, 3, 2)
    (ax, ay), (bx, by) = random_star(rng, ca), random_star(rng, cb)
    assume(len(ax) >= 3 and len(bx) >= 3)
    assume(is_star(ax, ay, len(ax), ca[0], ca[1]) and is_star(bx, by, len(bx), ca[0], ca[1]))
    area2, margin2 = fan_area2(ax, ay, len(ax), bx, by, len(bx), ca[0], ca[1])
    exact = python_intersection_area(list(zip(ax.tolist(), ay.tolist())), list(zip(bx.tolist(), by.tolist())))
    assert area2 / 2 == pytest.approx(float(exact), abs=1e-6)
    assert margin2 >= 0


@FAST
@given(st.integers(0, 2**31 - 1))
def test_exact_overlap_close_to_exact_python_area(seed):
    """Clipper's area differs from the exact one only by its integer rounding near crossings."""
    rng = np.random.default_rng(seed)
    n_rays = 16
    dist = rng.uniform(2, 7, (2, n_rays)).astype(np.float32)
    points = np.array([[10, 10], [10 + rng.integers(-4, 5), 10 + rng.integers(-4, 5)]], np.float32)
    vx = np.empty((2, n_rays), np.int32)
    vy = np.empty((2, n_rays), np.int32)
    count, star, simple, bbox = np.empty(2, np.int64), np.empty(2, np.bool_), np.empty(2, np.bool_), np.empty((2, 4), np.int64)
    area, radius, r_int = np.empty(2, np.float32), np.empty(2, np.float32), np.empty(2)
    _prepare(dist, points, vx, vy, count, star, simple, bbox, area, radius, r_int)
    polys = [list(zip(vx[k, :count[k]].tolist(), vy[k, :count[k]].tolist())) for k in range(2)]
    exact = float(python_intersection_area(*polys))
    ours = float(_exact_overlap(0, 1, points, vx, vy, count, star, simple, bbox, np.empty((3, 70), np.int64),
                                np.empty((4, 70))))
    assert ours == pytest.approx(exact, abs=0.15 * exact + 4)
    assert (2 * ours) % 1 == 0  # integer vertices: twice the area is an integer, as Clipper's
    whole = float(_exact_overlap(0, 0, points, vx, vy, count, star, simple, bbox, np.empty((3, 70), np.int64),
                                 np.empty((4, 70))))
    assert whole == area[0]


def python_is_simple(xs, ys):
    """No two non-adjacent edges share a point (exact integer orientation tests)."""
    pts = list(zip(xs.tolist(), ys.tolist()))
    n = len(pts)

    def orient(a, b, c):
        v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        return (v > 0) - (v < 0)

    def on(a, b, c):
        return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    for e in range(n):
        for f in range(e + 2, n):
            if e == 0 and f == n - 1:
                continue
            a, b, c, d = pts[e], pts[(e + 1) % n], pts[f], pts[(f + 1) % n]
            o1, o2, o3, o4 = orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
            if (o1 * o2 < 0 and o3 * o4 < 0) or (o1 == 0 and on(a, b, c)) or (o2 == 0 and on(a, b, d)) \
                    or (o3 == 0 and on(c, d, a)) or (o4 == 0 and on(c, d, b)):
                return False
    return True


@FAST
@given(st.integers(0, 2**31 - 1))
def test_is_simple_against_python(seed):
    rng = np.random.default_rng(seed)
    xs, ys = random_star(rng, np.array([10, 10]), n=10, rmin=0, rmax=6)  # zero radii: self-touching
    assume(len(xs) >= 3)
    assert is_simple(xs, ys, len(xs)) == python_is_simple(xs, ys)


# ---------------------------------------------------------------- NMS

@pytest.mark.parametrize("prob_thresh,nms_thresh", [
    (0.3, 0.4), (0.5, 0.3), (0.6, 0.5), (0.4, 0.1),
    pytest.param(0.15, 0.7, marks=pytest.mark.xfail(
        reason="known limit: candidates at object borders whose rays are ~0 long give self-intersecting "
               "polygons, where our Clipper emulation can still differ from Clipper", strict=False)),
])
def test_nms_keeps_the_same_polygons_as_stardist(scene, prob_thresh, nms_thresh):
    dist, prob = prediction(scene)
    points, scores, dists = non_maximum_suppression(dist, prob, prob_thresh, nms_thresh)
    ref_points, ref_scores, ref_dists = sd_nms(dist, prob, prob_thresh=prob_thresh, nms_thresh=nms_thresh)
    np.testing.assert_array_equal(points, ref_points)
    np.testing.assert_array_equal(scores, ref_scores)
    np.testing.assert_array_equal(dists, ref_dists)
    assert len(points) >= 35 and points.dtype == np.int32 and scores.dtype == np.float32
    assert np.all(np.diff(scores) <= 0)


def test_nms_with_grid_and_border_like_stardist(scene):
    dist, prob = prediction(scene, seed=3)
    sub_dist, sub_prob = dist[::2, ::2], prob[::2, ::2]
    for b in (0, 2, 5):
        ours = non_maximum_suppression(sub_dist, sub_prob, 0.4, 0.4, grid=(2, 2), b=b)
        ref = sd_nms(sub_dist, sub_prob, grid=(2, 2), b=b, prob_thresh=0.4, nms_thresh=0.4)
        np.testing.assert_array_equal(ours[0], ref[0])


def test_nms_ties_are_ordered_like_stardist():
    _, labels = synthesize(96, n_nuclei=8, seed=1)
    dist, prob = prediction(labels, seed=2)
    prob = np.round(prob, 1)  # many equal probabilities
    ours = non_maximum_suppression(dist, prob, 0.3, 0.4)
    ref = sd_nms(dist, prob, prob_thresh=0.3, nms_thresh=0.4)
    np.testing.assert_array_equal(ours[0], ref[0])


@FAST
@given(st.integers(0, 2**31 - 1))
def test_nms_random_scenes_like_stardist(seed):
    rng = np.random.default_rng(seed)
    _, labels = synthesize(64, n_nuclei=int(rng.integers(0, 5)), seed=int(seed % 1000))
    dist, prob = prediction(labels, seed=seed % 7)
    pt, nt = float(rng.uniform(0.2, 0.7)), float(rng.uniform(0.1, 0.7))
    ours = non_maximum_suppression(dist, prob, pt, nt)
    ref = sd_nms(dist, prob, prob_thresh=pt, nms_thresh=nt)
    np.testing.assert_array_equal(ours[0], ref[0])


# ---------------------------------------------------------------- rendering

def test_polygons_to_label_equals_stardist(scene):
    dist, prob = prediction(scene, seed=1)
    points, scores, dists = non_maximum_suppression(dist, prob, 0.2, 0.7)  # overlapping polygons
    ours = polygons_to_label(dists, points, scene.shape, prob=scores)
    np.testing.assert_array_equal(ours, sd_polygons_to_label(dists, points, scene.shape, prob=scores))
    assert ours.dtype == np.int32
    thr = float(np.median(scores))
    np.testing.assert_array_equal(polygons_to_label(dists, points, scene.shape, prob=scores, thr=thr),
                                  sd_polygons_to_label(dists, points, scene.shape, prob=scores, thr=thr))


@FAST
@given(st.integers(0, 2**31 - 1))
def test_polygons_to_label_random_polygons_like_stardist(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 6))
    points = rng.integers(-3, 24, (n, 2))  # some centres outside the image
    dists = rng.uniform(0, 9, (n, 8)).astype(np.float32)
    prob = rng.choice([0.5, 0.7, 0.9], n)  # ties: later polygons win, as in stardist
    shape = (20, 17)
    np.testing.assert_array_equal(polygons_to_label(dists, points, shape, prob=prob),
                                  sd_polygons_to_label(dists, points, shape, prob=prob))
    np.testing.assert_array_equal(polygons_to_label(dists, points, shape),
                                  sd_polygons_to_label(dists, points, shape))


# ---------------------------------------------------------------- edge cases and errors

def test_empty_and_background_inputs():
    empty = np.zeros((16, 16), np.int32)
    assert not star_dist(empty).any() and not object_probability(empty).any()
    points, scores, dists = non_maximum_suppression(np.zeros((16, 16, 32), np.float32), np.zeros((16, 16)))
    assert points.shape == (0, 2) and scores.shape == (0,) and dists.shape == (0, 32)
    assert not polygons_to_label(dists, points, (16, 16)).any()
    assert star_dist(np.zeros((0, 5), np.int32)).shape == (0, 5, 32)


def test_one_object_round_trip():
    labels = np.zeros((40, 40), np.int32)
    yy, xx = np.mgrid[:40, :40]
    labels[(yy - 20) ** 2 + (xx - 19) ** 2 < 81] = 7
    dist, prob = star_dist(labels), object_probability(labels)
    points, scores, dists = non_maximum_suppression(dist, prob, 0.5, 0.4)
    assert len(points) == 1
    rendered = polygons_to_label(dists, points, labels.shape, prob=scores)
    overlap = ((rendered > 0) & (labels > 0)).sum() / ((rendered > 0) | (labels > 0)).sum()
    assert overlap > 0.85


@pytest.mark.parametrize("bad,match", [
    (np.zeros((4, 4), np.float32) + 0.5, "integer object ids"),
    (np.zeros((2, 4, 4), np.int32), "2D"),
    (-np.ones((4, 4), np.int32), "negative"),
])
def test_bad_labels_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        star_dist(bad)
    with pytest.raises(ValueError, match=match):
        object_probability(bad)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_rays"):
        star_dist(np.zeros((4, 4), np.int32), n_rays=2)
    with pytest.raises(ValueError, match=r"dist must be \(Y, X, n_rays\)"):
        non_maximum_suppression(np.zeros((5, 5, 32)), np.zeros((6, 6)))
    with pytest.raises(ValueError, match="prob must be a 2D"):
        non_maximum_suppression(np.zeros((5, 5, 32)), np.zeros((5, 5, 1)))
    with pytest.raises(ValueError, match="n_rays=2"):
        non_maximum_suppression(np.zeros((5, 5, 2)), np.zeros((5, 5)))
    with pytest.raises(ValueError, match="nms_thresh"):
        non_maximum_suppression(np.zeros((5, 5, 32)), np.zeros((5, 5)), nms_thresh=1.5)
    with pytest.raises(ValueError, match="points"):
        polygons_to_label(np.zeros((3, 32)), np.zeros((2, 2)), (8, 8))
    with pytest.raises(ValueError, match="shape"):
        polygons_to_label(np.zeros((3, 32)), np.zeros((3, 2)), (8,))


def test_star_dist_serial_and_parallel_kernels_agree(scene):
    labels = scene[:200, :150]
    assert labels.size >= star_dist_module.PARALLEL_MIN_PIXELS
    np.testing.assert_array_equal(star_dist(labels, 32, parallel=False), star_dist(labels, 32))
    small = labels[:64, :64]  # a training patch: serial by default
    np.testing.assert_array_equal(star_dist(small, 32), star_dist(small, 32, parallel=True))
