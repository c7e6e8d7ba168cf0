"""Inference and training throughput of the U-Net per Keras backend (TensorFlow vs PyTorch).

Measures, in one subprocess per backend (the backend is fixed at Keras import):

* whole-image prediction in megapixels/s of a depth-3, 32-filter voidseg U-Net on
  1024x1024 and 2048x2048 inputs, with ``model.predict`` ("keras") and with
  ``keras_voidseg.models.inference.predict_fn`` ("fast"), whose outputs are checked
  against ``model.predict``;
* training throughput in images/s (``train_on_batch`` on the ``cpu`` preset: depth 3,
  16 filters, batch 16 of 64x64 patches, 3-class loss).

Usage::

    .venv/bin/python benchmarks/bench_inference.py                 # both backends
    .venv/bin/python benchmarks/bench_inference.py --sizes 1024 --backends torch
    .venv/bin/python benchmarks/bench_inference.py --json out.json

Prints a table and the torch/tensorflow ratios measured in this run.  The machine is
shared, so run it when idle and compare numbers from the same run only.
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


def _measure(args) -> dict:
    """Run in the child process, under the backend named by KERAS_BACKEND."""
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import keras

    from keras_voidseg.config import BackboneConfig, HeadConfig, get_preset
    from keras_voidseg.models.inference import keras_forward, predict_fn
    from keras_voidseg.models.losses import three_class_loss
    from keras_voidseg.models.unet import build_unet

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    result = {"backend": keras.backend.backend(), "predict": {}, "train": {}}

    model = build_unet(BackboneConfig(depth=args.depth, base_filters=args.base_filters), HeadConfig())
    fast = predict_fn(model)
    small = rng.random((1, 256, 256, 1), dtype=np.float32)
    reference = model.predict(small, verbose=0)
    result["fast_max_abs_diff"] = float(np.abs(fast(small) - reference).max())
    keras_forward(model)(small)
    for size in args.sizes:
        image = rng.random((1, size, size, 1), dtype=np.float32)
        row = {}
        for name, fn in (("keras", lambda x: model.predict(x, verbose=0)), ("fast", fast)):
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                fn(image)
                times.append(time.perf_counter() - start)
            row[name] = size * size / min(times) / 1e6
        result["predict"][str(size)] = row
        print(f"[{result['backend']}] {size}x{size}: keras {row['keras']:.3f} MP/s, "
              f"fast {row['fast']:.3f} MP/s", file=sys.stderr, flush=True)

    preset = get_preset("cpu")
    train = preset.train
    net = build_unet(preset.backbone, HeadConfig())
    net.compile(optimizer=keras.optimizers.Adam(train.learning_rate),
                loss=three_class_loss(train.class_weights))
    x = rng.random((train.batch_size, train.patch_size, train.patch_size, 1), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, x.shape[:3])]
    for _ in range(3):
        net.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(args.train_steps):
        net.train_on_batch(x, y)
    elapsed = time.perf_counter() - start
    result["train"] = {"preset": "cpu", "images_per_s": args.train_steps * train.batch_size / elapsed,
                       "steps_per_s": args.train_steps / elapsed}
    print(f"[{result['backend']}] train cpu preset: {result['train']['images_per_s']:.1f} images/s",
          file=sys.stderr, flush=True)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "torch"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1024, 2048])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--base-filters", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(_measure(args)))
        return 0

    results = []
    for backend in args.backends:
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        cmd = [sys.executable, __file__, "--child", "--sizes", *map(str, args.sizes),
               "--repeats", str(args.repeats), "--depth", str(args.depth),
               "--base-filters", str(args.base_filters), "--train-steps", str(args.train_steps)]
        done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))

    print(f"\nU-Net depth {args.depth}, {args.base_filters} base filters, {os.cpu_count()} CPU cores")
    print(f"{'backend':<11} {'size':>6} {'keras MP/s':>11} {'fast MP/s':>10} {'speed-up':>9}")
    for r in results:
        for size, row in r["predict"].items():
            print(f"{r['backend']:<11} {size:>6} {row['keras']:>11.3f} {row['fast']:>10.3f} "
                  f"{row['fast'] / row['keras']:>8.2f}x")
    for r in results:
        print(f"{r['backend']:<11} train (cpu preset): {r['train']['images_per_s']:.1f} images/s; "
              f"fast path max |diff| vs predict: {r['fast_max_abs_diff']:.2e}")
    by = {r["backend"]: r for r in results}
    if {"tensorflow", "torch"} <= set(by):
        tf_, pt = by["tensorflow"], by["torch"]
        for size in tf_["predict"]:
            print(f"torch/tensorflow ratio {size}: keras {pt['predict'][size]['keras'] / tf_['predict'][size]['keras']:.2f}, "
                  f"fast {pt['predict'][size]['fast'] / tf_['predict'][size]['fast']:.2f}")
        print(f"torch/tensorflow ratio training: "
              f"{pt['train']['images_per_s'] / tf_['train']['images_per_s']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
