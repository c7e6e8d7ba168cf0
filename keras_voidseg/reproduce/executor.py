"""Run a grid's jobs in this process (``local``) or on Dask distributed (``dask``, default).

Why Dask distributed (not Ray): it is pure Python with small wheels (no extra binary
runtime next to TensorFlow and PyTorch), its ``LocalCluster`` gives the embedded cluster
and ``Client(address)`` joins a running one (``dask scheduler`` / ``dask worker ADDR``,
dask-jobqueue on SLURM/PBS, dask-kubernetes), and futures can depend on futures, which is
exactly the grid's one dependency: a cell that needs N2V waits for its shared N2V job.

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
_TRAINING_FIELDS = ("data", "preset", "seed", "epochs", "steps", "n2v_epochs", "n2v_steps", "n_images", "size")


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
            failures.append(f"{cell.key}: {type(exc).__name__}: {exc}")
            log(f"[{done}/{len(todo)}] {cell.key}: FAILED {type(exc).__name__}: {exc}")
    return failures


def default_workers() -> int:
    """One worker per 4 cores (each training job is itself multi-threaded), at least one."""
    return max(1, (os.cpu_count() or 1) // 4)


def _run_dask(spec, todo, out, *, address, n_workers, log) -> list[str]:
    """Submit the N2V jobs, then the cells (each depending on its N2V job), gather as they end."""
    from distributed import Client, LocalCluster, as_completed

    if address:
        client, cluster = Client(address), None
    else:
        import dask

        n_workers = n_workers or default_workers()
        # Dask starts workers with OMP_NUM_THREADS=1 (one task per thread); a training job
        # is one task that should use its share of the cores (oneDNN convolutions use OpenMP)
        cores = str(max(1, (os.cpu_count() or 1) // n_workers))
        environ = {f"distributed.nanny.pre-spawn-environ.{name}": cores
                   for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        with dask.config.set(environ):
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        # priorities follow grid order (repeat 0 of every subset before repeat 1), so a grid
        # stopped early holds whole repeats rather than a scatter of cells
        shared = {}
        for rank, cell in enumerate(todo):
            pair = (cell.noise, cell.repeat)
            if cell.needs_denoiser and pair not in shared:
                shared[pair] = client.submit(run_denoiser, spec, cell.noise, cell.repeat, out,
                                             pure=False, priority=len(todo) - rank + 1)
        futures = {client.submit(run_cell, spec, cell, out, shared.get((cell.noise, cell.repeat))
                                 if cell.needs_denoiser else None, pure=False,
                                 priority=len(todo) - rank): cell for rank, cell in enumerate(todo)}
        failures = []
        for done, future in enumerate(as_completed(futures), 1):
            cell = futures[future]
            try:
                _progress(log, done, len(todo), cell, future.result())
            except Exception as exc:
                failures.append(f"{cell.key}: {type(exc).__name__}: {exc}")
                log(f"[{done}/{len(todo)}] {cell.key}: FAILED {type(exc).__name__}: {exc}")
        return failures
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
