"""`kvs data synth` / `kvs data info`, and the preview helpers they use."""

import numpy as np
import tifffile
from click.testing import CliRunner
from PIL import Image

from cli.main import cli, main
from keras_voidseg.data.synthetic import synthesize
from keras_voidseg.preview import label_colors, label_overlay, save_montage


def test_synth_writes_images_masks_and_preview(tmp_path):
    out = tmp_path / "synth"
    result = CliRunner().invoke(
        cli, ["data", "synth", "--out", str(out), "--images", "2", "--size", "96", "--seed", "7"]
    )
    assert result.exit_code == 0, result.output
    assert "s per image" in result.output
    for i in range(2):
        image = tifffile.imread(out / "images" / f"synth_{i:03d}.tif")
        mask = tifffile.imread(out / "masks" / f"synth_{i:03d}.tif")
        assert image.dtype == np.uint8 and mask.dtype == np.uint16
        clean, labels = synthesize(96, seed=(7, i))
        np.testing.assert_array_equal(mask, labels)
        np.testing.assert_array_equal(image, np.clip(np.round(clean), 0, 255).astype(np.uint8))
    preview = np.asarray(Image.open(out / "preview.png"))
    assert preview.ndim == 3 and preview.shape[0] > 96 and preview.shape[1] > 2 * 96

    again = CliRunner().invoke(cli, ["data", "synth", "--out", str(out), "--images", "1", "--size", "96"])
    assert again.exit_code == 1 and "--overwrite" in again.output
    forced = CliRunner().invoke(
        cli, ["data", "synth", "--out", str(out), "--images", "1", "--size", "96", "--overwrite"]
    )
    assert forced.exit_code == 0, forced.output

    info = CliRunner().invoke(cli, ["data", "info", str(out)])
    assert info.exit_code == 0, info.output
    assert "2 image(s)" in info.output and "96x96" in info.output


def test_info_reports_a_broken_folder_as_one_line_error(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    tifffile.imwrite(tmp_path / "images" / "a.tif", np.zeros((8, 8), np.uint8))
    (tmp_path / "masks").mkdir()
    assert main(["data", "info", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error:") and "a.tif" in err


def test_help_has_an_example(capsys):
    assert main(["data", "synth", "--help"]) == 0
    assert "kvs data synth --out" in capsys.readouterr().out
    assert main(["data", "--help"]) == 0
    assert "synth" in capsys.readouterr().out


def test_label_colors_are_distinct_and_background_black():
    colors = label_colors(300)
    assert colors.shape == (301, 3) and colors.dtype == np.uint8
    assert (colors[0] == 0).all()
    assert len({tuple(c) for c in colors[1:]}) == 300
    # consecutive ids (often neighbours) look clearly different
    gaps = np.abs(colors[2:].astype(int) - colors[1:-1].astype(int)).sum(axis=1)
    assert gaps.min() > 60


def test_overlay_keeps_background_and_colours_objects(tmp_path):
    image = np.linspace(0, 200, 40 * 50, dtype=np.float32).reshape(40, 50)
    labels = np.zeros((40, 50), np.int32)
    labels[5:15, 5:15] = 1
    labels[20:35, 25:45] = 2
    rgb = label_overlay(image, labels)
    assert rgb.shape == (40, 50, 3) and rgb.dtype == np.uint8
    background = rgb[labels == 0]
    assert (background[:, 0] == background[:, 1]).all() and (background[:, 1] == background[:, 2]).all()
    colors = label_colors(2)
    np.testing.assert_array_equal(rgb[5, 5], colors[1])  # outline pixel, fully opaque
    inner = rgb[25, 30].astype(int)
    assert not (inner[0] == inner[1] == inner[2])  # tinted, not grey
    path = save_montage(tmp_path / "m.png", [("image", image), ("overlay", rgb)])
    picture = np.asarray(Image.open(path))
    assert picture.shape[1] == 50 + 50 + 6 and picture.shape[0] > 40
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]


def test_demo_without_shipped_pipelines_writes_the_data_preview(tmp_path, monkeypatch):
    import json

    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"format": 1, "pipelines": []}))
    monkeypatch.setenv("KVS_CATALOG", str(catalog))
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    preview = np.asarray(Image.open(tmp_path / "demo" / "preview.png"))
    assert preview.ndim == 3 and preview.shape[1] > 3 * 384
    assert tifffile.imread(tmp_path / "demo" / "ground_truth.tif").max() > 10
