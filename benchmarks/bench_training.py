"""Share of training time spent in the data pipeline, per Keras backend (TensorFlow vs PyTorch).

For the ``cpu`` preset (U-Net depth 3, 16 base filters, batch 16 of 64x64 patches, synthetic
BBBC004-like data with noise 200 as ``prepare_data`` makes it), one subprocess per backend
measures three training stages built exactly as :mod:`keras_voidseg.schemes` builds them
(``schemes._datasets`` -> the real ``PatchDataset`` with dihedral augmentation and the
stage's target function; the stage's network and loss):

* ``n2v``: Noise2Void (``train_denoiser``): blind-spot masking (``n2v_targets``), masked MSE;
* ``unet``: 3-class segmenter (``train_segmenter``): ``three_class_targets``, weighted CE;
* ``stardist``: StarDist segmenter: ``stardist_targets`` (32 rays), BCE + 0.2 MAE.

Per stage, with ``N = --steps`` batches:

``data ms``   pipeline alone: ``dataset[i]`` for i < N (patch gather, augmentation, targets);
``step ms``   model alone: ``train_on_batch`` on those N pre-made batches (model compiled
              with Adam and the stage's loss, as ``training.fit`` does; warmed up first);
``share``     ``data / (data + step)``: the pipeline's share if it runs serially with the step;
``fit real`` / ``fit cached``  ms per step of Keras ``model.fit`` (one epoch of N steps,
              ``shuffle=False``, the call ``training.fit`` makes) over the real dataset and
              over a dataset that only returns the pre-made batches (best of 2 each,
              interleaved);
``stall``     ``(fit real - fit cached) / fit real``: the measured share of a training step
              lost to the pipeline.  Under TensorFlow Keras feeds a PyDataset through
              ``tf.data`` with prefetch, so the pipeline overlaps with the step (on other
              cores, competing for them); under PyTorch it runs serially in the loop.  On
              a busy machine this difference is noisy and may be negative.

Usage::

    .venv/bin/python benchmarks/bench_training.py                   # both backends
    .venv/bin/python benchmarks/bench_training.py --steps 10 --backends torch --threads 1

On a machine shared with other jobs, pass ``--threads 1``: PyTorch's default threads can
make a training step ~10x slower there (see ``limit_threads``).

Prints a table and the torch/tensorflow ratios measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_inference import BACKENDS, limit_threads, run_child  # noqa: E402

STAGES = ("n2v", "unet", "stardist")


def _stage(name: str, data, preset, steps: int):
    """``(model, loss, PatchDataset)`` of a training stage, built as schemes.py builds it."""
    from dataclasses import replace

    from keras_voidseg.config import HeadConfig
    from keras_voidseg.models import losses, targets
    from keras_voidseg.models.unet import build_from_config, build_unet
    from keras_voidseg.schemes import _datasets, pipeline_config

    train = replace(preset.train, steps_per_epoch=steps)
    if name == "n2v":
        x = data.patches("train", train.patch_size, with_labels=False)[0]
        x_val = data.patches("val", train.patch_size, with_labels=False)[0]
        y = y_val = None
        model = build_unet(preset.backbone, HeadConfig(kind="voidseg"), name="n2v_denoiser")
        target_fn, loss = targets.n2v_targets(train), losses.n2v_loss()
    else:
        x, y = data.patches("train", train.patch_size)
        x_val, y_val = data.patches("val", train.patch_size)
        model = build_from_config(pipeline_config(name, "baseline", preset, train=train))
        if name == "unet":
            target_fn, loss = targets.three_class_targets(), losses.three_class_loss(train.class_weights)
        else:
            target_fn = targets.stardist_targets(32)
            loss = losses.stardist_loss(train.stardist_dist_weight)
    train_data, _ = _datasets(x, y, x_val, y_val, target_fn, train)
    return model, loss, train_data, train


def timed_steps(model, loss, batches, learning_rate: float) -> float:
    """Seconds of ``train_on_batch`` over ``batches`` (compiled as ``training.fit`` compiles,
    after 3 warm-up steps)."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    for batch in batches[:3]:
        model.train_on_batch(*batch)
    start = time.perf_counter()
    for batch in batches:
        model.train_on_batch(*batch)
    return time.perf_counter() - start


def _measure(args) -> dict:
    """Run in the child process, under the backend named by KERAS_BACKEND."""
    import keras
    import numpy as np

    from keras_voidseg.config import get_preset
    from keras_voidseg.experiment import prepare_data

    class Cached(keras.utils.PyDataset):
        """The pre-made batches, returned as they are (no pipeline work)."""

        def __init__(self, batches):
            super().__init__()
            self.batches = batches

        def __len__(self):
            return len(self.batches)

        def __getitem__(self, index):
            return self.batches[index]

    limit_threads(args.threads)
    preset = get_preset("cpu")
    data = prepare_data("synthetic", noise=200, seed=0, preset="cpu")
    steps = args.steps
    result = {"backend": keras.backend.backend(), "steps": steps, "threads": args.threads, "stages": {}}
    for name in args.stages:
        keras.utils.set_random_seed(0)
        model, loss, dataset, train = _stage(name, data, preset, steps)
        dataset[0]  # first-call costs (numba compilation of the StarDist targets, caches)
        data_s = []
        for epoch in (1, 2):
            dataset.set_epoch(epoch)
            start = time.perf_counter()
            batches = [dataset[i] for i in range(steps)]
            data_s.append(time.perf_counter() - start)
        step_s = timed_steps(model, loss, batches, train.learning_rate)

        cached = Cached(batches)
        fit_s = {"real": [], "cached": []}
        for _ in range(2):
            for kind, source in (("cached", cached), ("real", dataset)):
                start = time.perf_counter()
                model.fit(source, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
                fit_s[kind].append(time.perf_counter() - start)
        row = {
            "n_patches": int(len(dataset.x)),
            "data_ms": 1e3 * min(data_s) / steps,
            "step_ms": 1e3 * step_s / steps,
            "fit_real_ms": 1e3 * min(fit_s["real"]) / steps,
            "fit_cached_ms": 1e3 * min(fit_s["cached"]) / steps,
            "input_shape": list(np.shape(batches[0][0])),
            "target_shape": list(np.shape(batches[0][1])),
        }
        row["share"] = row["data_ms"] / (row["data_ms"] + row["step_ms"])
        row["stall"] = (row["fit_real_ms"] - row["fit_cached_ms"]) / row["fit_real_ms"]
        result["stages"][name] = row
        print(f"[{result['backend']}] {name}: data {row['data_ms']:.1f} ms/batch, step "
              f"{row['step_ms']:.1f} ms/batch, share {100 * row['share']:.1f} %, fit stall "
              f"{100 * row['stall']:.1f} %", file=sys.stderr, flush=True)
    return result


def print_table(results: list[dict], args) -> None:
    """The results table and the torch/tensorflow ratios (same run, same machine)."""
    print(f"\nTraining, cpu preset (U-Net depth 3, 16 filters, batch 16 of 64x64), {args.steps} "
          f"batches per measurement, {os.cpu_count()} CPU cores, {args.threads or 'default'} backend threads")
    print(f"{'backend':<11} {'stage':<9} {'data ms':>8} {'step ms':>8} {'share':>7} "
          f"{'fit real':>9} {'fit cached':>10} {'stall':>7} {'images/s':>9}")
    for r in results:
        for name, row in r["stages"].items():
            print(f"{r['backend']:<11} {name:<9} {row['data_ms']:>8.1f} {row['step_ms']:>8.1f} "
                  f"{100 * row['share']:>6.1f}% {row['fit_real_ms']:>9.1f} {row['fit_cached_ms']:>10.1f} "
                  f"{100 * row['stall']:>6.1f}% {1e3 * row['input_shape'][0] / row['fit_real_ms']:>9.1f}")
    by = {r["backend"]: r for r in results}
    if {"tensorflow", "torch"} <= set(by):
        for name in by["tensorflow"]["stages"]:
            tf_, pt = by["tensorflow"]["stages"][name], by["torch"]["stages"][name]
            print(f"torch/tensorflow ratio {name}: data ms {pt['data_ms'] / tf_['data_ms']:.2f}, "
                  f"step ms {pt['step_ms'] / tf_['step_ms']:.2f}, "
                  f"fit ms/step {pt['fit_real_ms'] / tf_['fit_real_ms']:.2f}")
    print("data ms: PatchDataset[i] alone; step ms: train_on_batch on pre-made batches; "
          "share = data/(data+step); stall = (fit real - fit cached)/fit real; images/s from fit real")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--steps", type=int, default=20, help="batches per measurement")
    parser.add_argument("--threads", type=int, default=0, help="backend CPU threads (0: defaults)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps < 4:
        parser.error("--steps must be >= 4")

    if args.child:
        print(json.dumps(_measure(args)))
        return 0
    results = [run_child(__file__, ["--steps", str(args.steps), "--threads", str(args.threads),
                                          "--stages", *args.stages], backend)
               for backend in args.backends]
    print_table(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
