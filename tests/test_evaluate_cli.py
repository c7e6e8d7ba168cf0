"""``kvs evaluate`` on real label TIFFs (click.testing.CliRunner); scores checked against
stardist.matching and our own dataset functions.  Not Keras tests."""

import csv
import json
import warnings

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

from cli.main import cli, main
from keras_voidseg.data.synthetic import synthesize
from keras_voidseg.metrics import seg_score, seg_score_dataset


def scene(seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return synthesize(96, n_nuclei=10, seed=seed)[1]


def prediction(labels, seed):
    rng = np.random.default_rng(seed)
    pred = np.roll(labels, (seed + 1, -1), axis=(0, 1))
    pred[np.isin(pred, rng.choice(np.unique(pred)[1:], 2, replace=False))] = 0
    pred[5:15, 60:75] = 500 + seed  # false positive
    return pred.astype(np.uint16)


@pytest.fixture
def folders(tmp_path):
    (tmp_path / "gt" / "masks").mkdir(parents=True)
    (tmp_path / "pred").mkdir()
    gts, preds = [], []
    for i in range(3):
        gts.append(scene(i))
        preds.append(prediction(gts[-1], i))
        tifffile.imwrite(tmp_path / "gt" / "masks" / f"img{i}.tif", gts[-1].astype(np.uint16))
        tifffile.imwrite(tmp_path / "pred" / f"img{i}.labels.tif", preds[-1])
    return tmp_path, gts, preds


def run(*args):
    return CliRunner().invoke(cli, ["evaluate", *map(str, args)], catch_exceptions=False)


def test_folders_table_json_and_csv(folders):
    from stardist.matching import matching as sd_matching
    from stardist.matching import matching_dataset as sd_matching_dataset

    tmp, gts, preds = folders
    result = run(tmp / "gt", tmp / "pred", "--thresh", "0.5,0.7", "--out", tmp / "scores.json")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["image", "IoU", "AP", "SEG"]
    assert sum(line.startswith("img") for line in lines) == 6 and sum(line.startswith("ALL") for line in lines) == 2
    assert sum(line.startswith("---") for line in lines) == 1
    data = json.loads((tmp / "scores.json").read_text())
    assert data["thresholds"] == [0.5, 0.7] and data["n_images"] == 3
    for row in data["per_image"]:
        i = int(row["image"][3:])
        ref = sd_matching(gts[i], preds[i], thresh=row["thresh"])
        assert (row["tp"], row["fp"], row["fn"]) == (ref.tp, ref.fp, ref.fn)
        assert row["ap"] == pytest.approx(ref.accuracy) and row["f1"] == pytest.approx(ref.f1)
        assert row["seg"] == pytest.approx(seg_score(gts[i], preds[i]))
    for row, ref in zip(data["dataset"], sd_matching_dataset(gts, preds, thresh=(0.5, 0.7), show_progress=False)):
        assert (row["tp"], row["fp"], row["fn"]) == (ref.tp, ref.fp, ref.fn)
        assert row["ap"] == pytest.approx(ref.accuracy) and row["precision"] == pytest.approx(ref.precision)
        assert row["seg"] == pytest.approx(seg_score_dataset(gts, preds))
        assert 0 < row["ap"] < 1
    result = run(tmp / "gt", tmp / "pred", "--out", tmp / "scores.csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(open(tmp / "scores.csv")))
    assert [r["image"] for r in rows] == ["img0", "img1", "img2", "ALL"]
    assert float(rows[-1]["ap"]) == pytest.approx(data["dataset"][0]["ap"])
    assert not list(tmp.glob(".scores*"))  # atomic writes leave no temp files


def test_single_files(folders):
    tmp, gts, preds = folders
    result = run(tmp / "gt" / "masks" / "img1.tif", tmp / "pred" / "img1.labels.tif")
    assert result.exit_code == 0
    ap = float(next(line for line in result.output.splitlines() if line.startswith("ALL")).split()[2])
    from stardist.matching import matching as sd_matching

    assert ap == pytest.approx(sd_matching(gts[1], preds[1]).accuracy, abs=5e-4)


def test_missing_prediction_names_the_file(folders):
    tmp, _, _ = folders
    (tmp / "pred" / "img1.labels.tif").unlink()
    result = run(tmp / "gt", tmp / "pred")
    assert result.exit_code == 1
    assert "no prediction for" in result.output and "img1.tif" in result.output and "img1.labels.tif" in result.output


def test_bad_usage(folders):
    tmp, _, _ = folders
    result = run(tmp / "gt", tmp / "pred", "--thresh", "0.5,high")
    assert result.exit_code == 2 and "--thresh" in result.output
    result = run(tmp / "gt", tmp / "pred", "--thresh", "1.5")
    assert result.exit_code == 2
    result = run(tmp / "gt", tmp / "pred", "--out", tmp / "scores.txt")
    assert result.exit_code == 2 and ".json or .csv" in result.output
    tifffile.imwrite(tmp / "pred" / "img1.tif", np.zeros((5, 5), np.uint16))  # pairs like img1.labels.tif
    result = run(tmp / "gt", tmp / "pred")
    assert result.exit_code == 1 and "both pair as 'img1'" in result.output


def test_unreadable_labels_give_one_line_error(folders, capsys):
    tmp, _, _ = folders
    tifffile.imwrite(tmp / "pred" / "img2.labels.tif", np.full((96, 96), 0.5, np.float32))
    assert main(["evaluate", str(tmp / "gt"), str(tmp / "pred")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "img2.labels.tif" in err and "non-integer" in err


def test_help_has_an_example():
    result = CliRunner().invoke(cli, ["evaluate", "--help"])
    assert result.exit_code == 0 and "Example:" in result.output and "kvs evaluate" in result.output
