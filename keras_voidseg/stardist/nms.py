"""Greedy non-maximum suppression of star-convex polygons (StarDist's rule, numba).

What is kept is exactly what ``stardist.nms.non_maximum_suppression`` keeps:

* candidates are the pixels with ``prob > prob_thresh`` at least ``b`` pixels away from
  the image border (StarDist's default ``b=2``), in row-major order;
* they are sorted by decreasing probability with ``np.argsort(scores)[::-1]`` - the very
  call StarDist makes, so tied probabilities are ordered identically (numpy's default
  sort, reversed; this is *not* a stable order);
* going down that list, every candidate that is still alive suppresses each later alive
  candidate whose polygon overlaps it by ``intersection / smaller area > nms_thresh``.

Polygon geometry follows StarDist's C++ code: vertex ``k`` of the polygon at point
``(y, x) * grid`` is ``(float32(y + d_k sinf(phi_k)), float32(x + d_k cosf(phi_k)))``
truncated to integers; polygon areas are the shoelace formula summed in float32; the
intersection area is that of the Clipper library (crossing points rounded to integers,
see :mod:`keras_voidseg.stardist._polygon`); ``overlap = inter / (min area + 1e-10)`` in
float64 against ``float32(nms_thresh)``.

Speed (what differs from StarDist): candidates are bucketed on a uniform grid by their
bounding boxes, so a kept polygon only visits candidates whose boxes share a cell with its
own; two polygons whose circumscribed circles (about the centres, through the farthest
integer vertex) do not overlap are skipped; the intersection area is computed directly by
Green's theorem with O(log n) sector look-ups for star-shaped polygons instead of a
general clipping algorithm; the tests of one kept polygon run in parallel (numba prange).
"""

from __future__ import annotations

import numba
import numpy as np

from keras_voidseg.stardist._polygon import compress, fan_area2, is_star, lens_area, outline_inside
from keras_voidseg.stardist.geometry import ray_steps


@numba.njit(cache=True, parallel=True)
def _prepare(dist, points, vx, vy, count, star, bbox, area, radius, r_int):
    """Integer outlines, boxes, float32 areas, radii and star data of every candidate."""
    n, n_rays = dist.shape
    sins, coss = ray_steps(n_rays)
    for i in numba.prange(n):
        py, px = points[i, 0], points[i, 1]
        r_out = np.float32(0.0)
        r2 = 0.0
        for k in range(n_rays):
            d = dist[i, k]
            y = np.float32(py + np.float32(d * sins[k]))
            x = np.float32(px + np.float32(d * coss[k]))
            iy, ix = int(y), int(x)  # truncation toward zero, as Clipper's IntPoint(float)
            vy[i, k] = iy
            vx[i, k] = ix
            r_out = max(r_out, d)
            r2 = max(r2, float(ix - px) ** 2 + float(iy - py) ** 2)
            if k == 0:
                bbox[i, 0] = ix
                bbox[i, 1] = ix
                bbox[i, 2] = iy
                bbox[i, 3] = iy
            else:
                bbox[i, 0] = min(bbox[i, 0], ix)
                bbox[i, 1] = max(bbox[i, 1], ix)
                bbox[i, 2] = min(bbox[i, 2], iy)
                bbox[i, 3] = max(bbox[i, 3], iy)
        acc = np.float32(0.0)
        signed = 0
        for k in range(n_rays):
            nk = (k + 1) % n_rays
            term = np.int64(vx[i, k]) * vy[i, nk] - np.int64(vy[i, k]) * vx[i, nk]
            acc = np.float32(acc + np.float32(term))
            signed += term
        area[i] = np.float32(0.5 * abs(float(acc)))
        radius[i] = r_out
        r_int[i] = np.sqrt(r2)
        m = compress(vx[i], vy[i], n_rays, vx[i], vy[i])
        if signed < 0:  # clockwise outline (degenerate input): Clipper ignores orientation
            for k in range(m // 2):
                vx[i, k], vx[i, m - 1 - k] = vx[i, m - 1 - k], vx[i, k]
                vy[i, k], vy[i, m - 1 - k] = vy[i, m - 1 - k], vy[i, k]
        count[i] = m
        star[i] = is_star(vx[i], vy[i], m, np.int64(px), np.int64(py))


@numba.njit(cache=True)
def _exact_overlap(i, j, points, vx, vy, count, star, bbox, iscratch, fscratch):
    """Clipper's intersection area of polygons i (clip) and j (subject), float32."""
    cones, states = iscratch[0], iscratch[1]
    ts, sx, sy, kinds = fscratch[0], fscratch[1], fscratch[2], fscratch[3]
    bi = (float(bbox[i, 0]), float(bbox[i, 1]), float(bbox[i, 2]), float(bbox[i, 3]))
    bj = (float(bbox[j, 0]), float(bbox[j, 1]), float(bbox[j, 2]), float(bbox[j, 3]))
    total = outline_inside(vx[i], vy[i], count[i], vx[j], vy[j], count[j], star[j], float(points[j, 1]),
                           float(points[j, 0]), bj, True, True, cones, states, ts, sx, sy, kinds)
    total += outline_inside(vx[j], vy[j], count[j], vx[i], vy[i], count[i], star[i], float(points[i, 1]),
                            float(points[i, 0]), bi, False, False, cones, states, ts, sx, sy, kinds)
    return np.float32(0.5 * abs(total))


@numba.njit(cache=True)
def _overlap_exceeds(i, j, points, vx, vy, count, star, bbox, area, r_int, thresh, iscratch, fscratch):
    """StarDist's test: Clipper intersection area / (smaller area + 1e-10) > thresh.

    Most pairs are decided by bounds that hold whatever Clipper's rounding does: the
    exact area (fast angular sweep when both outlines are star-shaped about one centre)
    +- a bound on the rounding of its crossing points, or the intersection of the
    circumscribed discs; the remaining pairs get Clipper's area itself."""
    if count[i] < 3 or count[j] < 3:
        return False  # Clipper drops outlines without area: empty intersection
    dy = float(points[i, 0]) - float(points[j, 0])
    dx = float(points[i, 1]) - float(points[j, 1])
    d = np.sqrt(dy * dy + dx * dx)
    if d >= r_int[i] + r_int[j]:
        return False  # circumscribed circles apart: intersection area 0
    smaller = min(float(area[i]) + 1e-10, float(area[j]) + 1e-10)
    above = thresh * (1 + 1e-6) + 1e-9
    below = thresh * (1 - 1e-6) - 1e-9
    ci_x, ci_y = np.int64(points[i, 1]), np.int64(points[i, 0])
    cj_x, cj_y = np.int64(points[j, 1]), np.int64(points[j, 0])
    area2 = np.nan
    if star[i] and is_star(vx[j], vy[j], count[j], ci_x, ci_y):
        area2, margin2 = fan_area2(vx[i], vy[i], count[i], vx[j], vy[j], count[j], ci_x, ci_y)
    elif star[j] and is_star(vx[i], vy[i], count[i], cj_x, cj_y):
        area2, margin2 = fan_area2(vx[i], vy[i], count[i], vx[j], vy[j], count[j], cj_x, cj_y)
    if area2 == area2:  # not nan
        if 0.5 * (area2 - margin2) / smaller > above:
            return True
        if 0.5 * (area2 + margin2) / smaller < below:
            return False
    elif lens_area(r_int[i] + 1.5, r_int[j] + 1.5, d) / smaller < below:
        return False
    inter = _exact_overlap(i, j, points, vx, vy, count, star, bbox, iscratch, fscratch)
    return float(inter) / smaller > thresh


@numba.njit(cache=True, parallel=True)
def _test_parallel(i, todo, n_todo, points, vx, vy, count, star, bbox, area, r_int,
                   thresh, iscratch, fscratch, suppressed):
    for t in numba.prange(n_todo):
        j = todo[t]
        if _overlap_exceeds(i, j, points, vx, vy, count, star, bbox, area, r_int, thresh,
                            iscratch[numba.get_thread_id()], fscratch[numba.get_thread_id()]):
            suppressed[j] = True


@numba.njit(cache=True)
def _buckets(bbox, x0, y0, cell, nx, ny):
    """CSR lists of the candidates whose bounding box touches each grid cell."""
    n = bbox.shape[0]
    counts = np.zeros(nx * ny + 1, np.int64)
    for i in range(n):
        for gy in range((bbox[i, 2] - y0) // cell, (bbox[i, 3] - y0) // cell + 1):
            for gx in range((bbox[i, 0] - x0) // cell, (bbox[i, 1] - x0) // cell + 1):
                counts[gy * nx + gx + 1] += 1
    starts = np.cumsum(counts)
    fill = starts[:-1].copy()
    members = np.empty(starts[-1], np.int32)
    for i in range(n):
        for gy in range((bbox[i, 2] - y0) // cell, (bbox[i, 3] - y0) // cell + 1):
            for gx in range((bbox[i, 0] - x0) // cell, (bbox[i, 1] - x0) // cell + 1):
                b = gy * nx + gx
                members[fill[b]] = i
                fill[b] += 1
    return starts, members


@numba.njit(cache=True)
def _suppress(points, vx, vy, count, star, bbox, area, radius, r_int, thresh, cell, iscratch,
              fscratch, parallel_from):
    n = points.shape[0]
    suppressed = np.zeros(n, np.bool_)
    if n == 0:
        return suppressed
    x0, y0 = bbox[:, 0].min(), bbox[:, 2].min()
    nx = (bbox[:, 1].max() - x0) // cell + 1
    ny = (bbox[:, 3].max() - y0) // cell + 1
    starts, members = _buckets(bbox, x0, y0, cell, nx, ny)
    max_radius = radius.max()
    seen = np.full(n, -1, np.int64)
    todo = np.empty(n, np.int64)
    for i in range(n - 1):
        if suppressed[i] or count[i] < 3:
            continue
        reach = np.float32(max_radius + radius[i])
        reach2 = np.float32(reach * reach)  # StarDist's kd-tree radius (float32)
        n_todo = 0
        for gy in range((bbox[i, 2] - y0) // cell, (bbox[i, 3] - y0) // cell + 1):
            for gx in range((bbox[i, 0] - x0) // cell, (bbox[i, 1] - x0) // cell + 1):
                b = gy * nx + gx
                for s in range(starts[b], starts[b + 1]):
                    j = members[s]
                    if j <= i or suppressed[j] or seen[j] == i:
                        continue
                    seen[j] = i
                    if bbox[j, 0] > bbox[i, 1] or bbox[i, 0] > bbox[j, 1] or \
                            bbox[j, 2] > bbox[i, 3] or bbox[i, 2] > bbox[j, 3]:
                        continue
                    ddy = np.float32(points[i, 0] - points[j, 0])
                    ddx = np.float32(points[i, 1] - points[j, 1])
                    if not np.float32(ddy * ddy + ddx * ddx) < reach2:
                        continue
                    todo[n_todo] = j
                    n_todo += 1
        if n_todo >= parallel_from:
            _test_parallel(i, todo, n_todo, points, vx, vy, count, star, bbox, area, r_int,
                           thresh, iscratch, fscratch, suppressed)
        else:
            for t in range(n_todo):
                j = todo[t]
                if _overlap_exceeds(i, j, points, vx, vy, count, star, bbox, area, r_int,
                                    thresh, iscratch[0], fscratch[0]):
                    suppressed[j] = True
    return suppressed


def suppress_sorted(dist: np.ndarray, points: np.ndarray, nms_thresh: float) -> np.ndarray:
    """bool (N,) kept flags for candidates already sorted by decreasing score.

    ``dist`` float32 (N, n_rays), ``points`` (N, 2) pixel coordinates (row, col), already
    multiplied by the grid.
    """
    dist = np.ascontiguousarray(dist, dtype=np.float32)
    points = np.ascontiguousarray(np.asarray(points).astype(np.int32).astype(np.float32))
    n, n_rays = dist.shape
    vx = np.empty((n, n_rays), np.int32)
    vy = np.empty((n, n_rays), np.int32)
    count = np.empty(n, np.int64)
    star = np.empty(n, np.bool_)
    bbox = np.empty((n, 4), np.int64)
    area = np.empty(n, np.float32)
    radius = np.empty(n, np.float32)
    r_int = np.empty(n, np.float64)
    if n == 0:
        return np.zeros(0, bool)
    _prepare(dist, points, vx, vy, count, star, bbox, area, radius, r_int)
    spans = np.maximum(bbox[:, 1] - bbox[:, 0], bbox[:, 3] - bbox[:, 2])
    cell = int(max(8, np.median(spans)))
    iscratch = np.empty((numba.get_num_threads(), 2, 2 * n_rays + 2), np.int64)
    fscratch = np.empty((numba.get_num_threads(), 4, 2 * n_rays + 2), np.float64)
    thresh = float(np.float32(nms_thresh))
    return ~_suppress(points, vx, vy, count, star, bbox, area, radius, r_int, thresh, cell,
                      iscratch, fscratch, 24)


def _candidates(prob: np.ndarray, prob_thresh: float, b: int) -> np.ndarray:
    mask = prob > prob_thresh
    if b > 0:
        border = np.zeros_like(mask)
        border[b:-b, b:-b] = True
        mask &= border
    return mask


def _check_inputs(dist, prob, grid, b, nms_thresh):
    dist = np.asarray(dist)
    prob = np.asarray(prob)
    if prob.ndim != 2:
        raise ValueError(f"prob must be a 2D (Y, X) probability map, got shape {prob.shape}; "
                         "pass one image at a time")
    if dist.ndim != 3 or dist.shape[:2] != prob.shape:
        raise ValueError(f"dist must be (Y, X, n_rays) with (Y, X) = prob's shape {prob.shape}, got shape "
                         f"{dist.shape}; pass the distances predicted for the same image")
    if dist.shape[2] < 3:
        raise ValueError(f"dist has n_rays={dist.shape[2]} rays; at least 3 are needed (StarDist uses 32)")
    if not (np.issubdtype(dist.dtype, np.number) and np.issubdtype(prob.dtype, np.number)):
        raise ValueError(f"dist and prob must be numeric arrays, got {dist.dtype} and {prob.dtype}")
    if not 0 <= nms_thresh <= 1:
        raise ValueError(f"nms_thresh must be in [0, 1], got {nms_thresh}; StarDist's default is 0.4")
    grid = tuple(int(g) for g in (grid if np.ndim(grid) else (grid, grid)))
    if len(grid) != 2 or min(grid) < 1:
        raise ValueError(f"grid must be two positive integers (row, col subsampling), got {grid}")
    if int(b) != b or b < 0:
        raise ValueError(f"b (border width to ignore) must be an integer >= 0, got {b!r}; StarDist uses 2")
    return dist, prob, grid, int(b)


def non_maximum_suppression(dist, prob, prob_thresh: float = 0.5, nms_thresh: float = 0.4,
                            grid=(1, 1), b: int = 2):
    """Keep the most probable non-overlapping star-convex polygons.

    Args:
        dist: float (Y, X, n_rays) predicted radial distances (in full-resolution pixels).
        prob: float (Y, X) predicted object probabilities.
        prob_thresh: candidates need ``prob > prob_thresh``.
        nms_thresh: suppress a polygon when intersection / smaller area > ``nms_thresh``.
        grid: subsampling of ``prob``/``dist`` relative to the image (points are scaled by it).
        b: ignore candidates closer than ``b`` pixels (of ``prob``) to its border (StarDist: 2).

    Returns:
        ``points`` int32 (N, 2) (row, col), ``prob`` float32 (N,), ``dist`` float32
        (N, n_rays), most probable first - the same as ``stardist.nms.non_maximum_suppression``.
    """
    dist, prob, grid, b = _check_inputs(dist, prob, grid, b, nms_thresh)
    mask = _candidates(prob, prob_thresh, b)
    points = np.stack(np.where(mask), axis=1)
    scores = prob[mask]
    dists = dist[mask]
    order = np.argsort(scores)[::-1]  # exactly StarDist's order, ties included
    points = (points[order] * np.array(grid).reshape(1, 2)).astype(np.int32)
    scores = scores[order]
    dists = dists[order]
    keep = suppress_sorted(dists, points, nms_thresh)
    return points[keep], scores[keep].astype(np.float32, copy=False), dists[keep].astype(np.float32, copy=False)
