"""Cell Tracking Challenge SEG (identical to py-ctcmetrics, checked in the tests).

A true object R is matched by the predicted object S with ``|R ∩ S| > 0.5 |R|`` (at most
one S can satisfy this); its score is the Jaccard index ``|R ∩ S| / |R ∪ S|``, and 0 when
no S matches.  SEG is the mean score over the true objects; with no true objects it is 0
(py-ctcmetrics divides by ``max(n_true, 1)``).  Over a data set, the CTC averages over all
true objects of all images (not over images).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from keras_voidseg.metrics._labels import check_lists
from keras_voidseg.metrics._overlap import Overlaps, label_overlaps


def _seg_sum(ov: Overlaps) -> float:
    """Sum of the Jaccard indices of the matched true objects."""
    matched = 2 * ov.intersection > ov.true_sizes[ov.true_index]
    return float((ov.intersection[matched] / ov.union()[matched]).sum())


def seg_score(y_true, y_pred) -> float:
    """CTC SEG of one pair of label images (2D or 3D, integer ids, 0 = background)."""
    ov = label_overlaps(y_true, y_pred)
    return _seg_sum(ov) / max(ov.n_true, 1)


def seg_score_dataset(y_trues: Sequence, y_preds: Sequence) -> float:
    """CTC SEG of a data set: mean Jaccard index over all true objects of all images."""
    check_lists(y_trues, y_preds)
    total, n_true = 0.0, 0
    for y_true, y_pred in zip(y_trues, y_preds):
        ov = label_overlaps(y_true, y_pred)
        total += _seg_sum(ov)
        n_true += ov.n_true
    return total / max(n_true, 1)


def seg_per_object(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """``(true_ids, jaccard)``: every true object's id and its SEG score (0 if unmatched)."""
    ov = label_overlaps(y_true, y_pred)
    scores = np.zeros(ov.n_true)
    matched = 2 * ov.intersection > ov.true_sizes[ov.true_index]
    scores[ov.true_index[matched]] = ov.intersection[matched] / ov.union()[matched]
    return ov.true_ids, scores
