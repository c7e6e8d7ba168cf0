"""TIFF reading/writing and folder validation: round trips and error messages."""

import os

import numpy as np
import pytest
import tifffile

from keras_voidseg.data.io import (
    load_folder,
    load_images,
    read_image,
    read_labels,
    validate_labels,
    write_tiff,
)




@pytest.fixture
def dataset(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        tifffile.imwrite(tmp_path / "images" / f"{name}.tif",
                         rng.integers(0, 255, (20, 30)).astype(np.uint8))
        tifffile.imwrite(tmp_path / "masks" / f"{name}.tif",
                         rng.integers(0, 5, (20, 30)).astype(np.uint16))
    return tmp_path


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.int32])
def test_write_then_read_round_trip(tmp_path, dtype):
    array = (np.arange(35 * 47).reshape(35, 47) % 200).astype(dtype)
    path = write_tiff(tmp_path / "sub" / "x.tif", array)
    np.testing.assert_array_equal(tifffile.imread(path), array)
    assert tifffile.imread(path).dtype == dtype
    np.testing.assert_array_equal(read_image(path), array.astype(np.float32))
    assert read_image(path).dtype == np.float32
    if np.issubdtype(dtype, np.integer):
        np.testing.assert_array_equal(read_labels(path), array)
        assert read_labels(path).dtype == np.int32
    assert [p.name for p in path.parent.iterdir()] == ["x.tif"]  # no temp file left


def test_write_is_atomic_on_failure(tmp_path):
    target = tmp_path / "keep.tif"
    write_tiff(target, np.ones((4, 4), np.uint8))
    with pytest.raises(Exception):
        write_tiff(target, np.array([object()]))  # tifffile cannot write objects
    np.testing.assert_array_equal(tifffile.imread(target), np.ones((4, 4)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.tif"]


def test_rgb_is_converted_to_grey_and_rgba_drops_alpha(tmp_path):
    rgb = np.stack([np.full((10, 12), v, np.uint8) for v in (30, 60, 90)], axis=-1)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb)
    np.testing.assert_allclose(read_image(tmp_path / "rgb.tif"), np.full((10, 12), 60.0))
    rgba = np.concatenate([rgb, np.full((10, 12, 1), 255, np.uint8)], axis=-1)
    tifffile.imwrite(tmp_path / "rgba.tif", rgba)
    np.testing.assert_allclose(read_image(tmp_path / "rgba.tif"), np.full((10, 12), 60.0))


@pytest.mark.parametrize("shape", [(5, 20, 30), (3, 20, 30), (20, 30, 2), (2, 3, 20, 30)])
def test_stacks_and_channels_first_are_rejected_with_the_expected_axes(tmp_path, shape):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros(shape, np.uint8), photometric="minisblack")
    with pytest.raises(ValueError) as info:
        read_image(path)
    message = str(info.value)
    assert "stack.tif" in message and "(Y, X)" in message and "(Z, Y, X)" in message


def test_unreadable_and_missing_files(tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"this is not a tiff")
    with pytest.raises(ValueError, match="broken.tif") as info:
        read_image(bad)
    assert "valid" in str(info.value)
    with pytest.raises(FileNotFoundError, match="nothere.tif"):
        read_labels(tmp_path / "nothere.tif")


def test_label_validation_messages():
    with pytest.raises(ValueError, match=r"m\.tif.*non-integer"):
        validate_labels(np.array([[0.0, 1.5]]), "m.tif")
    with pytest.raises(ValueError, match=r"m\.tif.*negative"):
        validate_labels(np.array([[0, -1]]), "m.tif")
    with pytest.raises(ValueError, match=r"m\.tif.*boolean"):
        validate_labels(np.array([[True, False]]), "m.tif")
    with pytest.raises(ValueError, match=r"m\.tif.*2D"):
        validate_labels(np.zeros((3, 4, 5), np.uint16), "m.tif")
    # float masks holding whole numbers are accepted
    np.testing.assert_array_equal(validate_labels(np.array([[0.0, 2.0]])), [[0, 2]])


def test_negative_mask_file_names_the_file(dataset):
    tifffile.imwrite(dataset / "masks" / "b.tif", np.full((20, 30), -3, np.int16))
    with pytest.raises(ValueError, match=r"b\.tif.*negative"):
        load_folder(dataset)


def test_load_folder_pairs_by_name(dataset):
    images, labels, names = load_folder(dataset)
    assert names == ["a", "b"]
    assert all(img.dtype == np.float32 and img.shape == (20, 30) for img in images)
    np.testing.assert_array_equal(labels[1], tifffile.imread(dataset / "masks" / "b.tif"))
    np.testing.assert_array_equal(images[0], tifffile.imread(dataset / "images" / "a.tif"))


def test_missing_mask_names_the_image_and_the_folder(dataset):
    os.remove(dataset / "masks" / "b.tif")
    with pytest.raises(FileNotFoundError) as info:
        load_folder(dataset)
    message = str(info.value)
    assert "b.tif" in message and str(dataset / "masks") in message


def test_mask_without_image_is_reported(dataset):
    tifffile.imwrite(dataset / "masks" / "c.tif", np.zeros((20, 30), np.uint16))
    with pytest.raises(ValueError) as info:
        load_folder(dataset)
    assert "c.tif" in str(info.value) and str(dataset / "images") in str(info.value)


def test_shape_mismatch_names_both_shapes(dataset):
    tifffile.imwrite(dataset / "masks" / "a.tif", np.zeros((21, 30), np.uint16))
    with pytest.raises(ValueError) as info:
        load_folder(dataset)
    message = str(info.value)
    assert "a.tif" in message and "(20, 30)" in message and "(21, 30)" in message


def test_empty_and_missing_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such data-set folder"):
        load_folder(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="images"):
        load_folder(tmp_path)
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match="no .tif"):
        load_folder(tmp_path)


def test_images_only_folder(dataset):
    for p in (dataset / "masks").iterdir():
        p.unlink()
    (dataset / "masks").rmdir()
    with pytest.raises(FileNotFoundError, match="masks"):
        load_folder(dataset)
    images, labels, names = load_folder(dataset, require_masks=False)
    assert labels is None and names == ["a", "b"] and len(images) == 2
    single, single_names = load_images(dataset / "images" / "a.tif")
    assert single_names == ["a"]
    np.testing.assert_array_equal(single[0], images[0])
    many, many_names = load_images(dataset)
    assert many_names == ["a", "b"]


def test_planar_rgb_is_read_channels_last(tmp_path):
    planes = np.stack([np.full((10, 12), v, np.uint8) for v in (30, 60, 90)])
    tifffile.imwrite(tmp_path / "planar.tif", planes, photometric="rgb", planarconfig="separate")
    np.testing.assert_allclose(read_image(tmp_path / "planar.tif"), np.full((10, 12), 60.0))
