"""Instance-segmentation scores: StarDist-style ``matching`` (AP, F1, PQ, ...) and CTC ``seg_score``.

Definitions (DESIGN §4), identical to the reference implementations the tests compare with:

* :func:`matching` follows ``stardist.matching.matching``: IoU of every true/predicted object
  pair, a one-to-one assignment maximising first the number of pairs with IoU >= ``thresh``
  (StarDist compares with ``>=``), and
  ``ap = accuracy = TP / (TP + FP + FN)`` (the paper's AP), precision = TP / (TP + FP),
  recall = TP / (TP + FN), F1, mean_matched_score (mean IoU of the TPs), mean_true_score
  (sum of TP IoUs / number of true objects) and panoptic quality.
* :func:`seg_score` is the Cell Tracking Challenge SEG (py-ctcmetrics): a true object R is
  matched by the predicted S with ``|R ∩ S| > 0.5 |R|`` (at most one S can do that), its
  Jaccard index counts, unmatched true objects count 0; SEG = mean over true objects
  (0 when there are none).  :func:`seg_score_dataset` averages over all true objects of a
  data set, as the CTC does.

Why it is fast: object ids are mapped to consecutive indices with a lookup table (no
sort), the pixel pairs are counted in one numba pass, and only overlapping pairs are ever
looked at.  For ``thresh >= 0.5`` an object can have at most one partner with IoU above
the threshold, so the optimal assignment is read off directly; only lower thresholds (or
the exact-0.5 tie case) go through ``scipy.optimize.linear_sum_assignment``, on the
overlapping rows and columns only.  Label ids need not be contiguous and may be huge.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numba
import numpy as np

from keras_voidseg.postprocess import check_labels

#: ids up to this factor x image size are mapped through a dense lookup table
_LUT_FACTOR = 4
#: dense pair-count matrices up to this many cells, sparse (sorted keys) beyond
_DENSE_CELLS = 40_000_000


@dataclass(frozen=True)
class Matching:
    """Scores of one image (or a data set) at one IoU threshold (StarDist's fields + ``ap``)."""

    criterion: str
    thresh: float
    fp: int
    tp: int
    fn: int
    precision: float
    recall: float
    accuracy: float
    f1: float
    n_true: int
    n_pred: int
    mean_true_score: float
    mean_matched_score: float
    panoptic_quality: float

    @property
    def ap(self) -> float:
        """The paper's AP: TP / (TP + FP + FN) (StarDist's ``accuracy``)."""
        return self.accuracy

    def to_dict(self) -> dict:
        return {**asdict(self), "ap": self.accuracy}


# ------------------------------------------------------------------ label preparation
@numba.njit(cache=True)
def _lut_relabel(flat, max_id):
    """Consecutive indices 1..n for the ids present in ``flat`` (0 stays 0), in id order."""
    present = np.zeros(max_id + 1, np.bool_)
    for v in flat:
        present[v] = True
    lut = np.zeros(max_id + 1, np.int64)
    n = 0
    for v in range(1, max_id + 1):
        if present[v]:
            n += 1
            lut[v] = n
    out = np.empty(flat.size, np.int64)
    for i in range(flat.size):
        out[i] = lut[flat[i]]
    return out, n


@numba.njit(cache=True)
def _hash_relabel(flat):
    """Like :func:`_lut_relabel` for huge ids: an open-addressing hash table looked up
    once per run of equal pixels; indices in order of first appearance."""
    runs = 1
    for i in range(1, flat.size):
        if flat[i] != flat[i - 1]:
            runs += 1
    capacity = 16
    while capacity < 2 * runs:
        capacity *= 2
    keys = np.full(capacity, -1, np.int64)
    values = np.zeros(capacity, np.int64)
    out = np.empty(flat.size, np.int64)
    n = 0
    previous, current = -1, 0
    for i in range(flat.size):
        v = flat[i]
        if v != previous:
            previous = v
            if v == 0:
                current = 0
            else:
                slot = (v * 0x5851F42D4C957F2D) & (capacity - 1)
                while keys[slot] != -1 and keys[slot] != v:
                    slot = (slot + 1) & (capacity - 1)
                if keys[slot] == -1:
                    keys[slot] = v
                    n += 1
                    values[slot] = n
                current = values[slot]
        out[i] = current
    return out, n


def _consecutive(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Flat int64 indices 1..n (0 = background) and n, for any non-negative integer ids."""
    flat = np.ascontiguousarray(labels).reshape(-1).astype(np.int64, copy=False)
    max_id = int(flat.max()) if flat.size else 0
    if max_id <= _LUT_FACTOR * flat.size + 1024:
        return _lut_relabel(flat, max_id)
    return _hash_relabel(flat)


@numba.njit(cache=True)
def _count_dense(t, p, n_true, n_pred):
    counts = np.zeros((n_true + 1, n_pred + 1), np.int64)
    for i in range(t.size):
        counts[t[i], p[i]] += 1
    return counts


@numba.njit(cache=True)
def _pair_keys(t, p, n_pred):
    keys = np.empty(t.size, np.int64)
    m = 0
    for i in range(t.size):
        if t[i] > 0 and p[i] > 0:
            keys[m] = t[i] * (n_pred + 1) + p[i]
            m += 1
    return keys[:m]


def _check_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = check_labels(y_true, "y_true")
    y_pred = check_labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}; "
                         "compare label images of the same image")
    return y_true, y_pred


@dataclass(frozen=True)
class Overlaps:
    """Sizes of all objects and intersections of every overlapping true/pred pair (0-based)."""

    true_sizes: np.ndarray  # (n_true,)
    pred_sizes: np.ndarray  # (n_pred,)
    true_index: np.ndarray  # (n_pairs,)
    pred_index: np.ndarray  # (n_pairs,)
    intersection: np.ndarray  # (n_pairs,)

    @property
    def iou(self) -> np.ndarray:
        union = self.true_sizes[self.true_index] + self.pred_sizes[self.pred_index] - self.intersection
        return self.intersection / union


def overlaps(y_true, y_pred) -> Overlaps:
    """Object sizes and pairwise intersections of two label images (validated)."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    t, n_true = _consecutive(y_true)
    p, n_pred = _consecutive(y_pred)
    true_sizes = np.bincount(t, minlength=n_true + 1)[1:].astype(np.float64)
    pred_sizes = np.bincount(p, minlength=n_pred + 1)[1:].astype(np.float64)
    if (n_true + 1) * (n_pred + 1) <= _DENSE_CELLS:
        counts = _count_dense(t, p, n_true, n_pred)[1:, 1:]
        ti, pi = np.nonzero(counts)
        inter = counts[ti, pi].astype(np.float64)
    else:
        keys, inter = np.unique(_pair_keys(t, p, n_pred), return_counts=True)
        ti, pi = keys // (n_pred + 1) - 1, keys % (n_pred + 1) - 1
        inter = inter.astype(np.float64)
    return Overlaps(true_sizes, pred_sizes, ti.astype(np.int64), pi.astype(np.int64), inter)


# ------------------------------------------------------------------ matching
def _assign(ov: Overlaps, scores: np.ndarray, thresh: float) -> tuple[int, float]:
    """(number of matched pairs with score >= thresh, sum of their scores).

    StarDist's assignment maximises first the number of pairs with score >= thresh, then
    the sum of the assigned scores.  Pairs without overlap score 0, so the problem splits
    into the connected components of the overlap graph; each is solved on its own.
    """
    n_matched = min(len(ov.true_sizes), len(ov.pred_sizes))
    ok = scores >= thresh
    if thresh > 0.5 or (thresh == 0.5 and _unique(ov.true_index[ok], ov.pred_index[ok])):
        return int(ok.sum()), float(scores[ok].sum())
    if len(scores) == 0:
        return (n_matched if thresh <= 0 else 0), 0.0
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_true = len(ov.true_sizes)
    graph = coo_matrix((np.ones(len(scores)), (ov.true_index, n_true + ov.pred_index)),
                       shape=(n_true + len(ov.pred_sizes),) * 2)
    _, component = connected_components(graph, directed=False)
    pair_component = component[ov.true_index]
    order = np.argsort(pair_component, kind="stable")
    bounds = np.flatnonzero(np.diff(pair_component[order])) + 1
    tp, total = 0, 0.0
    for members in np.split(order, bounds):
        if len(members) == 1:
            score = scores[members[0]]
            tp += int(score >= thresh)
            total += float(score) if (score >= thresh or thresh <= 0) else 0.0
            continue
        rows, row_index = np.unique(ov.true_index[members], return_inverse=True)
        cols, col_index = np.unique(ov.pred_index[members], return_inverse=True)
        dense = np.zeros((len(rows), len(cols)))
        dense[row_index, col_index] = scores[members]
        r, c = linear_sum_assignment(-(dense >= thresh).astype(float) - dense / (2 * n_matched))
        matched = dense[r, c]
        good = matched >= thresh
        tp += int(good.sum())
        total += float(matched[good].sum())
    if thresh <= 0:  # every assigned pair counts, also those without any overlap
        tp = n_matched
    return tp, total


def _unique(a: np.ndarray, b: np.ndarray) -> bool:
    return len(np.unique(a)) == len(a) and len(np.unique(b)) == len(b)


def _safe(num: float, den: float) -> float:
    return float(num) / den if den > 0 else 0.0


def _scores(criterion: str, thresh: float, tp: int, n_true: int, n_pred: int, matched_sum: float) -> Matching:
    fp, fn = n_pred - tp, n_true - tp
    return Matching(
        criterion=criterion, thresh=float(thresh), fp=int(fp), tp=int(tp), fn=int(fn),
        precision=_safe(tp, tp + fp), recall=_safe(tp, tp + fn), accuracy=_safe(tp, tp + fp + fn),
        f1=_safe(2 * tp, 2 * tp + fp + fn), n_true=int(n_true), n_pred=int(n_pred),
        mean_true_score=_safe(matched_sum, n_true), mean_matched_score=_safe(matched_sum, tp),
        panoptic_quality=_safe(matched_sum, tp + fp / 2 + fn / 2),
    )


def _thresholds(thresh) -> tuple[list[float], bool]:
    single = np.isscalar(thresh)
    values = [float(thresh)] if single else [float(t) for t in thresh]
    for t in values:
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"thresh must be in [0, 1], got {t}")
    return values, single


def _counts(y_true, y_pred, thresholds: list[float]) -> list[tuple[int, int, int, float]]:
    ov = overlaps(y_true, y_pred)
    iou = ov.iou
    return [(*_assign(ov, iou, t), len(ov.true_sizes), len(ov.pred_sizes)) for t in thresholds]


def matching(y_true, y_pred, thresh: float | Sequence[float] = 0.5, criterion: str = "iou"):
    """Scores of ``y_pred`` against ``y_true`` (2D integer label images, 0 = background).

    Returns a :class:`Matching`, or a list of them when ``thresh`` is a sequence (overlaps
    are computed once for all thresholds).
    """
    if criterion != "iou":
        raise ValueError(f"criterion {criterion!r} is not supported; use 'iou'")
    values, single = _thresholds(thresh)
    results = [_scores(criterion, t, tp, n_true, n_pred, s)
               for t, (tp, s, n_true, n_pred) in zip(values, _counts(y_true, y_pred, values))]
    return results[0] if single else results


def matching_dataset(y_trues: Sequence, y_preds: Sequence, thresh: float | Sequence[float] = 0.5,
                     criterion: str = "iou"):
    """Data-set scores: TP/FP/FN and matched IoU sums added over images, then the ratios
    (``stardist.matching.matching_dataset(..., by_image=False)``)."""
    if len(y_trues) != len(y_preds):
        raise ValueError(f"y_trues has {len(y_trues)} images but y_preds has {len(y_preds)}")
    if criterion != "iou":
        raise ValueError(f"criterion {criterion!r} is not supported; use 'iou'")
    values, single = _thresholds(thresh)
    totals = np.zeros((len(values), 4))
    for y_true, y_pred in zip(y_trues, y_preds):
        totals += np.array([[tp, s, n_true, n_pred] for tp, s, n_true, n_pred in _counts(y_true, y_pred, values)])
    results = [_scores(criterion, t, int(tp), int(n_true), int(n_pred), s)
               for t, (tp, s, n_true, n_pred) in zip(values, totals)]
    return results[0] if single else results


# ------------------------------------------------------------------ CTC SEG
def _seg_sum(y_true, y_pred) -> tuple[float, int]:
    ov = overlaps(y_true, y_pred)
    matched = ov.intersection > 0.5 * ov.true_sizes[ov.true_index]
    return float(ov.iou[matched].sum()), len(ov.true_sizes)


def seg_score(y_true, y_pred) -> float:
    """Cell Tracking Challenge SEG of one image (0 when ``y_true`` has no objects)."""
    total, n_true = _seg_sum(y_true, y_pred)
    return total / max(n_true, 1)


def seg_score_dataset(y_trues: Sequence, y_preds: Sequence) -> float:
    """CTC SEG of a data set: mean Jaccard over all true objects of all images."""
    if len(y_trues) != len(y_preds):
        raise ValueError(f"y_trues has {len(y_trues)} images but y_preds has {len(y_preds)}")
    sums = [_seg_sum(t, p) for t, p in zip(y_trues, y_preds)]
    return sum(s for s, _ in sums) / max(sum(n for _, n in sums), 1)
