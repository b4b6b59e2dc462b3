"""Benchmark suite: `python benchmarks/run.py [--quick]`.

Per case: median time, ratio to the memory floor (5 array passes = np.copyto of
2.5 arrays, timed in the same run) and to a naive NumPy transcription of the
exact profile (same run). TensorFlow / MindSpore are timed when importable.
Compile time is excluded (each engine is warmed up first). No assertions.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from proxadagrad_ref import _fast, apply_proximal_adagrad, sparse_apply_proximal_adagrad


def median_time(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def floor_time(n: int, dtype: type, repeat: int) -> float:
    """5 array passes (3 reads + 2 writes of the step) = one copy of 2.5 arrays."""
    src = np.ones(int(2.5 * n), dtype)
    dst = np.ones_like(src)
    return median_time(lambda: np.copyto(dst, src), repeat)


def naive(w: np.ndarray, a: np.ndarray, g: np.ndarray, lr: float, l1: float, l2: float) -> None:
    """The formula transcribed with whole-array NumPy temporaries, in float64, in place."""
    w64, a64, g64 = (x.astype(np.float64) for x in (w, a, g))
    a64 += g64 * g64
    step = lr / np.sqrt(a64)
    v = w64 - step * g64
    w[...] = np.sign(v) * np.maximum(np.abs(v) - step * l1, 0.0) / (1.0 + step * l2)
    a[...] = a64


def dense(n: int, dtype: type, emulate: str | None, engine: str, repeat: int) -> float:
    rng = np.random.default_rng(0)
    w = rng.standard_normal(n).astype(dtype)
    a = rng.random(n).astype(dtype)
    g = (rng.standard_normal(n) * 1e-3).astype(dtype)
    return median_time(
        lambda: apply_proximal_adagrad(
            w, a, 0.1, 1e-4, 1e-4, g, emulate=emulate, engine=engine, inplace=True
        ),
        repeat,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    repeat = 3 if args.quick else args.repeat
    info = _fast.engine_info()
    print(
        f"# {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"numpy {np.__version__}, numba {info['numba']}, chunk {info['chunk']}, threads {info['threads']}"
    )
    for emulate in (None, "mindspore"):
        _fast.warm_up(emulate, np.float32)
    _fast.warm_up(None, np.float64)

    n = 1 << 24
    rng = np.random.default_rng(1)
    w, a, g = (
        rng.standard_normal(n).astype(np.float32),
        rng.random(n).astype(np.float32),
        rng.standard_normal(n),
    )
    g = g.astype(np.float32)
    t_naive = median_time(lambda: naive(w, a, g, 0.1, 1e-4, 1e-4), repeat)
    print(f"\n## dense in-place step, 16 Mi elements (median of {repeat})")
    print("| dtype | profile | engine | time ms | / floor | / naive |")
    print("|---|---|---|---|---|---|")
    cases = [(np.float32, None), (np.float32, "mindspore"), (np.float64, None), (np.float16, None)]
    for dtype, emulate in cases:
        floor = floor_time(n, dtype, repeat)
        for engine in ("numba", "numpy"):
            if engine == "numba" and (info["numba"] is None or dtype is np.float16):
                continue
            t = dense(n, dtype, emulate, engine, repeat)
            print(
                f"| {np.dtype(dtype).name} | {emulate or 'exact'} | {engine} | {t * 1e3:.1f} | "
                f"{t / floor:.2f} | {t / t_naive:.2f} |"
            )
        print(f"| {np.dtype(dtype).name} | (floor: copy of 2.5 arrays) | | {floor * 1e3:.1f} | 1.00 | |")
    print(f"| float32 | (naive NumPy transcription) | | {t_naive * 1e3:.1f} | | 1.00 |")

    print("\n## scaling: float32 exact, in place, auto engine")
    print("| elements | time ms | ns/element | / floor |")
    print("|---|---|---|---|")
    sizes = [1 << k for k in (10, 14, 18, 20, 22, 24)] + ([] if args.quick else [1 << 26])
    for size in sizes:
        r = max(3, min(50, (1 << 26) // size)) if not args.quick else 3
        t = dense(size, np.float32, None, "auto", r)
        f = floor_time(size, np.float32, r)
        print(f"| {size} | {t * 1e3:.3f} | {t / size * 1e9:.2f} | {t / f:.2f} |")

    print("\n## sparse step: 1 Mi x 64 float32 table, in place (median)")
    print("| case | touched rows | time ms |")
    print("|---|---|---|")
    rows_n, width = 1 << 20, 64
    var = rng.standard_normal((rows_n, width)).astype(np.float32)
    acc = rng.random((rows_n, width)).astype(np.float32)
    for k in (256, 1024, 4096, 16384):
        idx = rng.choice(rows_n, k, replace=False).astype(np.int64)
        grad = rng.standard_normal((k, width)).astype(np.float32)
        t = median_time(
            lambda: sparse_apply_proximal_adagrad(var, acc, 0.1, 1e-4, 1e-4, grad, idx, inplace=True),  # noqa: B023 (called at once)
            max(repeat, 15),
        )
        print(f"| unique | {k} | {t * 1e3:.3f} |")
        if k == 4096:
            dup = np.concatenate([idx[:2048], idx[:2048]])
            rng.shuffle(dup)
            t = median_time(
                lambda: sparse_apply_proximal_adagrad(var, acc, 0.1, 1e-4, 1e-4, grad, dup, inplace=True),  # noqa: B023
                max(repeat, 15),
            )
            print(f"| 50 % duplicates, sum | 4096 (2048 unique) | {t * 1e3:.3f} |")
            order = np.sort(idx)
            csr = sp.csr_matrix(
                (grad.ravel(), np.tile(np.arange(width), k), np.arange(0, k * width + 1, width)),
                shape=(k, width),
            )
            full = sp.csr_matrix(
                (csr.data, csr.indices, np.zeros(rows_n + 1, np.int64)), shape=(rows_n, width)
            )
            indptr = np.zeros(rows_n + 1, np.int64)
            indptr[order + 1] = width
            full = sp.csr_matrix((csr.data, csr.indices, np.cumsum(indptr)), shape=(rows_n, width))
            t = median_time(
                lambda: sparse_apply_proximal_adagrad(var, acc, 0.1, 1e-4, 1e-4, full, inplace=True),  # noqa: B023
                max(repeat, 15),
            )
            print(f"| scipy.sparse CSR | 4096 | {t * 1e3:.3f} |")

    for name in ("tensorflow", "mindspore"):
        try:
            __import__(name)
        except ImportError:
            print(f"\n({name} not importable here: no {name} column)")


if __name__ == "__main__":
    main()
