"""Post-processing and metrics: keras_voidseg (numba) vs the reference implementations.

One scene of BBBC004-like nuclei (default 2048 x 2048, ~3000 nuclei), a realistic StarDist
prediction made from it (blurred, noisy object probabilities; noisy ray distances; the
probability threshold is picked so that ~300k pixels are NMS candidates at 2048^2) and a
shifted label image to score.  Every operation is timed for the project and for the
reference in the same process on the same cores (best of ``repeats`` runs after one
warm-up call, which also loads numba's cached machine code).  The references run as
installed: stardist's C++ uses OpenMP on all cores, numba uses its default thread count.

=================== ========================================= ========
operation           reference                                 target
=================== ========================================= ========
star_dist           stardist.geometry.star_dist(mode="cpp")   >= 1x
nms                 stardist.nms.non_maximum_suppression      >= 2x
polygons_to_label   stardist.geometry.polygons_to_label       >= 1x
matching            stardist.matching.matching                >= 8x
seg                 py-ctcmetrics (match + seg)               >= 20x
=================== ========================================= ========

Run: ``kvs bench postprocess`` (or ``python -m benchmarks.bench_postprocess``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGETS = {"star_dist": 1.0, "nms": 2.0, "polygons_to_label": 1.0, "matching": 8.0, "seg": 20.0}
NUCLEI_AT_2048 = 3000
CANDIDATES_AT_2048 = 300_000
CHECKOUT = Path(__file__).resolve().parents[1]


def best_time(fn, repeats: int) -> tuple[float, object]:
    """(best wall time of ``repeats`` calls after one warm-up call, last result)."""
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def make_scene(size: int, seed: int = 0) -> dict:
    """Labels, a StarDist-like prediction (prob, dist), the NMS threshold giving ~300k
    candidates per 2048^2, and a shifted prediction to score."""
    from scipy.ndimage import gaussian_filter

    from keras_voidseg.data.synthetic import synthesize
    from keras_voidseg.stardist import object_probability, star_dist

    scale = (size / 2048) ** 2
    _, labels = synthesize(size, n_nuclei=max(1, int(NUCLEI_AT_2048 * scale)), seed=seed)
    rng = np.random.default_rng(seed)
    prob = np.clip(gaussian_filter(object_probability(labels), 1) + rng.normal(0, 0.05, labels.shape), 0, 1)
    dist = np.maximum(star_dist(labels) + rng.normal(0, 0.5, labels.shape + (32,)), 0)
    inner = np.sort(prob[2:-2, 2:-2], axis=None)
    wanted = min(inner.size - 1, max(1, int(CANDIDATES_AT_2048 * scale)))
    prob_thresh = float(inner[-wanted - 1])
    return {"labels": labels, "prob": prob.astype(np.float32), "dist": dist.astype(np.float32),
            "prob_thresh": prob_thresh, "pred": np.roll(labels, (2, -1), axis=(0, 1))}


def _ctc_seg(gt_path: str, pred_path: str) -> float:
    from ctc_metrics.metrics.technical.seg import seg
    from ctc_metrics.utils.representations import match

    labels_ref, _, _, _, ious = match(gt_path, pred_path)
    return seg([labels_ref], [ious])


def _metrics():
    """(matching, seg_score) of keras_voidseg.metrics, or None while that module is missing."""
    try:
        from keras_voidseg.metrics import matching, seg_score
    except ImportError:
        return None
    return matching, seg_score


def _row(name, ours, ref, same, note=""):
    (t_ours, _), (t_ref, _) = ours, ref
    ratio = t_ref / t_ours
    return {"operation": name, "ours_s": t_ours, "reference_s": t_ref, "ratio": ratio, "target": TARGETS[name],
            "passed": ratio >= TARGETS[name], "same": bool(same), "note": note}


def _missing(name, why):
    return {"operation": name, "ours_s": None, "reference_s": None, "ratio": None, "target": TARGETS[name],
            "passed": None, "same": None, "note": why}


def compare(size: int = 2048, repeats: int = 3, seed: int = 0) -> list[dict]:
    """Time every operation against its reference; one row per operation."""
    from stardist.geometry import polygons_to_label as sd_render
    from stardist.geometry import star_dist as sd_star_dist
    from stardist.nms import non_maximum_suppression as sd_nms

    from keras_voidseg.stardist import non_maximum_suppression, polygons_to_label, star_dist

    scene = make_scene(size, seed)
    labels, prob, dist, pt = scene["labels"], scene["prob"], scene["dist"], scene["prob_thresh"]
    rows = []

    ours = best_time(lambda: star_dist(labels), repeats)
    ref = best_time(lambda: sd_star_dist(labels.astype(np.uint16), 32, mode="cpp"), repeats)
    rows.append(_row("star_dist", ours, ref, np.allclose(ours[1], ref[1], atol=1e-5, rtol=0), "|diff| <= 1e-5"))

    n_candidates = int((prob[2:-2, 2:-2] > pt).sum())
    ours = best_time(lambda: non_maximum_suppression(dist, prob, pt, 0.4), repeats)
    ref = best_time(lambda: sd_nms(dist, prob, prob_thresh=pt, nms_thresh=0.4), repeats)
    same = np.array_equal(ours[1][0], ref[1][0])
    rows.append(_row("nms", ours, ref, same, f"{n_candidates} candidates, {len(ours[1][0])} kept"))

    points, scores, dists = ref[1]
    ours = best_time(lambda: polygons_to_label(dists, points, labels.shape, prob=scores), repeats)
    ref = best_time(lambda: sd_render(dists, points, labels.shape, prob=scores), repeats)
    rows.append(_row("polygons_to_label", ours, ref, np.array_equal(ours[1], ref[1]), f"{len(points)} polygons"))

    metrics = _metrics()
    if metrics is None:
        rows += [_missing("matching", "not available yet (keras_voidseg.metrics)"),
                 _missing("seg", "not available yet (keras_voidseg.metrics)")]
        return rows
    matching, seg_score = metrics
    from stardist.matching import matching as sd_matching

    pred = scene["pred"]
    thresholds = (0.5, 0.7, 0.9)
    ours = best_time(lambda: matching(labels, pred, thresh=thresholds), repeats)
    ref = best_time(lambda: sd_matching(labels, pred, thresh=thresholds), repeats)
    same = all(a.tp == b.tp and a.fp == b.fp and a.fn == b.fn for a, b in zip(ours[1], ref[1]))
    rows.append(_row("matching", ours, ref, same, f"{int(labels.max())} objects, 3 thresholds"))

    import tifffile

    with tempfile.TemporaryDirectory() as tmp:
        gt_path, pred_path = os.path.join(tmp, "gt.tif"), os.path.join(tmp, "pred.tif")
        tifffile.imwrite(gt_path, labels.astype(np.uint16))
        tifffile.imwrite(pred_path, pred.astype(np.uint16))
        ours = best_time(lambda: seg_score(labels, pred), repeats)
        ref = best_time(lambda: _ctc_seg(gt_path, pred_path), repeats)
    rows.append(_row("seg", ours, ref, abs(ours[1] - ref[1]) < 1e-9, "reference reads its two TIFFs"))
    return rows


def scaling(sizes=(512, 1024, 2048, 4096), seed: int = 0) -> list[dict]:
    """Our times per operation for growing scenes (objects and candidates grow with the area)."""
    from keras_voidseg.stardist import non_maximum_suppression, polygons_to_label, star_dist

    metrics = _metrics()
    rows = []
    for size in sizes:
        scene = make_scene(size, seed)
        labels, prob, dist, pt = scene["labels"], scene["prob"], scene["dist"], scene["prob_thresh"]
        row = {"size": size, "objects": int(len(np.unique(labels)) - 1)}
        row["star_dist"], _ = best_time(lambda: star_dist(labels), 1)
        row["nms"], kept = best_time(lambda: non_maximum_suppression(dist, prob, pt, 0.4), 1)
        row["polygons_to_label"], _ = best_time(
            lambda: polygons_to_label(kept[2], kept[0], labels.shape, prob=kept[1]), 1)
        if metrics is not None:
            row["matching"], _ = best_time(lambda: metrics[0](labels, scene["pred"]), 1)
            row["seg"], _ = best_time(lambda: metrics[1](labels, scene["pred"]), 1)
        rows.append(row)
    return rows


WARMUP = ("import time; t = time.perf_counter()\n"
          "import numpy as np\n"
          "from keras_voidseg.stardist import star_dist, object_probability, non_maximum_suppression, "
          "polygons_to_label\n"
          "l = np.zeros((40, 40), np.int32); l[8:30, 6:28] = 1; l[30:38, 30:38] = 2\n"
          "d = star_dist(l); p = object_probability(l)\n"
          "pts, pr, ds = non_maximum_suppression(d, p, 0.3, 0.4)\n"
          "polygons_to_label(ds, pts, l.shape, prob=pr)\n"
          "print(time.perf_counter() - t)\n")


def compile_seconds() -> tuple[float, float]:
    """(import + first call of every stardist kernel in a fresh process with an empty numba
    cache, i.e. compiling; the same again with that cache filled)."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        times = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", WARMUP], check=True, cwd=CHECKOUT, env=env,
                                 capture_output=True, text=True).stdout
            times.append(float(out.strip().splitlines()[-1]))
    return times[0], times[1]


def run(size: int = 2048, repeats: int = 3, scaling: bool = True) -> list[dict]:
    """Print the comparison table (and the scaling table); return the comparison rows."""
    import numba

    print(f"scene {size}x{size}, ~{max(1, int(NUCLEI_AT_2048 * (size / 2048) ** 2))} nuclei; numba threads: "
          f"{numba.get_num_threads()}, CPU cores: {os.cpu_count()}")
    cold, warm = compile_seconds()
    print(f"numba: import + first call of every stardist kernel in a fresh process: {cold:.2f} s compiling "
          f"(empty cache), {warm:.2f} s from the cache")
    rows = compare(size, repeats)
    print(format_rows(rows))
    if scaling:
        print("\nscaling (ours, seconds; objects and NMS candidates grow with the area):")
        print(format_scaling(_scaling_rows()))
    return rows


def _scaling_rows():
    return scaling()


def format_rows(rows: list[dict]) -> str:
    head = (f"{'operation':<18} | {'ours (s)':>8} | {'reference (s)':>13} | {'ratio':>7} | {'target':>6} | "
            f"{'pass':>4} | {'identical':>9} | note")
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["ours_s"] is None:
            lines.append(f"{r['operation']:<18} | {'-':>8} | {'-':>13} | {'-':>7} | {r['target']:5.0f}x | "
                         f"{'-':>4} | {'-':>9} | {r['note']}")
            continue
        lines.append(f"{r['operation']:<18} | {r['ours_s']:8.3f} | {r['reference_s']:13.3f} | {r['ratio']:6.2f}x | "
                     f"{r['target']:5.0f}x | {'pass' if r['passed'] else 'FAIL':>4} | "
                     f"{'yes' if r['same'] else 'NO':>9} | {r['note']}")
    return "\n".join(lines)


def format_scaling(rows: list[dict]) -> str:
    names = ["star_dist", "nms", "polygons_to_label", "matching", "seg"]
    lines = [f"{'size':>6} {'objects':>8} " + " ".join(f"{n:>17}" for n in names)]
    for r in rows:
        cells = " ".join(f"{r[n]:17.3f}" if n in r else f"{'n/a':>17}" for n in names)
        lines.append(f"{r['size']:>6} {r['objects']:>8} {cells}")
    return "\n".join(lines)


def main(size: int = 2048, repeats: int = 3, with_scaling: bool = True) -> list[dict]:
    return run(size, repeats, with_scaling)


if __name__ == "__main__":
    main()
