"""3-class targets against skimage's find_boundaries, connected components against
skimage.measure.label, border regrowth against a plain-Python breadth-first reference,
and the labels -> 3-class -> labels round trip.  Not Keras tests."""

import warnings
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
from skimage.measure import label as sk_label
from skimage.morphology import remove_small_objects
from skimage.segmentation import find_boundaries

from keras_voidseg.data.synthetic import synthesize
from keras_voidseg.metrics import matching
from keras_voidseg.postprocess import labels_to_three_class, three_class_to_labels

label_images = arrays(np.int32, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.integers(0, 4))


def scene(size, n, seed, gap=2):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "only k of n nuclei fit"
        return synthesize(size, n_nuclei=n, seed=seed, gap=gap)[1]


def one_hot(labels):
    return np.eye(3, dtype=np.float32)[labels_to_three_class(labels)]


def assert_inner_boundaries(labels):
    classes = labels_to_three_class(labels)
    assert classes.dtype == np.uint8 and classes.shape == labels.shape
    border = find_boundaries(labels, mode="inner") & (labels > 0)
    np.testing.assert_array_equal(classes == 2, border)
    np.testing.assert_array_equal(classes == 1, (labels > 0) & ~border)
    np.testing.assert_array_equal(classes == 0, labels == 0)


@pytest.mark.parametrize("gap", [0, 2])
def test_three_class_equals_inner_boundaries_on_nuclei(gap):
    assert_inner_boundaries(scene(96, 12, 6, gap=gap))


@settings(max_examples=60, deadline=None)
@given(label_images, st.sampled_from([np.uint8, np.int16, np.uint32, np.int64, ">u2"]))
def test_three_class_equals_inner_boundaries_edge_cases(labels, dtype):
    """Touching objects, objects on the image border, single pixels, all background."""
    assert_inner_boundaries((labels * (3 if dtype != np.uint8 else 1)).astype(dtype))


def test_three_class_by_hand():
    labels = np.zeros((5, 6), np.int32)
    labels[0:4, 0:3] = 7  # touches the image edge (not a border) and object 9
    labels[1:4, 3:6] = 9
    expected = np.array([[1, 1, 2, 0, 0, 0],
                         [1, 1, 2, 2, 2, 2],
                         [1, 1, 2, 2, 1, 1],
                         [2, 2, 2, 2, 2, 2],
                         [0, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(labels_to_three_class(labels), expected)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 16), st.integers(1, 16)), elements=st.floats(0, 1, width=32)),
       st.integers(0, 5))
def test_seeds_are_skimage_components_without_small_ones(foreground, min_size):
    ours = three_class_to_labels(foreground, threshold=0.5, min_size=min_size, grow=0)
    components = sk_label(foreground > 0.5, connectivity=1)
    if min_size > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "only one label was provided"
            components = remove_small_objects(components, max_size=min_size - 1)
    expected = sk_label(components > 0, connectivity=1)
    assert ours.dtype == np.int32
    np.testing.assert_array_equal(ours, expected)


def grow_reference(seeds, allowed, steps):
    """Plain Python: breadth-first distance of every pixel from the seeds through allowed,
    unlabelled pixels (4-neighbour steps)."""
    height, width = seeds.shape
    distance = np.where(seeds > 0, 0, -1)
    queue = deque(zip(*np.nonzero(seeds > 0)))
    while queue:
        y, x = queue.popleft()
        for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if (0 <= ny < height and 0 <= nx < width and distance[ny, nx] < 0 and allowed[ny, nx]
                    and distance[y, x] < steps):
                distance[ny, nx] = distance[y, x] + 1
                queue.append((ny, nx))
    return distance


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(2, 14), st.integers(2, 14), st.just(3)),
              elements=st.floats(0, 1, width=32)), st.integers(0, 3))
def test_border_regrowth_equals_breadth_first_reference(raw, steps):
    probabilities = raw / np.maximum(raw.sum(-1, keepdims=True), 1e-6)
    seeds = three_class_to_labels(probabilities, min_size=0, grow=0)
    grown = three_class_to_labels(probabilities, min_size=0, grow=steps)
    allowed = probabilities[..., 1] + probabilities[..., 2] > probabilities[..., 0]
    distance = grow_reference(seeds, allowed, steps)
    np.testing.assert_array_equal(grown > 0, distance >= 0)  # exactly the reachable pixels
    np.testing.assert_array_equal(grown[seeds > 0], seeds[seeds > 0])  # seeds keep their ids
    for y, x in zip(*np.nonzero(distance > 0)):  # each grown pixel continues a neighbour one step closer
        neighbours = [grown[ny, nx] for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1))
                      if 0 <= ny < seeds.shape[0] and 0 <= nx < seeds.shape[1] and distance[ny, nx] == distance[y, x] - 1]
        assert grown[y, x] in neighbours


@pytest.mark.parametrize("gap", [0, 1, 2])
def test_round_trip_gives_back_the_objects(gap):
    labels = scene(128, 15, gap, gap=gap)
    back = three_class_to_labels(one_hot(labels))
    exact = matching(labels, back, thresh=1.0)  # IoU 1: identical objects
    assert exact.tp == exact.n_true == exact.n_pred == labels.max()
    foreground_only = three_class_to_labels(one_hot(labels)[..., 1])  # no background information
    assert matching(labels, foreground_only, thresh=0.5).ap == 1.0
    assert np.all(labels[foreground_only > 0] > 0)  # one step never leaks out of an object


def test_soft_probabilities_and_specks():
    rng = np.random.default_rng(0)
    labels = scene(128, 12, 3)
    soft = np.clip(one_hot(labels) + rng.normal(0, 0.15, labels.shape + (3,)), 0, None)
    soft /= soft.sum(-1, keepdims=True)
    soft[5, 5] = [0, 1, 0]  # a one-pixel speck, dropped by min_size
    back = three_class_to_labels(soft)
    assert back[5, 5] == 0 or labels[5, 5] > 0
    assert matching(labels, back, thresh=0.5).ap > 0.9
    assert sorted(np.unique(back)[1:]) == list(range(1, back.max() + 1))


@pytest.mark.parametrize("probabilities, kwargs, pattern", [
    (np.zeros((4, 4, 2), np.float32), {}, r"\(Y, X, 3\) class probabilities or a \(Y, X\) foreground map, got shape \(4, 4, 2\)"),
    (np.zeros((4, 4), np.int32), {}, "probabilities must be a float array, got dtype int32"),
    (np.zeros((4, 4), np.float32), {"threshold": 2}, r"threshold must be in \[0, 1\], got 2"),
    (np.zeros((4, 4), np.float32), {"min_size": -1}, "min_size must be a non-negative integer"),
    (np.zeros((4, 4), np.float32), {"grow": 1.5}, "grow must be a non-negative integer"),
])
def test_three_class_to_labels_bad_inputs(probabilities, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        three_class_to_labels(probabilities, **kwargs)


def test_labels_to_three_class_bad_inputs():
    with pytest.raises(ValueError, match=r"labels must be a 2D \(Y, X\) label image, got shape \(2, 4, 4\)"):
        labels_to_three_class(np.zeros((2, 4, 4), np.int32))
    with pytest.raises(ValueError, match="labels has float dtype"):
        labels_to_three_class(np.zeros((4, 4), np.float32))
