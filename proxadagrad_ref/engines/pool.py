"""The thread pool the NumPy engines share (NumPy's loops and the compiled loops release the GIL).

No OpenMP runtime: its spinning workers cost ~16 ms a call on an
oversubscribed machine (measured on the 2-core development machine).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = ["THREADS", "run_all"]

THREADS = max(1, min(os.cpu_count() or 1, 8))
"""Threads the engines use by default (the CPU count, at most 8)."""

_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOL_LOCK = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    """The shared pool of `threads` workers (one per count: a running call never loses its pool)."""
    with _POOL_LOCK:
        found = _POOLS.get(threads)
        if found is None:
            found = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="proxadagrad")
            _POOLS[threads] = found
        return found


def run_all(fn: Callable[..., Any], *arguments: Sequence[Any], threads: int) -> None:
    """``fn(*args)`` for every tuple of `arguments` (zipped), on `threads` workers; re-raises the first error.

    NumPy's floating-point error state is per thread (a context variable):
    the caller's is carried to the workers.
    """
    errstate = np.geterr()

    def call(*args: Any) -> None:
        with np.errstate(**errstate):
            fn(*args)

    for _ in _pool(threads).map(call, *arguments):
        pass
