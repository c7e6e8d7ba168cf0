"""StarDist-compatible object matching: TP/FP/FN, precision, recall, AP (accuracy), F1, PQ.

Same definitions as ``stardist.matching.matching`` (checked field by field in the tests):

* score of a true/predicted pair: IoU (or ``iot``/``iop``), rounded to float32 as StarDist
  computes it; a pair can be a true positive when ``score >= thresh`` (compared in float32,
  as StarDist does; DESIGN's "IoU > t" differs only for a score exactly equal to t).
* one-to-one assignment maximising first the number of pairs with ``score >= thresh``, then
  the sum of the assigned scores (StarDist's ``linear_sum_assignment`` cost
  ``-(score >= thresh) - score / (2 n_matched)``, ``n_matched = min(n_true, n_pred)``).
* ``tp`` = assigned pairs with ``score >= thresh``, ``fp = n_pred - tp``, ``fn = n_true - tp``;
  ``precision = tp/(tp+fp)``, ``recall = tp/(tp+fn)``, ``accuracy = ap = tp/(tp+fp+fn)``
  (the paper's AP), ``f1 = 2tp/(2tp+fp+fn)`` (all 0 when tp = 0),
  ``mean_matched_score`` = sum of TP scores / tp, ``mean_true_score`` = that sum / n_true,
  ``panoptic_quality`` = that sum / (tp + fp/2 + fn/2) (0 for a zero denominator).
* ``thresh = 0`` makes every assigned pair a TP, also pairs that do not overlap
  (``tp = min(n_true, n_pred)``), exactly as in StarDist.

Why it is fast: pairs that do not overlap score 0, so the assignment problem splits into
the connected components of the overlap graph.  Where the pairs with ``score >= thresh``
already form a one-to-one matching (always so for IoU above 0.5, where an object has at most
one such partner) the optimum is read off directly; so it is in "star" components (one
true object and several predicted ones or the reverse: splits and merges), where it is
the best-scoring pair.  Only the remaining components with competing candidates go to
``scipy.optimize.linear_sum_assignment``, each on its own small matrix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from keras_voidseg.metrics._labels import check_lists
from keras_voidseg.metrics._overlap import Overlaps, label_overlaps

CRITERIA = ("iou", "iot", "iop")


@dataclass(frozen=True)
class Matching:
    """Scores of one image (or a data set) at one threshold; StarDist's fields plus ``ap``.

    ``matched_pairs`` / ``matched_scores`` / ``matched_tps`` are filled only with
    ``report_matches=True`` (see :func:`matching`), otherwise None.
    """

    criterion: str
    thresh: float
    fp: int
    tp: int
    fn: int
    precision: float
    recall: float
    accuracy: float
    ap: float
    f1: float
    n_true: int
    n_pred: int
    mean_true_score: float
    mean_matched_score: float
    panoptic_quality: float
    matched_pairs: tuple | None = None
    matched_scores: tuple | None = None
    matched_tps: tuple | None = None

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict (report fields only when present)."""
        return {k: v for k, v in asdict(self).items() if v is not None or not k.startswith("matched_")}

    def _asdict(self) -> dict:
        """Like StarDist's namedtuple ``_asdict`` (drop-in for code written against it)."""
        return self.to_dict()


@dataclass(frozen=True)
class _Assignment:
    tp: int
    score_sum: float
    pairs: np.ndarray | None  # indices into the overlap pairs of the assigned, overlapping pairs


def _components(ov: Overlaps) -> np.ndarray:
    """Connected component of every overlapping pair in the bipartite overlap graph."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = ov.n_true + ov.n_pred
    graph = coo_matrix((np.ones(len(ov.true_index), np.int8), (ov.true_index, ov.n_true + ov.pred_index)),
                       shape=(n, n))
    return connected_components(graph, directed=False)[1][ov.true_index]


def _assign(ov: Overlaps, scores: np.ndarray, thresh: np.float32, full: bool) -> _Assignment:
    """Optimal assignment (see module docstring) from float32 pair ``scores``.

    ``full``: also resolve components without competing candidates, to report every
    assigned overlapping pair (needed for ``report_matches`` only).
    """
    n_matched = min(ov.n_true, ov.n_pred)
    ok = scores >= thresh
    rows = np.bincount(ov.true_index[ok], minlength=ov.n_true)
    cols = np.bincount(ov.pred_index[ok], minlength=ov.n_pred)
    competing = ok & ((rows[ov.true_index] > 1) | (cols[ov.pred_index] > 1))
    if full:
        competing = np.ones(len(scores), bool)
    if not competing.any():
        chosen = np.flatnonzero(ok)
    else:
        component = _components(ov)
        hard = np.isin(component, np.unique(component[competing]))
        chosen = [np.flatnonzero(ok & ~hard)]
        members = np.flatnonzero(hard)
        # stars (one true object and several predicted ones, or the reverse: typical
        # splits and merges) need no solver: the best-scoring pair is the optimum
        star = _is_star(ov, component, members)
        stars = members[star[members]]
        order = np.lexsort((-scores[stars], component[stars]))
        first = np.diff(component[stars][order], prepend=-1) != 0
        chosen.append(stars[order][first])
        members = members[~star[members]]
        members = members[np.argsort(component[members], kind="stable")]
        bounds = np.flatnonzero(np.diff(component[members])) + 1
        for group in np.split(members, bounds) if len(members) else []:
            chosen.append(group[_solve(ov, scores, thresh, group, n_matched)])
        chosen = np.sort(np.concatenate(chosen))
    good = chosen[scores[chosen] >= thresh]
    tp = n_matched if thresh <= 0 else len(good)
    return _Assignment(int(tp), float(scores[good].astype(np.float64).sum()), chosen if full else None)


def _is_star(ov: Overlaps, component: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Per pair: does its component (among ``members``) have a single true or a single
    predicted object?"""
    n_components = int(component.max()) + 1
    distinct_rows = np.bincount(np.unique(component[members] * (ov.n_true + 1) + ov.true_index[members])
                                // (ov.n_true + 1), minlength=n_components)
    distinct_cols = np.bincount(np.unique(component[members] * (ov.n_pred + 1) + ov.pred_index[members])
                                // (ov.n_pred + 1), minlength=n_components)
    return ((distinct_rows == 1) | (distinct_cols == 1))[component]


def _solve(ov: Overlaps, scores: np.ndarray, thresh: np.float32, group: np.ndarray, n_matched: int) -> np.ndarray:
    """Positions in ``group`` (pairs of one component) of the assigned overlapping pairs."""
    from scipy.optimize import linear_sum_assignment

    if len(group) == 1:
        return np.zeros(1, np.int64)
    _, r = np.unique(ov.true_index[group], return_inverse=True)
    _, c = np.unique(ov.pred_index[group], return_inverse=True)
    dense = np.zeros((r.max() + 1, c.max() + 1), np.float32)
    where = np.full(dense.shape, -1, np.int64)
    dense[r, c] = scores[group]
    where[r, c] = np.arange(len(group))
    cost = -(dense >= thresh).astype(np.float64) - dense / (2 * n_matched)
    ri, ci = linear_sum_assignment(cost)
    picked = where[ri, ci]
    return picked[picked >= 0]


def _check_thresholds(thresh) -> tuple[list[float], bool]:
    single = thresh is None or np.ndim(thresh) == 0
    values = [0.0 if thresh is None else float(thresh)] if single else [float(t) for t in np.ravel(thresh)]
    for t in values:
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"thresh must be in [0, 1], got {t}; e.g. thresh=0.5 or thresh=(0.5, 0.7, 0.9)")
    return values, single


def _check_criterion(criterion: str) -> str:
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    return criterion


def _safe(num: float, den: float) -> float:
    return float(num) / den if den > 0 else 0.0


def _result(criterion: str, thresh: float, tp: int, n_true: int, n_pred: int, score_sum: float,
            **report) -> Matching:
    fp, fn = n_pred - tp, n_true - tp
    accuracy = _safe(tp, tp + fp + fn)
    return Matching(
        criterion=criterion, thresh=float(thresh), fp=int(fp), tp=int(tp), fn=int(fn),
        precision=_safe(tp, tp + fp), recall=_safe(tp, tp + fn), accuracy=accuracy, ap=accuracy,
        f1=_safe(2 * tp, 2 * tp + fp + fn), n_true=int(n_true), n_pred=int(n_pred),
        mean_true_score=_safe(score_sum, n_true), mean_matched_score=_safe(score_sum, tp),
        panoptic_quality=_safe(score_sum, tp + fp / 2 + fn / 2), **report,
    )


def _report(ov: Overlaps, scores: np.ndarray, thresh: np.float32, pairs: np.ndarray) -> dict:
    picked = scores[pairs]
    return {
        "matched_pairs": tuple((int(ov.true_ids[ov.true_index[k]]), int(ov.pred_ids[ov.pred_index[k]]))
                               for k in pairs),
        "matched_scores": tuple(float(s) for s in picked),
        "matched_tps": tuple(int(i) for i in np.flatnonzero(picked >= thresh)),
    }


def _image_results(ov: Overlaps, thresholds: list[float], criterion: str, report_matches: bool) -> list[Matching]:
    scores = ov.scores(criterion).astype(np.float32)
    results = []
    for t in thresholds:
        t32 = np.float32(t)
        a = _assign(ov, scores, t32, full=report_matches)
        report = _report(ov, scores, t32, a.pairs) if report_matches else {}
        results.append(_result(criterion, t, a.tp, ov.n_true, ov.n_pred, a.score_sum, **report))
    return results


def matching(y_true, y_pred, thresh: float | Sequence[float] = 0.5, criterion: str = "iou",
             report_matches: bool = False) -> Matching | list[Matching]:
    """Detection/instance-segmentation scores of ``y_pred`` against ``y_true``.

    Args:
        y_true, y_pred: label images of the same shape, 2D ``(Y, X)`` or 3D ``(Z, Y, X)``,
            any integer dtype, 0 = background, other ids arbitrary (need not be
            contiguous; may be huge).  Float arrays are refused, as in StarDist.
        thresh: score threshold, or a sequence of them (overlaps are computed once).
        criterion: ``"iou"`` (default), ``"iot"`` (intersection over true object) or
            ``"iop"`` (over predicted object).
        report_matches: also return the assigned pairs ``matched_pairs`` (original ids,
            sorted by true id), their ``matched_scores`` and the positions ``matched_tps``
            of those with ``score >= thresh``.  Unlike StarDist, pairs that do not overlap
            at all (which StarDist's assignment pairs arbitrarily) are not listed.

    Returns:
        A frozen :class:`Matching`, or a list of them (one per threshold).
    """
    criterion = _check_criterion(criterion)
    values, single = _check_thresholds(thresh)
    results = _image_results(label_overlaps(y_true, y_pred), values, criterion, report_matches)
    return results[0] if single else results


def matching_dataset(y_trues: Sequence, y_preds: Sequence, thresh: float | Sequence[float] = 0.5,
                     criterion: str = "iou", by_image: bool = False) -> Matching | list[Matching]:
    """Scores of a data set, as ``stardist.matching.matching_dataset``.

    ``by_image=False`` (default): tp, fp, fn, n_true, n_pred and the sums of matched scores
    are added over the images and the ratios computed from these sums (each object counts
    the same).  ``by_image=True``: counts added, ratios averaged over images.
    """
    check_lists(y_trues, y_preds)
    criterion = _check_criterion(criterion)
    values, single = _check_thresholds(thresh)
    per_image = [_image_results(label_overlaps(t, p), values, criterion, False) for t, p in zip(y_trues, y_preds)]
    results = []
    for k, t in enumerate(values):
        ms = [image[k] for image in per_image]
        tp, n_true, n_pred = (sum(getattr(m, f) for m in ms) for f in ("tp", "n_true", "n_pred"))
        total = _result(criterion, t, tp, n_true, n_pred, sum(m.mean_true_score * m.n_true for m in ms))
        if by_image and ms:
            averaged = {f: float(np.mean([getattr(m, f) for m in ms]))
                        for f in ("precision", "recall", "accuracy", "f1", "mean_true_score",
                                  "mean_matched_score", "panoptic_quality")}
            total = Matching(**{**asdict(total), **averaged, "ap": averaged["accuracy"]})
        results.append(total)
    return results[0] if single else results
