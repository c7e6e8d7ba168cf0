"""``polygons_to_label``: rasterise star-convex polygons into an int32 label image.

Same result as ``stardist.geometry.polygons_to_label``, pixel for pixel: vertices are
``point + dist * (sin, cos)`` of the ray angles (float32, as StarDist), polygons are drawn
in increasing probability (stable order) so the most probable polygon wins where they
overlap, the label of a polygon is its position in the input (after the ``thr`` filter)
plus one, and a pixel belongs to a polygon when its centre is inside it *or on its outline*
(scikit-image's ``draw.polygon`` rule: O'Rourke's crossing test with vertex and edge cases).
One numba function draws all polygons.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from keras_voidseg.stardist.geometry import ray_angles


@numba.njit(cache=True)
def point_in_polygon(xs, ys, x, y) -> int:
    """0 outside, 1 inside, 2 on a vertex, 3 on an edge (O'Rourke, as scikit-image)."""
    n = xs.size
    eps = 1e-12
    x1 = xs[n - 1] - x
    y1 = ys[n - 1] - y
    right, left = 0, 0
    for i in range(n):
        x0 = xs[i] - x
        y0 = ys[i] - y
        if -eps < x0 < eps and -eps < y0 < eps:
            return 2
        if (y0 > 0) != (y1 > 0):
            if (x0 * y1 - x1 * y0) / (y1 - y0) > 0:
                right += 1
        if (y0 < 0) != (y1 < 0):
            if (x0 * y1 - x1 * y0) / (y1 - y0) < 0:
                left += 1
        x1 = x0
        y1 = y0
    if (right & 1) != (left & 1):
        return 3
    return 1 if right & 1 else 0


@numba.njit(cache=True)
def _render(rows, cols, labels, out):
    height, width = out.shape
    for n in range(rows.shape[0]):
        r, c = rows[n], cols[n]
        r_min = int(max(0.0, r.min()))
        r_max = min(height - 1, int(math.ceil(r.max())))
        c_min = int(max(0.0, c.min()))
        c_max = min(width - 1, int(math.ceil(c.max())))
        for ri in range(r_min, r_max + 1):
            for ci in range(c_min, c_max + 1):
                if point_in_polygon(c, r, float(ci), float(ri)) != 0:
                    out[ri, ci] = labels[n]


def polygon_vertices(dist: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 (N, n_rays) row and column vertex coordinates (float32-rounded as StarDist)."""
    phis = ray_angles(dist.shape[1])
    rows = (dist[:, None, :] * np.array([np.sin(phis), np.cos(phis)])).astype(np.float32)
    rows += points[..., None]
    return rows[:, 0].astype(np.float64), rows[:, 1].astype(np.float64)


def polygons_to_label(dist, points, shape, prob=None, thr: float = -np.inf) -> np.ndarray:
    """int32 labels of ``shape`` from polygons ``dist`` (N, n_rays) centred at ``points`` (N, 2).

    ``prob`` (N,) orders the drawing (higher wins; default: input order, later wins on
    ties as StarDist); polygons with ``prob <= thr`` are skipped.
    """
    dist = np.asarray(dist, np.float32)
    points = np.asarray(points)
    if dist.ndim != 2 or points.ndim != 2 or points.shape[1] != 2 or len(dist) != len(points):
        raise ValueError(f"dist must be (N, n_rays) and points (N, 2) with the same N; got dist "
                         f"{dist.shape} and points {points.shape}")
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be a 2D image shape (Y, X), got {shape}")
    prob = np.full(len(points), np.inf) if prob is None else np.asarray(prob)
    if prob.shape != (len(points),):
        raise ValueError(f"prob must have shape ({len(points)},), got {prob.shape}")
    keep = prob > thr
    dist, points, prob = dist[keep], points[keep], prob[keep]
    order = np.argsort(prob, kind="stable")
    out = np.zeros(tuple(int(s) for s in shape), np.int32)
    if len(order):
        rows, cols = polygon_vertices(dist[order], points[order])
        _render(rows, cols, (order + 1).astype(np.int32), out)
    return out
