"""Tiled inference speed and peak memory of the U-Net per Keras backend (TensorFlow vs PyTorch).

For every image side in ``--sizes`` and every backend, one fresh subprocess (the backend is
fixed at Keras import, and ``ru_maxrss`` is a per-process peak) measures, in this order:

1. **tiled** (what users get): ``Pipeline.network_output(image)`` of an untrained ``cpu``
   preset pipeline (U-Net depth 3, 16 base filters, ``voidseg`` head: 3 class logits + 1
   intensity), i.e. percentile normalisation + :func:`keras_voidseg.predict.predict_tiled`
   with ``n_tiles=None`` (tile grid chosen by ``auto_n_tiles`` from
   ``DEFAULT_MAX_TILE_PIXELS``, 32 px context) over ``predict_fn(model)`` - the backend
   fast path (torch: BN-folded native graph; TensorFlow: one relaxed-shape ``tf.function``).
   Reported: megapixels/s of the best of ``--repeats`` warm calls, the first (cold) call's
   time, and the process's peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``) before the
   call (after model build + a 256x256 warm-up) and after it; the increase is what tiled
   prediction of this image costs on top of a loaded model.
2. **untiled**: the same call with ``n_tiles=(1, 1)`` (whole image in one network call),
   MP/s and the peak RSS afterwards (a process peak, so it is max(tiled, untiled)).
3. ``model.predict`` on the whole image (the generic Keras path), MP/s, and the fast
   path's max |difference| to ``model.predict`` on a 256x256 image.

Usage::

    .venv/bin/python benchmarks/bench_inference.py                      # 1024 and 2048, both backends
    .venv/bin/python benchmarks/bench_inference.py --sizes 2048 --backends torch
    .venv/bin/python benchmarks/bench_inference.py --threads 1 --json out.json

Prints a table and the torch/tensorflow ratios measured in this run.  The machine may be
shared: compare numbers from the same run only.  (Training throughput and the data
pipeline's share of a training step are in ``bench_training.py``.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "torch")


def run_child(script: str | Path, argv: list[str], backend: str) -> dict:
    """Run ``script --child *argv`` under ``KERAS_BACKEND=backend``; its last stdout line is JSON."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(script), "--child", *argv], env=env,
                          stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(script).name} child under {backend} failed "
                           f"(exit {done.returncode}); see its stderr above")
    return json.loads(done.stdout.strip().splitlines()[-1])


def limit_threads(n: int) -> None:
    """Cap the backend's CPU threads at ``n`` (0: library defaults); call before any op runs.

    On a machine shared with other jobs, PyTorch's default intra-op threads (one per core)
    can spin against the other processes and make a training step ~10x slower; a fixed
    count gives both backends the same cores.
    """
    if not n:
        return
    import keras

    if keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(n)
        try:
            torch.set_num_interop_threads(n)
        except RuntimeError:  # already set once in this process
            pass
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux ``ru_maxrss`` is in KiB)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _measure(args) -> dict:
    """Run in the child process, under the backend named by KERAS_BACKEND (one image size)."""
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import keras

    from keras_voidseg.config import BackboneConfig, HeadConfig, PipelineConfig, get_preset
    from keras_voidseg.models.inference import predict_fn
    from keras_voidseg.pipeline import Pipeline
    from keras_voidseg.predict import DEFAULT_MAX_TILE_PIXELS, auto_n_tiles

    limit_threads(args.threads)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    size = args.size
    preset = get_preset("cpu")
    backbone = BackboneConfig(depth=args.depth, base_filters=args.base_filters)
    config = PipelineConfig(method="unet", scheme="baseline", backbone=backbone,
                            head=HeadConfig(kind="voidseg"), train=preset.train, preset="cpu")
    pipe = Pipeline.build(config)
    model = pipe.segmenter
    raw = (1000 + 200 * rng.standard_normal((size, size))).astype(np.float32)
    pipe.network_output(raw[:256, :256])  # builds and warms the fast predictor
    result = {"backend": keras.backend.backend(), "size": size, "threads": args.threads,
              "rss_start_mib": peak_rss_mib()}

    divisor = backbone.size_divisor
    context = -(-32 // divisor) * divisor
    padded = tuple(-(-size // divisor) * divisor for _ in range(2))
    result["n_tiles"] = list(auto_n_tiles(padded, DEFAULT_MAX_TILE_PIXELS, context))

    start = time.perf_counter()
    pipe.network_output(raw)
    result["tiled_cold_s"] = time.perf_counter() - start
    result["rss_tiled_mib"] = peak_rss_mib()
    best = _best_time(lambda: pipe.network_output(raw), args.repeats)
    result["tiled_mps"] = size * size / best / 1e6

    best = _best_time(lambda: pipe.network_output(raw, n_tiles=(1, 1)), args.repeats)
    result["untiled_mps"] = size * size / best / 1e6
    result["rss_untiled_mib"] = peak_rss_mib()

    image = rng.random((1, size, size, 1), dtype=np.float32)
    model.predict(image[:, :256, :256], verbose=0)
    best = _best_time(lambda: model.predict(image, verbose=0), args.repeats)
    result["keras_predict_mps"] = size * size / best / 1e6

    small = rng.random((1, 256, 256, 1), dtype=np.float32)
    result["fast_max_abs_diff"] = float(np.abs(predict_fn(model)(small) - model.predict(small, verbose=0)).max())
    print(f"[{result['backend']}] {size}x{size}: tiled {result['tiled_mps']:.3f} MP/s "
          f"(peak RSS +{result['rss_tiled_mib'] - result['rss_start_mib']:.0f} MiB), untiled "
          f"{result['untiled_mps']:.3f} MP/s, model.predict {result['keras_predict_mps']:.3f} MP/s",
          file=sys.stderr, flush=True)
    return result


def print_table(results: list[dict], args) -> None:
    """The results table and the torch/tensorflow ratios (same run, same machine)."""
    print(f"\nTiled inference, voidseg U-Net depth {args.depth}, {args.base_filters} base filters "
          f"(cpu preset), Pipeline.network_output, {os.cpu_count()} CPU cores, "
          f"{args.threads or 'default'} backend threads; best of {args.repeats} warm calls")
    print(f"{'backend':<11} {'size':>5} {'tiles':>5} {'tiled MP/s':>10} {'cold s':>7} "
          f"{'RSS base':>8} {'RSS peak':>8} {'increase':>8} {'untiled MP/s':>12} {'untiled peak':>12} "
          f"{'predict MP/s':>12} {'fast |diff|':>11}")
    for r in results:
        tiles = "x".join(map(str, r["n_tiles"]))
        print(f"{r['backend']:<11} {r['size']:>5} {tiles:>5} {r['tiled_mps']:>10.3f} "
              f"{r['tiled_cold_s']:>7.2f} {r['rss_start_mib']:>5.0f}MiB {r['rss_tiled_mib']:>5.0f}MiB "
              f"{r['rss_tiled_mib'] - r['rss_start_mib']:>5.0f}MiB {r['untiled_mps']:>12.3f} "
              f"{r['rss_untiled_mib']:>9.0f}MiB {r['keras_predict_mps']:>12.3f} {r['fast_max_abs_diff']:>11.1e}")
    by = {(r["backend"], r["size"]): r for r in results}
    for size in args.sizes:
        tf_, pt = by.get(("tensorflow", size)), by.get(("torch", size))
        if tf_ and pt:
            print(f"torch/tensorflow ratio {size}x{size}: tiled MP/s {pt['tiled_mps'] / tf_['tiled_mps']:.2f}, "
                  f"tiled peak-RSS increase {(pt['rss_tiled_mib'] - pt['rss_start_mib']) / max(tf_['rss_tiled_mib'] - tf_['rss_start_mib'], 1e-9):.2f}, "
                  f"untiled MP/s {pt['untiled_mps'] / tf_['untiled_mps']:.2f}, "
                  f"model.predict MP/s {pt['keras_predict_mps'] / tf_['keras_predict_mps']:.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--sizes", nargs="+", type=int, default=[1024, 2048])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--base-filters", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="backend CPU threads (0: defaults)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.sizes) < 64 or args.repeats < 1:
        parser.error("--sizes must be >= 64 and --repeats >= 1")

    if args.child:
        print(json.dumps(_measure(args)))
        return 0

    results = []
    for size in args.sizes:
        for backend in args.backends:
            results.append(run_child(__file__, [
                "--size", str(size), "--repeats", str(args.repeats), "--depth", str(args.depth),
                "--base-filters", str(args.base_filters), "--threads", str(args.threads)], backend))
    print_table(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
