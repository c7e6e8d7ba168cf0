"""Run a grid's jobs in this process (``local``) or on Dask distributed (``dask``, default).

Why Dask distributed (not Ray): it is pure Python with small wheels (no extra binary
runtime next to TensorFlow and PyTorch), its ``LocalCluster`` gives the embedded cluster
and ``Client(address)`` joins a running one (``dask scheduler`` / ``dask worker ADDR``,
dask-jobqueue on SLURM/PBS, dask-kubernetes), and ``as_completed`` accepts new futures while
it runs, which is how the grid's one dependency is met: a cell that needs N2V is submitted
when its shared N2V job has finished.  Cells carry priorities in grid order; because they
are submitted without task dependencies, the scheduler's queue honours them, so a grid
stopped early holds whole repeats (repeat 0 of every subset first) rather than a scatter.

The output folder must be visible to every worker (a shared file system on a cluster).
Every job is idempotent, so repeating the command after an interruption (or after a worker
died) trains only the cells without a ``result.json``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

from keras_voidseg.model_card import write_text_atomic

from .grid import Cell, GridSpec
from .jobs import read_result, run_cell, run_denoiser

EXECUTORS = ("dask", "local")
GRID_FILE = "grid.json"
#: settings that change what a cell trains: a second run into the same folder must agree
_TRAINING_FIELDS = ("data", "preset", "seed", "epochs", "steps", "batch_size", "n2v_epochs", "n2v_steps", "n_images", "size")


def _check_grid(out: Path, spec: GridSpec) -> None:
    """Refuse to mix cells trained with different settings in one output folder."""
    path = out / GRID_FILE
    if path.is_file():
        previous = GridSpec.from_json(path.read_text(encoding="utf-8"))
        changed = [f"{f}: {getattr(previous, f)!r} -> {getattr(spec, f)!r}"
                   for f in _TRAINING_FIELDS if getattr(previous, f) != getattr(spec, f)]
        if changed:
            raise ValueError(f"{out} holds a grid trained with other settings ({'; '.join(changed)}); "
                             "repeat the original options to resume, or choose another --out")
    write_text_atomic(path, spec.to_json())


def run_grid(spec: GridSpec, out, *, executor: str = "dask", address: str | None = None,
             n_workers: int | None = None, log: Callable[[str], None] = print) -> list[dict]:
    """Train every unfinished cell of ``spec`` into ``out``; return all rows (grid order).

    Raises RuntimeError after all jobs ran if any job failed (finished cells are kept).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_grid(out, spec)
    cells = spec.cells()
    todo = [cell for cell in cells if read_result(out, cell) is None]
    log(f"grid: {len(cells)} cells, {len(cells) - len(todo)} finished, {len(todo)} to train "
        f"({executor}{' at ' + address if address else ''})")
    if todo:
        run = _run_local if executor == "local" else _run_dask
        failures = run(spec, todo, str(out), address=address, n_workers=n_workers, log=log)
        if failures:
            raise RuntimeError(f"{len(failures)} of {len(todo)} cells failed (finished cells are kept; "
                               "repeat the command to retry): " + "; ".join(failures))
    return [read_result(out, cell) for cell in cells]


def _progress(log, done: int, total: int, cell: Cell, row: dict) -> None:
    log(f"[{done}/{total}] {cell.key}: AP {row['ap']:.3f} SEG {row['seg']:.3f} "
        f"({row['train_seconds']:.0f} s)")


def _run_local(spec, todo, out, *, log, **_) -> list[str]:
    """Every job one after the other in this process (debugging, single machines)."""
    failures = []
    for done, cell in enumerate(todo, 1):
        try:
            if cell.needs_denoiser:
                run_denoiser(spec, cell.noise, cell.repeat, out)
            _progress(log, done, len(todo), cell, run_cell(spec, cell, out))
        except Exception as exc:  # keep going: other cells are independent
            _fail(failures, log, done, len(todo), cell, f"{type(exc).__name__}: {exc}")
    return failures


def default_workers() -> int:
    """One worker per 4 cores (each training job is itself multi-threaded), at least one."""
    return max(1, (os.cpu_count() or 1) // 4)


def worker_threads_config(threads: int) -> dict:
    """Dask config giving each embedded worker ``threads`` OpenMP/BLAS threads.

    Dask starts workers with OMP_NUM_THREADS=1 (one task per thread); a training job is one
    task that should use its share of the cores (oneDNN convolutions use OpenMP).
    """
    return {f"distributed.nanny.pre-spawn-environ.{name}": str(threads)
            for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def _fail(failures: list, log, done: int, total: int, cell: Cell, why: str) -> None:
    """Record and log a failed cell (the grid goes on: cells are independent)."""
    failures.append(f"{cell.key}: {why}")
    log(f"[{done}/{total}] {cell.key}: FAILED {why}")


def _run_dask(spec, todo, out, *, address, n_workers, log) -> list[str]:
    """Submit the N2V jobs and the cells that need none; a cell that needs N2V is submitted
    when its N2V job has finished (a failed N2V job fails its cells); gather as they end."""
    from distributed import Client, LocalCluster, as_completed

    if address:
        client, cluster = Client(address), None
    else:
        import dask

        n_workers = n_workers or default_workers()
        with dask.config.set(worker_threads_config(max(1, (os.cpu_count() or 1) // n_workers))):
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        priority = {cell: len(todo) - rank for rank, cell in enumerate(todo)}
        waiting: dict[tuple, list[Cell]] = {}
        for cell in todo:
            if cell.needs_denoiser:
                waiting.setdefault((cell.noise, cell.repeat), []).append(cell)
        stages = {client.submit(run_denoiser, spec, noise, repeat, out, pure=False,
                                priority=priority[cells[0]] + 1): (noise, repeat)
                  for (noise, repeat), cells in waiting.items()}
        futures = {client.submit(run_cell, spec, cell, out, pure=False, priority=priority[cell]): cell
                   for cell in todo if not cell.needs_denoiser}
        failures, done = [], 0
        running = as_completed(list(stages) + list(futures))
        for future in running:
            if future in stages:
                pair = stages[future]
                try:
                    folder = future.result()
                except Exception as exc:  # every cell of this N2V stage fails with it
                    for cell in waiting[pair]:
                        done += 1
                        _fail(failures, log, done, len(todo), cell,
                              f"(N2V stage) {type(exc).__name__}: {exc}")
                    continue
                for cell in waiting[pair]:
                    submitted = client.submit(run_cell, spec, cell, out, folder, pure=False,
                                              priority=priority[cell])
                    futures[submitted] = cell
                    running.add(submitted)
                continue
            cell, done = futures[future], done + 1
            try:
                _progress(log, done, len(todo), cell, future.result())
            except Exception as exc:
                _fail(failures, log, done, len(todo), cell, f"{type(exc).__name__}: {exc}")
        return failures
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
