"""Greedy non-maximum suppression of star-convex polygons (StarDist's rule, numba).

What is kept is what ``stardist.nms.non_maximum_suppression`` keeps:

* candidates are the pixels with ``prob > prob_thresh`` at least ``b`` pixels away from
  the border of ``prob`` (StarDist's default ``b=2``), in row-major order;
* they are sorted by decreasing probability with ``np.argsort(scores)[::-1]`` - the very
  call StarDist makes, so tied probabilities come in the same order (numpy's default
  sort, reversed; *not* a stable order);
* a candidate is suppressed when a polygon kept before it overlaps it by
  ``intersection / smaller area > nms_thresh``; all others are kept.

Geometry as in StarDist's C++: vertex ``k`` of the polygon at ``(y, x) * grid`` is
``(float32(y + d_k sinf(phi_k)), float32(x + d_k cosf(phi_k)))`` truncated to integers;
areas are shoelace sums in float32; the intersection area is the Clipper library's (see
:mod:`keras_voidseg.stardist._polygon`); ``overlap = inter / (smaller area + 1e-10)`` in
float64 against ``float32(nms_thresh)``; pairs outside StarDist's kd-tree radius
(``max radius + own radius``) or with disjoint bounding boxes are never compared.

Speed, compared to StarDist (which clips every nearby pair with Clipper, one OpenMP
region per kept polygon):

* most pairs are decided without clipping: disjoint circumscribed circles; else, when
  both outlines are star-shaped about one centre, the exact intersection area from an
  O(n) angular sweep together with a bound on how much Clipper's integer rounding can
  change it; else the area of the intersection of the circumscribed discs.  Only pairs
  whose overlap lies within that bound of ``nms_thresh`` are clipped (an integer-exact
  emulation of Clipper's result);
* the greedy loop runs in "pull" form, in blocks of candidates: a block is tested in
  parallel against the polygons kept before it, then its few survivors in order against
  those kept inside the block; kept polygons are found through a uniform grid, most
  probable first (usually the one that suppresses).

Known limits: the clipping emulation rounds crossing points as Clipper does, but Clipper
also snaps nearly coincident edges on its integer scan lines, and polygons that cross
themselves (candidates at object borders with several ~0-length rays) are handled by a
non-zero-winding rule that does not yet match Clipper in every case.  Only pairs whose
overlap is near ``nms_thresh`` reach the emulation, so kept sets are identical on
realistic scenes (tests, ``kvs bench postprocess``); with very low ``prob_thresh`` and
very noisy distances a few kept polygons can differ.
"""

from __future__ import annotations

import numba
import numpy as np

from keras_voidseg.stardist._polygon import compress, fan_area2, is_simple, is_star, lens_area, outline_inside
from keras_voidseg.stardist.geometry import ray_steps


@numba.njit(cache=True, parallel=True)
def _prepare(dist, points, vx, vy, count, star, simple, bbox, area, radius, r_int):
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
        simple[i] = star[i] or is_simple(vx[i], vy[i], m)


@numba.njit(cache=True)
def _exact_overlap(i, j, points, vx, vy, count, star, simple, bbox, iscratch, fscratch):
    """Clipper's intersection area of polygons i (clip) and j (subject), float32."""
    cones, states = iscratch[0], iscratch[1]
    ts, sx, sy, kinds = fscratch[0], fscratch[1], fscratch[2], fscratch[3]
    total = 0.0
    for side in range(2):  # outline of i inside j (shared edges count here), then j inside i
        a, b = (i, j) if side == 0 else (j, i)
        box = (float(bbox[b, 0]), float(bbox[b, 1]), float(bbox[b, 2]), float(bbox[b, 3]))
        total += outline_inside(vx[a], vy[a], count[a], simple[a], vx[b], vy[b], count[b], star[b],
                                float(points[b, 1]),
                                float(points[b, 0]), box, side == 0, side == 0, cones, states, ts, sx, sy, kinds)
    return np.float32(0.5 * abs(total))


@numba.njit(cache=True)
def _overlap_exceeds(i, j, points, vx, vy, count, star, simple, bbox, area, r_int, thresh, iscratch, fscratch):
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
    area2, margin2 = np.nan, np.nan
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
    inter = _exact_overlap(i, j, points, vx, vy, count, star, simple, bbox, iscratch, fscratch)
    return float(inter) / smaller > thresh


@numba.njit(cache=True)
def _cell_range(bbox, i, x0, y0, cell):
    return (bbox[i, 0] - x0) // cell, (bbox[i, 1] - x0) // cell, (bbox[i, 2] - y0) // cell, (bbox[i, 3] - y0) // cell


@numba.njit(cache=True)
def _suppressed_by_kept(j, first, points, vx, vy, count, star, simple, bbox, area, radius, r_int, max_radius, thresh,
                        x0, y0, cell, nx, head, nxt, owner, iscratch, fscratch):
    """Whether a kept polygon ``i >= first`` (all kept ones precede ``j``) suppresses ``j``.

    Kept polygons are listed in every grid cell their bounding box touches (a pair is
    looked at in the first cell, row-major, both boxes touch); the ones near ``j`` are
    tried most probable first, as that is usually the polygon kept for j's own object."""
    near = iscratch[2]
    n_near = 0
    jx0, jx1, jy0, jy1 = _cell_range(bbox, j, x0, y0, cell)
    for gy in range(jy0, jy1 + 1):
        for gx in range(jx0, jx1 + 1):
            e = head[gy * nx + gx]
            while e >= 0:
                i = owner[e]
                e = nxt[e]
                if i < first:
                    continue
                ix0, ix1, iy0, iy1 = _cell_range(bbox, i, x0, y0, cell)
                if gy != max(iy0, jy0) or gx != max(ix0, jx0):
                    continue  # this pair is looked at in another cell
                if bbox[j, 0] > bbox[i, 1] or bbox[i, 0] > bbox[j, 1] or \
                        bbox[j, 2] > bbox[i, 3] or bbox[i, 2] > bbox[j, 3]:
                    continue
                reach = np.float32(max_radius + radius[i])
                ddy = np.float32(points[i, 0] - points[j, 0])
                ddx = np.float32(points[i, 1] - points[j, 1])
                if not np.float32(ddy * ddy + ddx * ddx) < np.float32(reach * reach):
                    continue  # outside StarDist's kd-tree search radius
                if n_near == near.size:  # (never on realistic data) test at once
                    if _overlap_exceeds(i, j, points, vx, vy, count, star, simple, bbox, area, r_int, thresh, iscratch,
                                        fscratch):
                        return True
                    continue
                r = n_near  # insertion into the sorted list of nearby kept polygons
                while r > 0 and near[r - 1] > i:
                    near[r] = near[r - 1]
                    r -= 1
                near[r] = i
                n_near += 1
    for r in range(n_near):
        if _overlap_exceeds(near[r], j, points, vx, vy, count, star, simple, bbox, area, r_int, thresh, iscratch,
                            fscratch):
            return True
    return False


@numba.njit(cache=True, parallel=True)
def _pull_block(lo, hi, points, vx, vy, count, star, simple, bbox, area, radius, r_int, max_radius, thresh, x0, y0,
                cell, nx, head, nxt, owner, iscratch, fscratch, suppressed):
    """Candidates lo..hi-1 against the polygons kept before ``lo`` (independent: parallel)."""
    for t in numba.prange(hi - lo):
        j = lo + t
        if count[j] >= 3:
            tid = numba.get_thread_id()
            suppressed[j] = _suppressed_by_kept(j, 0, points, vx, vy, count, star, simple, bbox, area, radius, r_int,
                                                max_radius, thresh, x0, y0, cell, nx, head, nxt, owner,
                                                iscratch[tid], fscratch[tid])


@numba.njit(cache=True)
def _suppress(points, vx, vy, count, star, simple, bbox, area, radius, r_int, thresh, cell, iscratch, fscratch):
    """Greedy NMS in the "pull" form: candidate j is suppressed iff some *kept* i < j
    overlaps it by more than thresh (the same outcome as suppressing forward from each
    kept polygon).  Candidates go in blocks: each block is first tested in parallel
    against everything kept before it, then its survivors in order against the polygons
    kept inside the block."""
    n = points.shape[0]
    suppressed = np.zeros(n, np.bool_)
    if n == 0:
        return suppressed
    x0, y0 = bbox[:, 0].min(), bbox[:, 2].min()
    nx = (bbox[:, 1].max() - x0) // cell + 1
    ny = (bbox[:, 3].max() - y0) // cell + 1
    capacity = 0
    for i in range(n):
        ix0, ix1, iy0, iy1 = _cell_range(bbox, i, x0, y0, cell)
        capacity += (ix1 - ix0 + 1) * (iy1 - iy0 + 1)
    head = np.full(nx * ny, -1, np.int64)
    tail = np.full(nx * ny, -1, np.int64)
    nxt = np.empty(capacity, np.int64)
    owner = np.empty(capacity, np.int64)
    n_entries = 0
    max_radius = radius.max()
    lo = 0
    block = 1024
    while lo < n:
        hi = min(n, lo + block)
        if lo > 0:
            _pull_block(lo, hi, points, vx, vy, count, star, simple, bbox, area, radius, r_int, max_radius, thresh, x0, y0,
                        cell, nx, head, nxt, owner, iscratch, fscratch, suppressed)
        for j in range(lo, hi):
            if suppressed[j] or count[j] < 3:
                continue  # polygons without area are kept but never suppress anything
            if _suppressed_by_kept(j, lo, points, vx, vy, count, star, simple, bbox, area, radius, r_int, max_radius,
                                   thresh, x0, y0, cell, nx, head, nxt, owner, iscratch[0], fscratch[0]):
                suppressed[j] = True
                continue
            jx0, jx1, jy0, jy1 = _cell_range(bbox, j, x0, y0, cell)
            for gy in range(jy0, jy1 + 1):
                for gx in range(jx0, jx1 + 1):
                    c = gy * nx + gx
                    owner[n_entries] = j
                    nxt[n_entries] = -1
                    if tail[c] >= 0:
                        nxt[tail[c]] = n_entries
                    else:
                        head[c] = n_entries
                    tail[c] = n_entries
                    n_entries += 1
        lo = hi
        block = min(2 * block, 16384)
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
    simple = np.empty(n, np.bool_)
    bbox = np.empty((n, 4), np.int64)
    area = np.empty(n, np.float32)
    radius = np.empty(n, np.float32)
    r_int = np.empty(n, np.float64)
    if n == 0:
        return np.zeros(0, bool)
    _prepare(dist, points, vx, vy, count, star, simple, bbox, area, radius, r_int)
    spans = np.maximum(bbox[:, 1] - bbox[:, 0], bbox[:, 3] - bbox[:, 2])
    cell = int(max(8, np.median(spans)))
    iscratch = np.empty((numba.get_num_threads(), 3, max(256, 2 * n_rays + 2)), np.int64)
    fscratch = np.empty((numba.get_num_threads(), 4, 4 * n_rays + 2), np.float64)
    thresh = float(np.float32(nms_thresh))
    return ~_suppress(points, vx, vy, count, star, simple, bbox, area, radius, r_int, thresh, cell,
                      iscratch, fscratch)


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
