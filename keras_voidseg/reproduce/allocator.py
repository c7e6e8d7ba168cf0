"""Undo Dask's malloc setting inside a training job (Linux/glibc only).

A Dask nanny starts its worker process with ``MALLOC_TRIM_THRESHOLD_=65536`` (the
``distributed.nanny.pre-spawn-environ`` default) so that workers hand memory back to the OS.
For a training job that setting is costly: glibc then also freezes its mmap threshold at
128 KiB, so every activation and gradient buffer of a step is a fresh ``mmap`` that is unmapped
when freed, and the heap top is trimmed after each step.  The page faults made a PyTorch-backend
training step 2-3x slower in a Dask worker than in a plain process (measured with
``benchmarks/bench_dask_worker.py``).  Jobs call :func:`restore_heap_allocation` first: large
buffers come from the heap again and the heap is trimmed only above 128 MiB.  Remote workers
are covered too, since the call runs inside the job, whatever started the worker.
"""

from __future__ import annotations

import ctypes
import os
import sys

#: glibc ``mallopt`` parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 128 * 1024 * 1024


def restore_heap_allocation() -> bool:
    """Raise glibc's mmap and trim thresholds when Dask lowered them; True if applied."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (e.g. musl): nothing to undo
        return False
    # mallopt returns 1 on success, 0 on error
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
