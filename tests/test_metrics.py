"""matching / matching_dataset against stardist.matching and a brute-force reference;
seg_score against py-ctcmetrics and a plain-Python reference; the overlap kernel against
numpy.  Not Keras tests."""

import itertools
import warnings

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
from skimage.segmentation import relabel_sequential

from keras_voidseg.data.synthetic import synthesize
from keras_voidseg.metrics import (check_labels, label_overlaps, matching, matching_dataset, seg_per_object,
                                   seg_score, seg_score_dataset)
from keras_voidseg.metrics._overlap import count_pairs

sd = pytest.importorskip("stardist.matching")

THRESHOLDS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)
COUNTS = ("tp", "fp", "fn", "n_true", "n_pred")
RATIOS = ("precision", "recall", "accuracy", "f1", "mean_true_score", "mean_matched_score", "panoptic_quality")


def assert_same(ours, ref):
    """All of StarDist's fields; ratios to float32 precision (StarDist sums float32 scores)."""
    assert ours.criterion == ref.criterion and ours.thresh == pytest.approx(ref.thresh)
    for field in COUNTS:
        assert getattr(ours, field) == getattr(ref, field), field
    for field in RATIOS:
        assert getattr(ours, field) == pytest.approx(float(getattr(ref, field)), rel=2e-6, abs=1e-7), field
    assert ours.ap == ours.accuracy


def scene(size, n, seed, gap=2):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "only k of n nuclei fit"
        return synthesize(size, n_nuclei=n, seed=seed, gap=gap)[1]


def perturbed(labels, seed):
    """A realistic prediction: shifted, eroded/dilated, objects dropped, merged, split, false
    positives; relabelled with huge non-contiguous ids."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    pred = np.roll(labels, (rng.integers(-3, 4), rng.integers(-3, 4)), axis=(0, 1)).astype(np.int64)
    ids = rng.permutation(np.unique(pred)[1:])
    pred[np.isin(pred, ids[:3])] = 0  # missed
    pred[pred == ids[3]] = ids[4]  # merged
    split = pred == ids[5]
    pred[split & (np.arange(pred.shape[1]) >= np.flatnonzero(split.any(0)).mean())] = 10_000  # split
    pred[np.isin(pred, ids[6:9])] = 0
    grown = ndimage.grey_dilation(np.where(np.isin(labels, ids[6:9]), labels, 0), size=(5, 5))
    pred[(pred == 0) & (grown > 0)] = grown[(pred == 0) & (grown > 0)]  # over-segmented
    pred[ndimage.binary_erosion(pred > 0, iterations=2) != (pred > 0)] *= rng.random() < 0.5  # under-seg.
    y, x = rng.integers(0, pred.shape[0] - 12, 2)
    pred[y:y + 12, x:x + 12] = 20_000  # false positive
    overlap_fp = pred == ids[9]
    pred[np.roll(overlap_fp, 6, axis=0)] = 30_000  # competing partner of a true object
    huge = rng.choice(2**40, size=pred.max() + 1, replace=False) + 1
    huge[0] = 0
    return huge[pred]


def sequential(labels):
    return relabel_sequential(np.asarray(labels))[0].astype(np.int32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matching_equals_stardist_on_realistic_pairs(seed):
    gt = scene(160, 25, seed)
    pred = perturbed(gt, seed)
    ours = matching(gt, pred, thresh=THRESHOLDS)
    for m, ref in zip(ours, sd.matching(gt, sequential(pred), thresh=THRESHOLDS)):
        assert_same(m, ref)
    assert 0 < ours[3].ap < 1 and ours[3].fp > 0 and ours[3].fn > 0
    for criterion in ("iot", "iop"):
        for m, ref in zip(matching(gt, pred, thresh=(0.3, 0.5, 0.8), criterion=criterion),
                          sd.matching(gt, sequential(pred), thresh=(0.3, 0.5, 0.8), criterion=criterion)):
            assert_same(m, ref)


def test_report_matches_lists_stardists_overlapping_pairs():
    gt = scene(128, 15, 5)
    pred = sequential(perturbed(gt, 5))
    for thresh in (0.1, 0.5, 0.8):
        ours = matching(gt, pred, thresh=thresh, report_matches=True)
        ref = sd.matching(gt, pred, thresh=thresh, report_matches=True)
        ref_pairs = {p: s for p, s in zip(ref.matched_pairs, ref.matched_scores) if s > 0}
        assert dict(zip(ours.matched_pairs, ours.matched_scores)) == pytest.approx(ref_pairs)
        assert len(ours.matched_tps) == ours.tp == ref.tp
        assert all(ours.matched_scores[i] >= np.float32(thresh) for i in ours.matched_tps)
    assert matching(gt, pred).matched_pairs is None and "matched_pairs" not in matching(gt, pred).to_dict()


@pytest.mark.parametrize("by_image", [False, True])
def test_matching_dataset_equals_stardist(by_image):
    gts = [scene(96, 10, s) for s in range(3)] + [np.zeros((96, 96), np.int32)]
    preds = [perturbed(g, s) for s, g in enumerate(gts[:3])] + [scene(96, 3, 9)]
    ours = matching_dataset(gts, preds, thresh=(0.1, 0.5, 0.7), by_image=by_image)
    ref = sd.matching_dataset(gts, [sequential(p) for p in preds], thresh=(0.1, 0.5, 0.7),
                              by_image=by_image, show_progress=False)
    for a, b in zip(ours, ref):
        assert_same(a, b)
    single = matching_dataset(gts, preds, thresh=0.5, by_image=by_image)
    assert single == ours[1]


def brute_force(gt, pred, thresh):
    """Plain Python: every one-to-one assignment; maximise (#pairs >= thresh, score sum);
    returns tp and the set of possible sums of TP scores among the optimal assignments."""
    t_ids, p_ids = list(np.unique(gt[gt > 0])), list(np.unique(pred[pred > 0]))
    iou = np.zeros((len(t_ids), len(p_ids)), np.float32)
    for i, t in enumerate(t_ids):
        for j, p in enumerate(p_ids):
            inter = np.sum((gt == t) & (pred == p))
            iou[i, j] = inter / np.sum((gt == t) | (pred == p))
    small, large = (t_ids, p_ids) if len(t_ids) <= len(p_ids) else (p_ids, t_ids)
    best, sums = None, set()
    for perm in itertools.permutations(range(len(large)), len(small)):
        pairs = [(i, j) if len(t_ids) <= len(p_ids) else (j, i) for i, j in enumerate(perm)]
        scores = [iou[i, j] for i, j in pairs]
        ok = [s for s in scores if s >= np.float32(thresh)]
        key = (len(ok), round(sum(map(float, scores)), 9))
        if best is None or key > best:
            best, sums = key, set()
        if key == best:
            sums.add(round(sum(map(float, ok)), 6))
    return (best[0] if best else 0), (sums or {0.0})


tiny = arrays(np.int64, st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=st.integers(0, 3))


@settings(max_examples=60, deadline=None)
@given(tiny, st.data(), st.sampled_from(THRESHOLDS))
def test_matching_equals_brute_force_reference(gt, data, thresh):
    pred = data.draw(arrays(np.int64, gt.shape, elements=st.sampled_from([0, 5, 9, 2**40])))
    m = matching(gt, pred, thresh=thresh)
    tp, sums = brute_force(gt, pred, thresh)
    assert m.tp == tp
    assert round(m.mean_true_score * m.n_true, 6) in sums


small = arrays(np.int32, st.tuples(st.integers(1, 10), st.integers(1, 10)), elements=st.integers(0, 5))


@settings(max_examples=60, deadline=None)
@given(small, small)
def test_matching_edge_cases_equal_stardist(gt, other):
    """Empty images, all background, one object, touching objects, objects on the border."""
    pred = np.resize(other, gt.shape) * 7 + (other.size % 3)  # shifted, non-contiguous ids
    pred[np.resize(other, gt.shape) == 0] = 0
    for m, ref in zip(matching(gt, pred, thresh=THRESHOLDS), sd.matching(gt, sequential(pred), thresh=THRESHOLDS)):
        assert_same(m, ref)


def test_matching_of_3d_volumes_equals_stardist():
    gt = np.stack([scene(48, 5, s) for s in range(4)])
    pred = np.roll(gt, 1, axis=0)
    for m, ref in zip(matching(gt, pred, thresh=(0.1, 0.5)), sd.matching(gt, pred, thresh=(0.1, 0.5))):
        assert_same(m, ref)


def test_images_without_objects():
    empty = np.zeros((8, 8), np.uint8)
    one = empty.copy()
    one[2:5, 2:5] = 3
    assert matching(empty, empty).ap == 0 and matching(empty, empty).tp == 0
    m = matching(one, empty)
    assert (m.tp, m.fn, m.fp, m.recall, m.mean_true_score) == (0, 1, 0, 0.0, 0.0)
    assert matching(one, one, thresh=1.0).ap == 1.0
    assert matching(np.zeros((0, 4), np.int32), np.zeros((0, 4), np.int32)).n_true == 0
    assert seg_score(empty, one) == 0.0 and seg_score(one, empty) == 0.0 and seg_score(one, one) == 1.0


# ------------------------------------------------------------------ SEG
def ctc_match(gt, pred, tmp_path, name):
    from ctc_metrics.utils.representations import match

    ref, comp = tmp_path / f"{name}_ref.tif", tmp_path / f"{name}_comp.tif"
    tifffile.imwrite(ref, gt.astype(np.uint16))
    tifffile.imwrite(comp, pred.astype(np.uint16))
    labels_ref, _, _, _, ious = match(str(ref), str(comp))
    return labels_ref, ious


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
    from ctc_metrics.metrics.technical.seg import seg

    gts = [scene(128, 15, s) for s in range(3)]
    preds = [perturbed(g, s) for s, g in enumerate(gts)]
    matches = []
    for i, (gt, pred) in enumerate(zip(gts, preds)):
        small_ids = sequential(pred)  # ctc adds max(gt)+1 to the uint16 prediction
        matches.append(ctc_match(gt, small_ids, tmp_path, str(i)))
        ref = seg([matches[-1][0]], [matches[-1][1]])
        assert seg_score(gt, pred) == pytest.approx(ref, abs=1e-9)
        assert seg_score(gt, pred) == pytest.approx(python_seg(gt, pred), abs=1e-12)
        assert 0.2 < ref < 0.95
    ref_all = seg([m[0] for m in matches], [m[1] for m in matches])
    assert seg_score_dataset(gts, preds) == pytest.approx(ref_all, abs=1e-9)
    ids, per_object = seg_per_object(gts[0], preds[0])
    assert list(ids) == matches[0][0] and per_object.mean() == pytest.approx(seg_score(gts[0], preds[0]))


@settings(max_examples=50, deadline=None)
@given(small, st.data())
def test_seg_edge_cases_equal_plain_python(gt, data):
    pred = data.draw(arrays(np.int64, gt.shape, elements=st.sampled_from([0, 3, 9, 2**35])))
    assert seg_score(gt, pred) == pytest.approx(python_seg(gt, pred), abs=1e-12)


# ------------------------------------------------------------------ overlap kernel
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 3000), st.integers(1, 2**62), st.integers(0, 10_000))
def test_count_pairs_equals_numpy(n, high, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, min(high, 50), n) * (high // 50 + 1)
    b = np.repeat(rng.integers(0, high, n // 3 + 1), 3)[:n] * (rng.random(n) < 0.8)
    ids_a, ids_b, counts = count_pairs(a, b)
    keep = (a != 0) | (b != 0)
    pairs, expected = np.unique(np.stack([a[keep], b[keep]]), axis=1, return_counts=True)
    order = np.lexsort((ids_b, ids_a))
    np.testing.assert_array_equal(np.stack([ids_a[order], ids_b[order]]), pairs.reshape(2, -1))
    np.testing.assert_array_equal(counts[order], expected)


def test_overlaps_of_many_distinct_pairs_any_dtype():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 5000, (200, 200)).astype(np.uint16)  # > 4096 table slots: the table grows
    pred = rng.integers(0, 300, (200, 200)).astype(np.uint32)
    ov = label_overlaps(gt, pred)
    np.testing.assert_array_equal(ov.true_sizes, np.bincount(gt.ravel())[ov.true_ids])
    np.testing.assert_array_equal(ov.pred_sizes, np.bincount(pred.ravel())[ov.pred_ids])
    pair_counts = np.unique(np.stack([gt.ravel(), pred.ravel()])[:, (gt.ravel() > 0) & (pred.ravel() > 0)],
                            axis=1, return_counts=True)[1]
    assert sorted(ov.intersection) == sorted(pair_counts)
    assert matching(gt.astype(np.int32), pred.astype(np.uint64)) == matching(gt, pred)
    assert matching(gt.astype(">u2"), pred.astype(">i8")) == matching(gt, pred)  # big-endian (TIFF) data


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("bad, pattern", [
    (np.full((4, 4), 0.5), r"y_pred has float dtype float64.*non-integer values \(e\.g\. 0\.5\)"),
    (np.ones((4, 4), np.float32), r"y_pred has float dtype.*whole numbers only.*astype\(np\.int32\)"),
    (np.ones((4, 4), bool), r"y_pred is a boolean mask.*skimage\.measure\.label"),
    (-np.ones((4, 4), np.int32), r"y_pred has negative id -1"),
    (np.full((4, 4), 2**63 + 5, np.uint64), r"y_pred has id \d+ > 2\*\*63 - 1"),
    (np.zeros((4,), np.int32), r"y_pred must be a 2D \(Y, X\) or 3D \(Z, Y, X\) label image, got shape \(4,\)"),
    (np.zeros((4, 5), np.int32), r"y_true has shape \(4, 4\) but y_pred has shape \(4, 5\)"),
])
def test_bad_inputs_name_the_argument_the_value_and_the_fix(bad, pattern):
    good = np.zeros((4, 4), np.int32)
    for fn in (matching, seg_score):
        with pytest.raises(ValueError, match=pattern):
            fn(good, bad)
    with pytest.raises(ValueError, match=pattern.replace("y_pred", "y_true").replace(
            r"y_true has shape \(4, 4\) but y_true has shape \(4, 5\)", r"y_true has shape \(4, 5\) but y_pred")):
        matching(bad, good)


def test_bad_arguments():
    good = np.zeros((4, 4), np.int32)
    with pytest.raises(ValueError, match="thresh must be in"):
        matching(good, good, thresh=1.5)
    assert matching(good, good, thresh=np.float32(0.5)).thresh == 0.5
    assert len(matching(good, good, thresh=np.linspace(0.5, 0.9, 5))) == 5
    assert matching(good, good)._asdict() == matching(good, good).to_dict()
    with pytest.raises(ValueError, match="criterion must be one of"):
        matching(good, good, criterion="dice")
    with pytest.raises(ValueError, match="y_trues has 2 images but y_preds has 1"):
        matching_dataset([good, good], [good])
    with pytest.raises(ValueError, match="y_trues has 1 images"):
        seg_score_dataset([good], [])
    assert check_labels([[0, 1], [2, 0]]).dtype.kind == "i"
