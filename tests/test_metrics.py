"""Matching/AP and SEG against stardist.matching and py-ctcmetrics; 3-class post-processing."""

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from keras_voidseg.data.synthetic import synthesize
from keras_voidseg.metrics import matching, matching_dataset, seg_score, seg_score_dataset
from keras_voidseg.postprocess import labels_to_three_class, three_class_to_labels

pytest.importorskip("stardist")
from stardist.matching import matching as sd_matching  # noqa: E402
from stardist.matching import matching_dataset as sd_matching_dataset  # noqa: E402

THRESHOLDS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)
FIELDS = ("tp", "fp", "fn", "n_true", "n_pred")
SCORES = ("precision", "recall", "accuracy", "f1", "mean_true_score", "mean_matched_score", "panoptic_quality")


def assert_same(ours, ref):
    for field in FIELDS:
        assert getattr(ours, field) == getattr(ref, field), field
    for field in SCORES:  # stardist accumulates IoUs in another order: agree to 1e-7
        assert getattr(ours, field) == pytest.approx(getattr(ref, field), abs=1e-7), field
    assert ours.ap == ours.accuracy


def perturbed(labels, seed):
    """Shifted, partly dropped, merged and split objects plus false positives, huge ids."""
    rng = np.random.default_rng(seed)
    pred = np.roll(labels, (2, -1), axis=(0, 1)).copy()
    ids = np.unique(pred)[1:]
    pred[np.isin(pred, rng.choice(ids, 3, replace=False))] = 0  # missed objects
    pred[pred == ids[5]] = ids[6]  # merge
    pred[10:20, 10:20] = pred.max() + 1  # false positive
    half = (pred == ids[8]) & (np.arange(pred.shape[1]) % 2 == 0)
    pred[half] = pred.max() + 1  # split
    return np.where(pred > 0, pred.astype(np.int64) * 1_000_003 + 7, 0)


def ctc_seg(gt, pred, tmp_path):
    from ctc_metrics.metrics.technical.seg import seg
    from ctc_metrics.utils.representations import match

    ref, comp = tmp_path / "ref.tif", tmp_path / "comp.tif"
    tifffile.imwrite(ref, gt.astype(np.uint16))
    tifffile.imwrite(comp, pred.astype(np.uint16))
    labels_ref, _, _, _, ious = match(str(ref), str(comp))
    return seg([labels_ref], [ious])


def test_matching_equals_stardist_on_realistic_pairs():
    _, gt = synthesize(160, n_nuclei=25, seed=3)
    pred = perturbed(gt, 0)
    for ours, ref in zip(matching(gt, pred, thresh=THRESHOLDS), sd_matching(gt, pred, thresh=THRESHOLDS)):
        assert_same(ours, ref)
    assert 0 < matching(gt, pred).ap < 1


def test_matching_dataset_equals_stardist():
    pairs = [synthesize(96, n_nuclei=10, seed=s)[1] for s in range(3)]
    preds = [perturbed(p, s) % 60000 for s, p in enumerate(pairs)]
    ours = matching_dataset(pairs, preds, thresh=(0.3, 0.5))
    ref = sd_matching_dataset(pairs, preds, thresh=(0.3, 0.5), show_progress=False)
    for a, b in zip(ours, ref):
        assert_same(a, b)


label_images = arrays(np.int64, st.tuples(st.integers(1, 9), st.integers(1, 9)), elements=st.integers(0, 4))


@settings(max_examples=60, deadline=None)
@given(label_images, st.data())
def test_matching_edge_cases_equal_stardist(gt, data):
    pred = data.draw(arrays(np.int64, gt.shape, elements=st.sampled_from([0, 1, 2, 7, 2**40])))
    for thresh in THRESHOLDS:
        assert_same(matching(gt, pred, thresh=thresh), sd_matching(gt, pred % 65521, thresh=thresh))


def python_seg(gt, pred):
    """Plain-Python CTC SEG."""
    scores = []
    for r in np.unique(gt[gt > 0]):
        region = gt == r
        best = 0.0
        for s in np.unique(pred[region & (pred > 0)]):
            inter = np.sum(region & (pred == s))
            if inter > 0.5 * region.sum():
                best = inter / np.sum(region | (pred == s))
        scores.append(best)
    return float(np.mean(scores)) if scores else 0.0


def test_seg_equals_ctc_metrics(tmp_path):
    _, gt = synthesize(128, n_nuclei=15, seed=4)
    pred = perturbed(gt, 1) % 60000
    ours = seg_score(gt, pred)
    assert ours == pytest.approx(ctc_seg(gt, pred, tmp_path), abs=1e-9)
    assert ours == pytest.approx(python_seg(gt, pred), abs=1e-12)
    assert seg_score_dataset([gt, gt], [pred, gt]) == pytest.approx(
        (ours * len(np.unique(gt)[1:]) + len(np.unique(gt)[1:])) / (2 * len(np.unique(gt)[1:])))


@settings(max_examples=40, deadline=None)
@given(label_images, st.data())
def test_seg_edge_cases_equal_plain_python(gt, data):
    pred = data.draw(arrays(np.int64, gt.shape, elements=st.sampled_from([0, 3, 9, 2**35])))
    assert seg_score(gt, pred) == pytest.approx(python_seg(gt, pred), abs=1e-12)


def test_bad_inputs_name_the_argument():
    good = np.zeros((4, 4), np.int32)
    with pytest.raises(ValueError, match="y_true"):
        matching(good + 0.5, good)
    with pytest.raises(ValueError, match="y_pred"):
        matching(good, -np.ones((4, 4), np.int32))
    with pytest.raises(ValueError, match="shape"):
        seg_score(good, np.zeros((4, 5), np.int32))
    with pytest.raises(ValueError, match="y_true"):
        seg_score(np.zeros((2, 4, 4), np.int32), np.zeros((2, 4, 4), np.int32))


def test_three_class_equals_inner_boundaries():
    from skimage.segmentation import find_boundaries

    _, labels = synthesize(96, n_nuclei=12, seed=6, gap=0)
    classes = labels_to_three_class(labels)
    border = find_boundaries(labels, mode="inner") & (labels > 0)
    np.testing.assert_array_equal(classes == 2, border)
    np.testing.assert_array_equal(classes == 1, (labels > 0) & ~border)
    np.testing.assert_array_equal(classes == 0, labels == 0)


def test_three_class_round_trip_gives_back_the_objects():
    _, labels = synthesize(128, n_nuclei=15, seed=7)
    onehot = np.eye(3, dtype=np.float32)[labels_to_three_class(labels)]
    back = three_class_to_labels(onehot, threshold=0.5)
    m = matching(labels, back, thresh=0.9)
    assert m.ap == 1.0
    assert seg_score(labels, back) > 0.99


def test_kvs_evaluate_table_json_and_csv(tmp_path, capsys):
    import csv
    import json

    from cli.main import main

    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    gts = []
    for i in range(2):
        _, gt = synthesize(96, n_nuclei=12, seed=i)
        gts.append(gt)
        tifffile.imwrite(tmp_path / "gt" / f"img{i}.tif", gt.astype(np.uint16))
        tifffile.imwrite(tmp_path / "pred" / f"img{i}.labels.tif", perturbed(gt, i).astype(np.int64) % 60000)
    assert main(["evaluate", str(tmp_path / "gt"), str(tmp_path / "pred"), "--thresh", "0.5,0.7",
                 "--out", str(tmp_path / "s.json")]) == 0
    assert "ALL" in capsys.readouterr().out
    rows = json.loads((tmp_path / "s.json").read_text())
    overall = [r for r in rows if r["image"] == "ALL" and r["thresh"] == 0.5][0]
    preds = [perturbed(g, i) % 60000 for i, g in enumerate(gts)]
    assert overall["ap"] == pytest.approx(matching_dataset(gts, preds).ap)
    assert main(["evaluate", str(tmp_path / "gt"), str(tmp_path / "pred"), "--out", str(tmp_path / "s.csv")]) == 0
    assert len(list(csv.DictReader(open(tmp_path / "s.csv")))) == 3
    (tmp_path / "pred" / "img1.labels.tif").unlink()
    assert main(["evaluate", str(tmp_path / "gt"), str(tmp_path / "pred")]) == 1
    assert "img1" in capsys.readouterr().err
