"""Post-processing and metrics: keras_voidseg (numba) vs the reference implementations.

One scene of BBBC004-like nuclei (default 2048x2048, ~3000 nuclei), a realistic StarDist
prediction made from it (blurred, noisy object probabilities; noisy ray distances) and a
perturbed label image to score; every operation is timed for the project and for the
reference, in the same process on the same cores (best of ``repeats`` runs, after one
warm-up call that also loads numba's cached machine code):

=================== ========================================= ========
operation           reference                                 target
=================== ========================================= ========
star_dist           stardist.geometry.star_dist(mode="cpp")   >= 1x
NMS                 stardist.nms.non_maximum_suppression      >= 2x
polygons_to_label   stardist.geometry.polygons_to_label       >= 1x
matching            stardist.matching.matching                >= 8x
SEG                 py-ctcmetrics (match + seg)               >= 20x
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


def best_time(fn, repeats: int) -> tuple[float, object]:
    result = fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def make_scene(size: int, seed: int = 0):
    """Labels, a StarDist-like prediction (prob, dist) and a perturbed prediction to score."""
    from scipy.ndimage import gaussian_filter

    from keras_voidseg.data.synthetic import synthesize
    from keras_voidseg.stardist import object_probability, star_dist

    n_nuclei = int(3000 * (size / 2048) ** 2)
    _, labels = synthesize(size, n_nuclei=n_nuclei, seed=seed)
    rng = np.random.default_rng(seed)
    prob = np.clip(gaussian_filter(object_probability(labels), 1) + rng.normal(0, 0.05, labels.shape), 0, 1)
    dist = np.maximum(star_dist(labels) + rng.normal(0, 0.5, labels.shape + (32,)), 0)
    pred = np.roll(labels, (2, -1), axis=(0, 1))
    return labels, prob.astype(np.float32), dist.astype(np.float32), pred


def _ctc_seg(gt_path: str, pred_path: str) -> float:
    from ctc_metrics.metrics.technical.seg import seg
    from ctc_metrics.utils.representations import match

    labels_ref, _, _, _, ious = match(gt_path, pred_path)
    return seg([labels_ref], [ious])


def run(size: int = 2048, repeats: int = 3, prob_thresh: float = 0.55) -> list[dict]:
    """Time every operation; rows: name, ours, reference, ratio, target, passed, same."""
    import tifffile
    from stardist.geometry import polygons_to_label as sd_render
    from stardist.geometry import star_dist as sd_star_dist
    from stardist.matching import matching as sd_matching
    from stardist.nms import non_maximum_suppression as sd_nms

    from keras_voidseg.metrics import matching, seg_score
    from keras_voidseg.stardist import non_maximum_suppression, polygons_to_label, star_dist

    labels, prob, dist, pred = make_scene(size)
    rows = []

    def add(name, ours, ref, same, note=""):
        (t_ours, _), (t_ref, _) = ours, ref
        ratio = t_ref / t_ours
        rows.append({"operation": name, "ours_s": t_ours, "reference_s": t_ref, "ratio": ratio,
                     "target": TARGETS[name], "passed": ratio >= TARGETS[name], "same": same, "note": note})

    ours = best_time(lambda: star_dist(labels), repeats)
    ref = best_time(lambda: sd_star_dist(labels.astype(np.uint16), 32, mode="cpp"), repeats)
    add("star_dist", ours, ref, bool(np.allclose(ours[1], ref[1], atol=1e-5)))

    n_candidates = int((prob > prob_thresh).sum())
    ours = best_time(lambda: non_maximum_suppression(dist, prob, prob_thresh, 0.4), repeats)
    ref = best_time(lambda: sd_nms(dist, prob, prob_thresh=prob_thresh, nms_thresh=0.4), repeats)
    same = {tuple(p) for p in ours[1][0]} == {tuple(p) for p in ref[1][0]}
    add("nms", ours, ref, same, f"{n_candidates} candidates, {len(ours[1][0])} kept")

    points, scores, dists = ours[1]
    ours = best_time(lambda: polygons_to_label(dists, points, labels.shape, prob=scores), repeats)
    ref = best_time(lambda: sd_render(dists, points, labels.shape, prob=scores), repeats)
    add("polygons_to_label", ours, ref, bool(np.array_equal(ours[1], ref[1])))

    thresholds = (0.5, 0.7, 0.9)
    ours = best_time(lambda: matching(labels, pred, thresh=thresholds), repeats)
    ref = best_time(lambda: sd_matching(labels, pred, thresh=thresholds), repeats)
    same = all(a.tp == b.tp and a.fp == b.fp and a.fn == b.fn for a, b in zip(ours[1], ref[1]))
    add("matching", ours, ref, same, f"{len(np.unique(labels)) - 1} objects, 3 thresholds")

    with tempfile.TemporaryDirectory() as tmp:
        gt_path, pred_path = os.path.join(tmp, "gt.tif"), os.path.join(tmp, "pred.tif")
        tifffile.imwrite(gt_path, labels.astype(np.uint16))
        tifffile.imwrite(pred_path, pred.astype(np.uint16))
        ours = best_time(lambda: seg_score(labels, pred), repeats)
        ref = best_time(lambda: _ctc_seg(gt_path, pred_path), repeats)
    add("seg", ours, ref, abs(ours[1] - ref[1]) < 1e-9, "reference reads the two TIFFs it needs")
    return rows


def scaling(sizes=(512, 1024, 2048, 4096)) -> list[dict]:
    """Our times per operation for growing scenes (objects grow with the area)."""
    from keras_voidseg.metrics import matching, seg_score
    from keras_voidseg.stardist import non_maximum_suppression, polygons_to_label, star_dist

    rows = []
    for size in sizes:
        labels, prob, dist, pred = make_scene(size)
        t_sd, _ = best_time(lambda: star_dist(labels), 1)
        t_nms, kept = best_time(lambda: non_maximum_suppression(dist, prob, 0.55, 0.4), 1)
        t_render, _ = best_time(lambda: polygons_to_label(kept[2], kept[0], labels.shape, prob=kept[1]), 1)
        t_match, _ = best_time(lambda: matching(labels, pred), 1)
        t_seg, _ = best_time(lambda: seg_score(labels, pred), 1)
        rows.append({"size": size, "objects": int(labels.max()), "star_dist": t_sd, "nms": t_nms,
                     "polygons_to_label": t_render, "matching": t_match, "seg": t_seg})
    return rows


def compile_seconds() -> float:
    """Import + first call of every kernel in a fresh process (loads numba's cache)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", warmup_snippet()], check=True, cwd=Path(__file__).resolve().parents[1])
    return time.perf_counter() - start


def warmup_snippet() -> str:
    return ("import numpy as np\n"
            "from keras_voidseg.stardist import star_dist, non_maximum_suppression, polygons_to_label\n"
            "from keras_voidseg.metrics import matching, seg_score\n"
            "l = np.zeros((32, 32), np.int32); l[8:20, 8:20] = 1\n"
            "d = star_dist(l); p = (l > 0).astype(np.float32)\n"
            "pts, pr, ds = non_maximum_suppression(d, p, 0.5, 0.4)\n"
            "polygons_to_label(ds, pts, l.shape, prob=pr); matching(l, l); seg_score(l, l)\n")


def format_rows(rows: list[dict]) -> str:
    lines = [f"{'operation':<18} {'ours (s)':>9} {'reference (s)':>13} {'ratio':>7} {'target':>7} {'pass':>5} {'same':>5}  note"]
    for r in rows:
        lines.append(f"{r['operation']:<18} {r['ours_s']:9.3f} {r['reference_s']:13.3f} {r['ratio']:6.1f}x "
                     f"{r['target']:6.0f}x {'yes' if r['passed'] else 'NO':>5} {'yes' if r['same'] else 'NO':>5}  {r['note']}")
    return "\n".join(lines)


def main(size: int = 2048, repeats: int = 3, with_scaling: bool = True) -> None:
    import numba

    print(f"scene {size}x{size}, ~{int(3000 * (size / 2048) ** 2)} nuclei; numba threads: {numba.get_num_threads()}, "
          f"CPU cores: {os.cpu_count()}")
    print(f"fresh process, import + first call of every kernel (numba cache): {compile_seconds():.2f} s")
    print(format_rows(run(size, repeats)))
    if with_scaling:
        print("\nscaling (ours, seconds):")
        print(f"{'size':>6} {'objects':>8} {'star_dist':>10} {'nms':>8} {'render':>8} {'matching':>9} {'seg':>8}")
        for r in scaling():
            print(f"{r['size']:>6} {r['objects']:>8} {r['star_dist']:10.3f} {r['nms']:8.3f} "
                  f"{r['polygons_to_label']:8.3f} {r['matching']:9.3f} {r['seg']:8.3f}")


if __name__ == "__main__":
    main()
