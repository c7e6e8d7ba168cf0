"""Split by image, non-overlapping patches, and the paper's nested subsets P1..P10."""

import numpy as np
import pytest

from keras_voidseg.data.patches import (
    SUBSET_SIZES,
    clipped_subsets,
    extract_patches,
    nested_subsets,
    split_indices,
    subset_indices,
)


@pytest.mark.parametrize("n", [2, 3, 7, 20, 101])
@pytest.mark.parametrize("fraction", [0.15, 0.5])
def test_split_is_disjoint_covering_and_seeded(n, fraction):
    train, test = split_indices(n, fraction, seed=1)
    assert len(np.intersect1d(train, test)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(n))
    assert len(test) >= 1 and len(train) >= 1
    assert len(test) == min(n - 1, max(1, round(n * fraction)))
    again = split_indices(n, fraction, seed=1)
    np.testing.assert_array_equal(again[1], test)


def test_split_depends_on_seed_and_rejects_tiny_inputs():
    assert not np.array_equal(split_indices(100, seed=0)[1], split_indices(100, seed=1)[1])
    with pytest.raises(ValueError, match="at least 2"):
        split_indices(1)
    with pytest.raises(ValueError, match="test_fraction"):
        split_indices(10, 1.0)


def test_patches_tile_without_overlap_in_row_order():
    image = np.arange(70 * 50, dtype=np.float32).reshape(70, 50)
    labels = (image % 7).astype(np.int64)
    x, y = extract_patches([image], [labels], patch_size=16)
    assert x.shape == (4 * 3, 16, 16) and x.dtype == np.float32 and y.dtype == np.int32
    for i in range(4):
        for j in range(3):
            np.testing.assert_array_equal(x[i * 3 + j], image[16 * i:16 * i + 16, 16 * j:16 * j + 16])
            np.testing.assert_array_equal(y[i * 3 + j], labels[16 * i:16 * i + 16, 16 * j:16 * j + 16])
    # every kept pixel appears exactly once
    assert len(np.unique(x)) == x.size


def test_patches_of_a_stack_and_of_mixed_sizes():
    stack = np.random.default_rng(0).random((3, 32, 32)).astype(np.float32)
    x, y = extract_patches(stack, patch_size=16)
    assert x.shape == (12, 16, 16) and y is None
    x, _ = extract_patches([stack[0], np.zeros((48, 16), np.float32)], patch_size=16)
    assert x.shape == (4 + 3, 16, 16)


def test_patch_errors_are_clear():
    with pytest.raises(ValueError, match=r"image 1 of shape \(10, 40\).*smaller than patch_size 16"):
        extract_patches([np.zeros((32, 32)), np.zeros((10, 40))], patch_size=16)
    with pytest.raises(ValueError, match="labels have shape"):
        extract_patches([np.zeros((32, 32))], [np.zeros((32, 31))], patch_size=16)
    with pytest.raises(ValueError, match="one 2D image"):
        extract_patches(np.zeros((32, 32)), patch_size=16)


@pytest.mark.parametrize("dataset", sorted(SUBSET_SIZES))
def test_paper_subsets_are_nested_with_the_paper_sizes(dataset):
    sizes = SUBSET_SIZES[dataset]
    n = sizes[-1]
    subsets = nested_subsets(n, sizes, seed=3)
    assert list(subsets) == [f"P{i}" for i in range(1, 11)]
    previous = set()
    for (name, idx), size in zip(subsets.items(), sizes):
        assert len(idx) == size and len(set(idx.tolist())) == size
        assert idx.min() >= 0 and idx.max() < n
        assert previous <= set(idx.tolist()), name
        previous = set(idx.tolist())
    assert previous == set(range(n))
    np.testing.assert_array_equal(subset_indices("P4", n, dataset, seed=3), subsets["P4"])
    assert not np.array_equal(nested_subsets(n, sizes, seed=4)["P3"], subsets["P3"])


def test_small_datasets_clip_the_largest_subsets_with_a_warning():
    sizes = SUBSET_SIZES["bbbc004"]
    assert clipped_subsets(100, sizes) == ["P7", "P8", "P9", "P10"]
    with pytest.warns(UserWarning, match="P7, P8, P9, P10"):
        subsets = nested_subsets(100, sizes, seed=0)
    assert [len(v) for v in subsets.values()] == [2, 4, 8, 16, 32, 64, 100, 100, 100, 100]
    assert set(subsets["P6"].tolist()) <= set(subsets["P7"].tolist())


def test_unknown_subset_or_dataset_lists_the_valid_names():
    with pytest.raises(ValueError) as info:
        subset_indices("P11", 748)
    assert "P1" in str(info.value) and "P10" in str(info.value)
    with pytest.raises(ValueError, match="bbbc004"):
        subset_indices("P1", 748, dataset="mnist")
    assert len(subset_indices("p2", 748)) == 4  # case-insensitive


def test_subset_sizes_must_be_non_decreasing():
    with pytest.raises(ValueError, match="non-decreasing"):
        nested_subsets(10, [4, 2])
