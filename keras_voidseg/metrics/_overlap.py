"""Sparse overlap table of two label images: object sizes and every overlapping pair.

One numba pass over the pixels counts each distinct ``(true id, predicted id)`` pair in
an open-addressing hash table (keyed by the raw ids, so ids may be huge and
non-contiguous; nothing is allocated per id).  Runs of equal pairs along a row are counted
with one table access, so the cost is about one comparison per pixel.  The few thousand
distinct pairs are then turned into object sizes and intersections with numpy.  No
``n_true x n_pred`` matrix is ever built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from keras_voidseg.metrics._labels import check_pair

_EMPTY = -1  # ids are >= 0, so -1 marks a free slot


@numba.njit(cache=True)
def _slot(a, b, mask):
    # 64-bit multiplicative mixing; int64 wrap-around is intended (constants kept signed
    # so that numba stays in int64 arithmetic)
    h = a * np.int64(-7046029254386353131) + b * np.int64(-4417276706812531889)
    h ^= h >> 29
    h *= np.int64(1609587929392839161)
    h ^= h >> 32
    return h & mask


@numba.njit(cache=True)
def _grow(table):
    """The same entries in a table of twice the capacity."""
    capacity = 2 * table.shape[0]
    mask = capacity - 1
    grown = np.zeros((capacity, 4), np.int64)
    grown[:, 0] = _EMPTY
    for i in range(table.shape[0]):
        if table[i, 0] != _EMPTY:
            s = _slot(table[i, 0], table[i, 1], mask)
            while grown[s, 0] != _EMPTY:
                s = (s + 1) & mask
            grown[s, 0] = table[i, 0]
            grown[s, 1] = table[i, 1]
            grown[s, 2] = table[i, 2]
    return grown


@numba.njit(cache=True)
def count_pairs(a, b):
    """Distinct pairs ``(a[i], b[i]) != (0, 0)`` of two equally long 1D non-negative integer
    arrays and how often each occurs: int64 arrays ``(ids_a, ids_b, counts)``, unordered.

    The pixel loop only detects where the pair changes (branch-free comparison); each run
    of equal pairs costs one access to a hash table whose rows ``(id_a, id_b, count, -)``
    fill half a cache line each.
    """
    table = np.zeros((4096, 4), np.int64)
    table[:, 0] = _EMPTY
    used = 0
    n = a.size
    pa, pb = (a[0], b[0]) if n else (a.dtype.type(0), b.dtype.type(0))
    start = 0
    for i in range(1, n + 1):
        if i < n:
            x, y = a[i], b[i]
            if ((x ^ pa) | (y ^ pb)) == 0:
                continue
        else:
            x, y = pa, pb
        if (pa | pb) != 0:  # count the run [start, i) of the pair (pa, pb)
            va, vb = np.int64(pa), np.int64(pb)
            mask = table.shape[0] - 1
            s = _slot(va, vb, mask)
            while table[s, 0] != _EMPTY and (table[s, 0] != va or table[s, 1] != vb):
                s = (s + 1) & mask
            if table[s, 0] == _EMPTY:
                if 2 * (used + 1) > table.shape[0]:
                    table = _grow(table)
                    mask = table.shape[0] - 1
                    s = _slot(va, vb, mask)
                    while table[s, 0] != _EMPTY:
                        s = (s + 1) & mask
                table[s, 0] = va
                table[s, 1] = vb
                used += 1
            table[s, 2] += i - start
        pa, pb, start = x, y, i
    out = np.empty((3, used), np.int64)
    k = 0
    for s in range(table.shape[0]):
        if table[s, 0] != _EMPTY:
            out[0, k] = table[s, 0]
            out[1, k] = table[s, 1]
            out[2, k] = table[s, 2]
            k += 1
    return out[0], out[1], out[2]


@dataclass(frozen=True)
class Overlaps:
    """Objects of two label images and their overlapping pairs (indices are 0-based
    positions in ``true_ids`` / ``pred_ids``; pairs sorted by true, then predicted index).

    true_ids (n_true,) int64 sorted ids; true_sizes (n_true,) int64 pixel counts;
    pred_ids, pred_sizes likewise; true_index, pred_index, intersection (n_pairs,) int64.
    """

    true_ids: np.ndarray
    true_sizes: np.ndarray
    pred_ids: np.ndarray
    pred_sizes: np.ndarray
    true_index: np.ndarray
    pred_index: np.ndarray
    intersection: np.ndarray

    @property
    def n_true(self) -> int:
        return len(self.true_ids)

    @property
    def n_pred(self) -> int:
        return len(self.pred_ids)

    def union(self) -> np.ndarray:
        """int64 (n_pairs,) ``|R ∪ S|`` of every overlapping pair."""
        return self.true_sizes[self.true_index] + self.pred_sizes[self.pred_index] - self.intersection

    def scores(self, criterion: str = "iou") -> np.ndarray:
        """float64 (n_pairs,): IoU (``iou``), intersection over the true object (``iot``) or
        over the predicted object (``iop``) of every overlapping pair."""
        inter = self.intersection.astype(np.float64)
        if criterion == "iou":
            return inter / self.union()
        if criterion == "iot":
            return inter / self.true_sizes[self.true_index]
        if criterion == "iop":
            return inter / self.pred_sizes[self.pred_index]
        raise ValueError(f"criterion must be 'iou', 'iot' or 'iop', got {criterion!r}")


def _objects(ids: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct non-zero ids, their total counts and each entry's index (-1 for id 0)."""
    present = ids > 0
    unique, inverse = np.unique(ids[present], return_inverse=True)
    sizes = np.bincount(inverse, weights=counts[present], minlength=len(unique)).astype(np.int64)
    index = np.full(len(ids), -1, np.int64)
    index[present] = inverse
    return unique.astype(np.int64), sizes, index


def label_overlaps(y_true, y_pred) -> Overlaps:
    """:class:`Overlaps` of two label images (validated: same shape, non-negative integers)."""
    y_true, y_pred = check_pair(y_true, y_pred)
    ids_t, ids_p, counts = count_pairs(y_true.ravel(), y_pred.ravel())
    true_ids, true_sizes, ti = _objects(ids_t, counts)
    pred_ids, pred_sizes, pi = _objects(ids_p, counts)
    both = (ti >= 0) & (pi >= 0)
    ti, pi, inter = ti[both], pi[both], counts[both]
    order = np.lexsort((pi, ti))
    return Overlaps(true_ids, true_sizes, pred_ids, pred_sizes, ti[order], pi[order], inter[order])
