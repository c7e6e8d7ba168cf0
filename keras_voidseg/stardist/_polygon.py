"""Integer-polygon geometry for the NMS (numba): outlines, star test, intersection area.

StarDist's C++ NMS truncates every polygon vertex to integer coordinates and intersects
the integer polygons with the Clipper library (non-zero fill).  Clipper's result is the
exact intersection polygon except that each point where two edges *cross* is rounded to
integer coordinates (``ClipperLib::IntersectPoint``; vertices and touching points are
integers already).  ``intersection_area2`` computes that area by Green's theorem:
``2 * area = sum of cross(P, Q)`` over the parts ``P -> Q`` of outline A inside B plus the
parts of outline B inside A (a shared edge running the same way counted once), with each
crossing point replaced by Clipper's rounded point.  The sum is an exact integer.

A polygon is a row of ``vx, vy`` (int32, (N, n_rays)) holding ``count`` vertices after
removing repeated and collinear vertices (as Clipper does; the area is unchanged).  When
it is *strictly star-shaped* about its centre (every edge turns counter-clockwise around
the centre, one full turn), point location and the search for crossing edges use the
angular sector ("cone") of each edge: O(log n) per point instead of O(n).  Other
polygons use the general O(n) tests.
"""

from __future__ import annotations

import numba
import numpy as np

# star flags
GENERAL = 0
STAR = 1


@numba.njit(cache=True)
def cross(ax, ay, bx, by):
    return ax * by - ay * bx


@numba.njit(cache=True)
def pseudo_angle(dx, dy):
    """A number in [0, 4) that increases with atan2(dy, dx) (no trigonometry)."""
    p = dy / (abs(dx) + abs(dy))
    if dx < 0:
        return 2.0 - p
    if dy < 0:
        return 4.0 + p
    return p


@numba.njit(cache=True)
def clipper_round(v):
    """ClipperLib::Round: half away from zero, then truncation to an integer."""
    if v < 0:
        return float(np.int64(v - 0.5))
    return float(np.int64(v + 0.5))


@numba.njit(cache=True)
def _edge(x0, y0, x1, y1):
    """Clipper's edge: bottom point (larger y), top point and dx = dX/dY (1e40 horizontal)."""
    if y0 >= y1:
        bx, by, tx, ty = x0, y0, x1, y1
    else:
        bx, by, tx, ty = x1, y1, x0, y0
    dy = ty - by
    dx = -1.0e40 if dy == 0 else (tx - bx) / dy
    return bx, by, tx, ty, dx


@numba.njit(cache=True)
def _top_x(bx, by, tx, ty, dx, y):
    if y == ty:
        return tx
    return bx + clipper_round(dx * (y - by))


@numba.njit(cache=True)
def crossing_point(ax0, ay0, ax1, ay1, bx0, by0, bx1, by1):
    """Clipper's integer point for the proper crossing of edge a (clip) and edge b (subject)."""
    b1x, b1y, t1x, t1y, d1 = _edge(ax0, ay0, ax1, ay1)
    b2x, b2y, t2x, t2y, d2 = _edge(bx0, by0, bx1, by1)
    if d1 == -1.0e40:  # a horizontal: swept at its y by the other edge
        y = b1y
        return _top_x(b2x, b2y, t2x, t2y, d2, y), y
    if d2 == -1.0e40:
        y = b2y
        return _top_x(b1x, b1y, t1x, t1y, d1, y), y
    if d1 == 0:
        x = b1x
        c2 = b2y - b2x / d2
        y = clipper_round(x / d2 + c2)
    elif d2 == 0:
        x = b2x
        c1 = b1y - b1x / d1
        y = clipper_round(x / d1 + c1)
    else:
        c1 = b1x - b1y * d1
        c2 = b2x - b2y * d2
        q = (c2 - c1) / (d1 - d2)
        y = clipper_round(q)
        if abs(d1) < abs(d2):
            x = clipper_round(d1 * q + c1)
        else:
            x = clipper_round(d2 * q + c2)
    if y < t1y or y < t2y:
        y = max(t1y, t2y)
        if abs(d1) < abs(d2):
            x = _top_x(b1x, b1y, t1x, t1y, d1, y)
        else:
            x = _top_x(b2x, b2y, t2x, t2y, d2, y)
    return x, y


@numba.njit(cache=True)
def compress(xs, ys, n, out_x, out_y):
    """Copy the closed outline without repeated or collinear vertices (Clipper's clean-up);
    returns the new vertex count (< 3: no area)."""
    m = 0
    for k in range(n):
        out_x[m] = xs[k]
        out_y[m] = ys[k]
        m += 1
    changed = True
    while changed and m >= 3:
        changed = False
        k = 0
        while k < m and m >= 3:
            p = (k + m - 1) % m
            q = (k + 1) % m
            ax, ay = out_x[k] - out_x[p], out_y[k] - out_y[p]
            bx, by = out_x[q] - out_x[k], out_y[q] - out_y[k]
            if (ax == 0 and ay == 0) or (bx == 0 and by == 0) or ax * by - ay * bx == 0:
                for s in range(k, m - 1):
                    out_x[s] = out_x[s + 1]
                    out_y[s] = out_y[s + 1]
                m -= 1
                changed = True
            else:
                k += 1
    return m


@numba.njit(cache=True)
def is_star(xs, ys, m, cx, cy) -> bool:
    """Whether the outline is star-shaped about the integer point (cx, cy): no vertex on
    it, every edge turns counter-clockwise around it or runs along a ray from it (a
    "radial" edge, frequent after truncation), one full turn in all."""
    if m < 3:
        return False
    turns = 0
    for k in range(m):
        ux, uy = xs[k] - cx, ys[k] - cy
        if ux == 0 and uy == 0:
            return False
        nk = (k + 1) % m
        wx, wy = xs[nk] - cx, ys[nk] - cy
        c = ux * wy - uy * wx
        if c < 0 or (c == 0 and ux * wx + uy * wy <= 0):
            return False
        if uy < 0 <= wy:
            turns += 1
    return turns == 1


@numba.njit(cache=True)
def _segments_meet(ax, ay, bx, by, cx, cy, dx, dy):
    """Whether the closed segments ab and cd have a point in common (integer-exact)."""
    d1 = cross(bx - ax, by - ay, cx - ax, cy - ay)
    d2 = cross(bx - ax, by - ay, dx - ax, dy - ay)
    d3 = cross(dx - cx, dy - cy, ax - cx, ay - cy)
    d4 = cross(dx - cx, dy - cy, bx - cx, by - cy)
    if ((d1 > 0 and d2 < 0) or (d1 < 0 and d2 > 0)) and ((d3 > 0 and d4 < 0) or (d3 < 0 and d4 > 0)):
        return True
    if d1 == 0 and min(ax, bx) <= cx <= max(ax, bx) and min(ay, by) <= cy <= max(ay, by):
        return True
    if d2 == 0 and min(ax, bx) <= dx <= max(ax, bx) and min(ay, by) <= dy <= max(ay, by):
        return True
    if d3 == 0 and min(cx, dx) <= ax <= max(cx, dx) and min(cy, dy) <= ay <= max(cy, dy):
        return True
    if d4 == 0 and min(cx, dx) <= bx <= max(cx, dx) and min(cy, dy) <= by <= max(cy, dy):
        return True
    return False


@numba.njit(cache=True)
def is_simple(xs, ys, m) -> bool:
    """Whether the closed outline (without repeated or collinear vertices) does not touch
    or cross itself.  O(m^2); only called for outlines that are not star-shaped."""
    if m < 3:
        return False
    for e in range(m):
        ne = (e + 1) % m
        for f in range(e + 2, m):
            if e == 0 and f == m - 1:
                continue  # adjacent through the closing vertex
            nf = (f + 1) % m
            if _segments_meet(float(xs[e]), float(ys[e]), float(xs[ne]), float(ys[ne]),
                              float(xs[f]), float(ys[f]), float(xs[nf]), float(ys[nf])):
                return False
    return True


@numba.njit(cache=True)
def cone(xs, ys, m, cx, cy, k, ux, uy):
    """Index of the star polygon's sector [v_k, v_k+1) (about (cx, cy)) holding the
    direction (ux, uy) != 0, walking from the guess ``k``."""
    for _ in range(2 * m):
        if cross(xs[k] - cx, ys[k] - cy, ux, uy) < 0:
            k = (k + m - 1) % m
            continue
        nk = (k + 1) % m
        if cross(ux, uy, xs[nk] - cx, ys[nk] - cy) <= 0:
            k = nk
            continue
        break
    return k


@numba.njit(cache=True)
def cone_guess(m, ux, uy):
    """A sector index near the direction (ux, uy) for ~evenly spread vertices."""
    return min(m - 1, int(pseudo_angle(ux, uy) * 0.25 * m))


@numba.njit(cache=True)
def _on_segment(x0, y0, x1, y1, px, py):
    return (cross(x1 - x0, y1 - y0, px - x0, py - y0) == 0 and min(x0, x1) <= px <= max(x0, x1)
            and min(y0, y1) <= py <= max(y0, y1))


@numba.njit(cache=True)
def locate_star(xs, ys, m, cx, cy, k, px, py, dx, dy):
    """Like ``locate`` for a star polygon, given the sector ``k`` of (px, py)."""
    nk = (k + 1) % m
    pk = (k + m - 1) % m
    if cross(xs[k] - cx, ys[k] - cy, px - cx, py - cy) == 0 and _on_segment(xs[pk], ys[pk], xs[k], ys[k], px, py):
        ex, ey = xs[k] - xs[pk], ys[k] - ys[pk]  # on the (radial) edge before the sector
        return 1 if ex * dx + ey * dy > 0 else -1
    ex, ey = xs[nk] - xs[k], ys[nk] - ys[k]
    w = cross(ex, ey, px - xs[k], py - ys[k])
    if w > 0:
        return 2
    if w < 0:
        return 0
    return 1 if ex * dx + ey * dy > 0 else -1


@numba.njit(cache=True)
def locate(xs, ys, m, px, py, dx, dy):
    """Where point (px, py), moving along (dx, dy), lies relative to a general polygon
    (non-zero winding): 2 inside, 1 on its outline running the same way, -1 on it the
    other way, 0 outside."""
    winding = 0
    for k in range(m):
        nk = (k + 1) % m
        x0, y0, x1, y1 = xs[k], ys[k], xs[nk], ys[nk]
        ex, ey = x1 - x0, y1 - y0
        w = cross(ex, ey, px - x0, py - y0)
        if w == 0 and min(x0, x1) <= px <= max(x0, x1) and min(y0, y1) <= py <= max(y0, y1):
            return 1 if ex * dx + ey * dy > 0 else -1
        if y0 <= py:
            if y1 > py and w > 0:
                winding += 1
        elif y1 <= py and w < 0:
            winding -= 1
    return 2 if winding != 0 else 0


@numba.njit(cache=True)
def _where(bxs, bys, bm, bstar, bcx, bcy, k, px, py, dx, dy):
    if not bstar:
        return locate(bxs, bys, bm, px, py, dx, dy)
    ux, uy = px - bcx, py - bcy
    if ux == 0 and uy == 0:
        return 2  # the centre of a star polygon is inside it
    k = cone(bxs, bys, bm, bcx, bcy, k, ux, uy)
    return locate_star(bxs, bys, bm, bcx, bcy, k, px, py, dx, dy)


@numba.njit(cache=True)
def outline_inside(axs, ays, am, a_simple, bxs, bys, bm, bstar, bcx, bcy, bbox, a_is_clip, shared_counts,
                   cones, states, ts, sx, sy, kinds):
    """Sum of cross(P, Q) over the parts P -> Q of outline A inside polygon B (and on B's
    outline running the same way when ``shared_counts``), crossing points rounded as
    Clipper rounds them.  Fill rule: non-zero winding, as Clipper's; when A crosses itself
    only the parts of its outline that bound its own fill count (oriented with the fill on
    their left).  ``cones, states`` (int64) and ``ts, sx, sy, kinds`` (float64) are scratch
    rows of >= 2 * (am + bm) + 2 entries."""
    bx1, bx2, by1, by2 = bbox
    # 1. sector (star B) and position (2 in, 0 out, 1 on the outline) of A's vertices
    k = -1
    for v in range(am):
        px, py = float(axs[v]), float(ays[v])
        if px < bx1 or px > bx2 or py < by1 or py > by2:
            states[v] = 0
            cones[v] = -1
            continue
        if bstar:
            ux, uy = px - bcx, py - bcy
            if ux == 0 and uy == 0:
                states[v] = 2
                cones[v] = -1
                continue
            if k < 0:
                k = cone_guess(bm, ux, uy)
            k = cone(bxs, bys, bm, bcx, bcy, k, ux, uy)
            cones[v] = k
            state = locate_star(bxs, bys, bm, bcx, bcy, k, px, py, 1.0, 0.0)
        else:
            state = locate(bxs, bys, bm, px, py, 1.0, 0.0)
        states[v] = 2 if state == 2 else (0 if state == 0 else 1)
    # 2. each edge: split at crossings with B's outline, sum the inside parts
    total = 0.0
    for v in range(am):
        nv = (v + 1) % am
        px, py, qx, qy = float(axs[v]), float(ays[v]), float(axs[nv]), float(ays[nv])
        if max(px, qx) < bx1 or min(px, qx) > bx2 or max(py, qy) < by1 or min(py, qy) > by2:
            continue  # outside B's bounding box, hence outside B
        dx, dy = qx - px, qy - py
        start, count = 0, bm
        if bstar:
            upx, upy, uqx, uqy = px - bcx, py - bcy, qx - bcx, qy - bcy
            s = cross(upx, upy, uqx, uqy)
            if s != 0 or upx * uqx + upy * uqy >= 0:
                kp, kq = cones[v], cones[nv]
                if kp < 0 and not (upx == 0 and upy == 0):
                    kp = cone(bxs, bys, bm, bcx, bcy, cone_guess(bm, upx, upy), upx, upy)
                if kq < 0 and not (uqx == 0 and uqy == 0):
                    kq = cone(bxs, bys, bm, bcx, bcy, kp if kp >= 0 else cone_guess(bm, uqx, uqy), uqx, uqy)
                if kp < 0:
                    kp = kq
                if kq < 0:
                    kq = kp
                if s >= 0:
                    span = (kq - kp + bm) % bm
                    first = kp
                else:
                    span = (kp - kq + bm) % bm
                    first = kq
                if span + 3 < bm:
                    count = span + 3
                    start = (first - 1 + bm) % bm
        n_split = 0
        lo_x, hi_x, lo_y, hi_y = min(px, qx), max(px, qx), min(py, qy), max(py, qy)
        for e in range(count):
            eb = (start + e) % bm
            ne = (eb + 1) % bm
            rx, ry, tx, ty = float(bxs[eb]), float(bys[eb]), float(bxs[ne]), float(bys[ne])
            if max(rx, tx) < lo_x or min(rx, tx) > hi_x or max(ry, ty) < lo_y or min(ry, ty) > hi_y:
                continue
            d3 = cross(dx, dy, rx - px, ry - py)
            if d3 == 0:
                along = (rx - px) * dx + (ry - py) * dy
                if 0 < along < dx * dx + dy * dy:  # B's vertex r inside this edge: split
                    ts[n_split] = along / (dx * dx + dy * dy)
                    sx[n_split] = rx
                    sy[n_split] = ry
                    kinds[n_split] = 0.0
                    n_split += 1
                continue
            d4 = cross(dx, dy, tx - px, ty - py)
            if d4 == 0 or (d3 > 0) == (d4 > 0):
                continue
            ex, ey = tx - rx, ty - ry
            d1 = cross(ex, ey, px - rx, py - ry)
            d2 = cross(ex, ey, qx - rx, qy - ry)
            if d1 == 0 or d2 == 0 or (d1 > 0) == (d2 > 0):
                continue
            if a_is_clip:
                ix, iy = crossing_point(px, py, qx, qy, rx, ry, tx, ty)
            else:
                ix, iy = crossing_point(rx, ry, tx, ty, px, py, qx, qy)
            ts[n_split] = d1 / (d1 - d2)
            sx[n_split] = ix
            sy[n_split] = iy
            kinds[n_split] = 1.0
            n_split += 1
        if not a_simple:  # split also where A crosses or touches itself
            for f in range(am):
                nf = (f + 1) % am
                if f == v or f == nv or nf == v:
                    continue
                rx, ry, tx, ty = float(axs[f]), float(ays[f]), float(axs[nf]), float(ays[nf])
                d3 = cross(dx, dy, rx - px, ry - py)
                if d3 == 0:
                    along = (rx - px) * dx + (ry - py) * dy
                    if 0 < along < dx * dx + dy * dy:
                        ts[n_split] = along / (dx * dx + dy * dy)
                        sx[n_split] = rx
                        sy[n_split] = ry
                        kinds[n_split] = 0.0
                        n_split += 1
                    continue
                d4 = cross(dx, dy, tx - px, ty - py)
                if d4 == 0 or (d3 > 0) == (d4 > 0):
                    continue
                ex, ey = tx - rx, ty - ry
                d1 = cross(ex, ey, px - rx, py - ry)
                d2 = cross(ex, ey, qx - rx, qy - ry)
                if d1 == 0 or d2 == 0 or (d1 > 0) == (d2 > 0):
                    continue
                ix, iy = crossing_point(px, py, qx, qy, rx, ry, tx, ty)
                ts[n_split] = d1 / (d1 - d2)
                sx[n_split] = ix
                sy[n_split] = iy
                kinds[n_split] = 2.0  # inside / outside B unchanged
                n_split += 1
        if n_split == 0 and states[v] != 1 and a_simple:
            if states[v] == 2:
                total += px * qy - qx * py
            continue
        for s_ in range(1, n_split):  # insertion sort along the edge
            t, x, y, kind = ts[s_], sx[s_], sy[s_], kinds[s_]
            r = s_ - 1
            while r >= 0 and ts[r] > t:
                ts[r + 1], sx[r + 1], sy[r + 1], kinds[r + 1] = ts[r], sx[r], sy[r], kinds[r]
                r -= 1
            ts[r + 1], sx[r + 1], sy[r + 1], kinds[r + 1] = t, x, y, kind
        state = states[v] if states[v] != 1 else -9  # -9: unknown, locate the piece
        t0, x0, y0 = 0.0, px, py
        for s_ in range(n_split + 1):
            if s_ < n_split:
                t1, x1, y1 = ts[s_], sx[s_], sy[s_]
            else:
                t1, x1, y1 = 1.0, qx, qy
            if state == -9:
                tm = 0.5 * (t0 + t1)
                state = _where(bxs, bys, bm, bstar, bcx, bcy, max(cones[v], 0), px + tm * dx, py + tm * dy, dx, dy)
            if state == 2 or (state == 1 and shared_counts):
                sign = 1.0
                if not a_simple:  # does this piece bound A's own fill, and which way?
                    tm = 0.5 * (t0 + t1)
                    mx, my = px + tm * dx, py + tm * dy
                    norm = 1e-7 / np.sqrt(dx * dx + dy * dy)
                    left = locate(axs, ays, am, mx - dy * norm, my + dx * norm, 1.0, 0.0) == 2
                    right = locate(axs, ays, am, mx + dy * norm, my - dx * norm, 1.0, 0.0) == 2
                    sign = 0.0 if left == right else (1.0 if left else -1.0)
                total += sign * (x0 * y1 - x1 * y0)
            if s_ < n_split:
                if kinds[s_] == 1.0 and (state == 2 or state == 0):
                    state = 2 - state  # a proper crossing swaps inside and outside
                elif kinds[s_] != 2.0:
                    state = -9
            t0, x0, y0 = t1, x1, y1
    return total


@numba.njit(cache=True)
def _before(ux, uy, wx, wy):
    """Whether direction u comes strictly before direction w in angle order from 0 to 2 pi."""
    hu = 0 if (uy > 0 or (uy == 0 and ux > 0)) else 1
    hw = 0 if (wy > 0 or (wy == 0 and wx > 0)) else 1
    if hu != hw:
        return hu < hw
    return ux * wy - uy * wx > 0


@numba.njit(cache=True)
def _first_in_angle(xs, ys, m, cx, cy):
    best = 0
    for k in range(1, m):
        if _before(xs[k] - cx, ys[k] - cy, xs[best] - cx, ys[best] - cy):
            best = k
    return best


@numba.njit(cache=True)
def fan_area2(axs, ays, am, bxs, bys, bm, cx, cy):
    """Twice the exact intersection area of two outlines star-shaped about the integer
    point (cx, cy) (``is_star`` true for both), and a bound on how far rounding the
    crossing points (Clipper) can move it: (area2, margin2), or (nan, nan) if the angular
    sweep fails.  Floating point; O(am + bm): one merged sweep over both vertex angles,
    where in each angular wedge the intersection is bounded by the nearer of two edges."""
    ra = _first_in_angle(axs, ays, am, cx, cy)
    rb = _first_in_angle(bxs, bys, bm, cx, cy)
    a_last = ra - 1 if ra > 0 else am - 1
    b_last = rb - 1 if rb > 0 else bm - 1
    # the sweep starts at the last vertex (in angle) of either outline
    ax0, ay0 = float(axs[a_last] - cx), float(ays[a_last] - cy)
    bx0, by0 = float(bxs[b_last] - cx), float(bys[b_last] - cy)
    ka, kb = a_last, b_last  # current edges start at these vertices
    if _before(ax0, ay0, bx0, by0):
        ux, uy = bx0, by0
        ta, tb = -1.0, 1.0  # ta computed below
    else:
        ux, uy = ax0, ay0
        ta, tb = 1.0, -1.0
    # boundary distance (in units of u) of the edge not owning the starting direction
    na = ka + 1 if ka + 1 < am else 0
    nb = kb + 1 if kb + 1 < bm else 0
    if ta < 0:
        px, py = float(axs[ka] - cx), float(ays[ka] - cy)
        ex, ey = float(axs[na] - axs[ka]), float(ays[na] - ays[ka])
        den = ux * ey - uy * ex
        if den <= 0:
            return np.nan, np.nan
        ta = (px * ey - py * ex) / den
    else:
        px, py = float(bxs[kb] - cx), float(bys[kb] - cy)
        ex, ey = float(bxs[nb] - bxs[kb]), float(bys[nb] - bys[kb])
        den = ux * ey - uy * ex
        if den <= 0:
            return np.nan, np.nan
        tb = (px * ey - py * ex) / den
    area2 = 0.0
    margin2 = 0.0
    ia, ib = 0, 0
    while ia < am or ib < bm:
        ia_idx = ra + ia if ra + ia < am else ra + ia - am
        ib_idx = rb + ib if rb + ib < bm else rb + ib - bm
        take_a = ib >= bm or (ia < am and not _before(bxs[ib_idx] - cx, bys[ib_idx] - cy,
                                                      axs[ia_idx] - cx, ays[ia_idx] - cy))
        if take_a:
            vx_, vy_ = float(axs[ia_idx] - cx), float(ays[ia_idx] - cy)
        else:
            vx_, vy_ = float(bxs[ib_idx] - cx), float(bys[ib_idx] - cy)
        wedge = ux * vy_ - uy * vx_
        na = ka + 1 if ka + 1 < am else 0
        nb = kb + 1 if kb + 1 < bm else 0
        apx, apy = float(axs[ka] - cx), float(ays[ka] - cy)
        aex, aey = float(axs[na] - axs[ka]), float(ays[na] - ays[ka])
        bpx, bpy = float(bxs[kb] - cx), float(bys[kb] - cy)
        bex, bey = float(bxs[nb] - bxs[kb]), float(bys[nb] - bys[kb])
        # boundary distances at the wedge's far side v
        if take_a:
            ta1 = 1.0
            den = vx_ * bey - vy_ * bex
            tb1 = (bpx * bey - bpy * bex) / den if den != 0 else tb
        else:
            tb1 = 1.0
            den = vx_ * aey - vy_ * aex
            ta1 = (apx * aey - apy * aex) / den if den != 0 else ta
        d0 = ta - tb
        d1 = ta1 - tb1
        crossing = (d0 < 0 and d1 > 0) or (d0 > 0 and d1 < 0)
        if wedge > 0:
            if d0 <= 0 and d1 <= 0:
                piece = ta * ta1 * wedge
            elif d0 >= 0 and d1 >= 0:
                piece = tb * tb1 * wedge
            else:
                den = aex * bey - aey * bex
                s = ((bpx - apx) * bey - (bpy - apy) * bex) / den
                xx, xy = apx + s * aex, apy + s * aey
                t0 = ta if d0 < 0 else tb
                t1 = ta1 if d1 < 0 else tb1
                piece = t0 * (ux * xy - uy * xx) + t1 * (xx * vy_ - xy * vx_)
            area2 += piece
            # Clipper decides on integer scan lines which outline is inside where two come
            # within a pixel of each other; its choice can only differ from the exact one
            # by the area between the two pieces of this wedge.  "Near": an end of one piece
            # closer than 2 pixels to the other piece's line.
            la2 = aex * aex + aey * aey
            lb2 = bex * bex + bey * bey
            near = crossing
            for end in range(4):
                if near:
                    break
                if end == 0:
                    qx, qy, lx, ly, lex, ley, l2 = ta * ux, ta * uy, bpx, bpy, bex, bey, lb2
                elif end == 1:
                    qx, qy, lx, ly, lex, ley, l2 = ta1 * vx_, ta1 * vy_, bpx, bpy, bex, bey, lb2
                elif end == 2:
                    qx, qy, lx, ly, lex, ley, l2 = tb * ux, tb * uy, apx, apy, aex, aey, la2
                else:
                    qx, qy, lx, ly, lex, ley, l2 = tb1 * vx_, tb1 * vy_, apx, apy, aex, aey, la2
                c = lex * (qy - ly) - ley * (qx - lx)
                near = c * c < 4.0 * l2
            if near:
                margin2 += (ta * ta1 + tb * tb1) * wedge - 2.0 * piece
        elif wedge < 0 or ux * vx_ + uy * vy_ < 0:
            return np.nan, np.nan  # a wedge of pi or more: not a valid sweep
        if crossing:
            # the outlines cross in this wedge (or on its ray when it has no width): Clipper
            # rounds that point to integers, which moves the area by less than this
            margin2 += 2.0 * (np.sqrt(aex * aex + aey * aey) + np.sqrt(bex * bex + bey * bey) + 1.0)
        # step over the event: the owner's edge now starts at this vertex
        if take_a:
            ka = ia_idx
            ia += 1
            ta = 1.0
            tb = tb1
        else:
            kb = ib_idx
            ib += 1
            tb = 1.0
            ta = ta1
        ux, uy = vx_, vy_
    return area2, margin2


@numba.njit(cache=True)
def lens_area(r1, r2, d):
    """Area of the intersection of two discs of radii r1, r2 whose centres are d apart."""
    if d >= r1 + r2:
        return 0.0
    if d <= abs(r1 - r2):
        r = min(r1, r2)
        return np.pi * r * r
    a1 = r1 * r1 * np.arccos(min(1.0, max(-1.0, (d * d + r1 * r1 - r2 * r2) / (2 * d * r1))))
    a2 = r2 * r2 * np.arccos(min(1.0, max(-1.0, (d * d + r2 * r2 - r1 * r1) / (2 * d * r2))))
    k = (-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2) * (d + r1 + r2)
    return a1 + a2 - 0.5 * np.sqrt(max(k, 0.0))
