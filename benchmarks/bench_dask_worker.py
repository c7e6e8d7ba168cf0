"""Training-step time in a Dask worker against this process, with and without our allocator fix.

``kvs reproduce`` runs every training job in a Dask worker.  A Dask nanny starts workers with
``MALLOC_TRIM_THRESHOLD_=65536``, which made a PyTorch-backend training step 2-3x slower than
in a plain process (see :mod:`keras_voidseg.reproduce.allocator`).  This benchmark measures the
cpu-preset 3-class U-Net step (``train_on_batch`` on pre-made batches of the real pipeline, as
``bench_training.py`` builds them) in three places:

``process``        this process (the reference);
``worker``         an embedded ``LocalCluster`` worker with Dask's default environment, the job
                   run as it was before the fix;
``worker + fix``   the same worker, the job first calling ``restore_heap_allocation`` (what
                   ``kvs reproduce`` jobs do).

Usage::

    KERAS_BACKEND=torch .venv/bin/python benchmarks/bench_dask_worker.py --steps 8

Prints ms per step and each place's ratio to ``process`` measured in this run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def step_ms(steps: int, fix: bool) -> float:
    """Mean ms of a cpu-preset 3-class training step (after 3 warm-up steps)."""
    from benchmarks.bench_training import _stage, timed_steps
    from keras_voidseg.config import get_preset
    from keras_voidseg.experiment import prepare_data
    from keras_voidseg.reproduce.allocator import restore_heap_allocation

    if fix:
        restore_heap_allocation()
    preset = get_preset("cpu")
    data = prepare_data("synthetic", 200, seed=0, preset="cpu")
    model, loss, dataset, train = _stage("unet", data, preset, steps)
    batches = [dataset[i] for i in range(steps)]
    return timed_steps(model, loss, batches, train.learning_rate) / steps * 1000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args(argv)

    import dask
    from distributed import Client, LocalCluster

    import keras

    from keras_voidseg.reproduce.executor import worker_threads_config

    cores = os.cpu_count() or 1
    # what kvs reproduce's embedded cluster sets; MALLOC_TRIM_THRESHOLD_ keeps Dask's default
    with dask.config.set(worker_threads_config(cores)):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        trim = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        results = {"worker": client.submit(step_ms, args.steps, False, pure=False).result()}
        client.restart()  # a fresh worker process for the fixed run
        results["worker + fix"] = client.submit(step_ms, args.steps, True, pure=False).result()
    finally:
        client.close()
        cluster.close()
    results = {"process": step_ms(args.steps, False), **results}
    print(f"backend {keras.backend.backend()}, {cores} cores, {args.steps} steps; worker "
          f"MALLOC_TRIM_THRESHOLD_={list(trim.values())[0]}")
    print(f"{'place':<14}{'ms/step':>10}{'ratio':>8}")
    for place, ms in results.items():
        print(f"{place:<14}{ms:>10.1f}{ms / results['process']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
