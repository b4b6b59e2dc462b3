"""Benchmark suite: `python benchmarks/run.py [--quick] [--json out.json]`.

Every ratio is taken within one run: the memory floor (5 array passes = np.copyto
of 2.5 arrays) is timed right before the case it divides. Each figure is the
median of `--repeat` timings; the 1-minute load average is printed with each
section (the development machine is shared). Compile time is excluded (engines
are warmed up first). No assertions: the targets of docs/performance.md are read off
the output.
`benchmarks/plot.py` draws the JSON written by `--json`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from proxadagrad_ref import apply_proximal_adagrad, engine_info, sparse_apply_proximal_adagrad, warm_up
from proxadagrad_ref.optim import Parameter, ProximalAdagrad

RESULTS: dict[str, Any] = {}


def median_time(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def floor_time(n: int, dtype: Any, repeat: int) -> float:
    """5 array passes (3 reads + 2 writes of the step) = one copy of 2.5 arrays."""
    src = np.ones(int(2.5 * n), dtype)
    dst = np.ones_like(src)
    return median_time(lambda: np.copyto(dst, src), repeat)


def dense_inputs(n: int, dtype: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    w = rng.standard_normal(n).astype(dtype)
    a = rng.random(n).astype(dtype)
    g = (rng.standard_normal(n) * 1e-3).astype(dtype)
    return w, a, g


def dense(n: int, dtype: Any, emulate: str | None, engine: str, repeat: int) -> float:
    w, a, g = dense_inputs(n, dtype)
    return median_time(
        lambda: apply_proximal_adagrad(
            w, a, 0.1, 1e-4, 1e-4, g, emulate=emulate, engine=engine, inplace=True
        ),
        repeat,
    )


def naive_numpy(n: int, dtype: Any, repeat: int) -> float:
    """A direct NumPy transcription of the kernels' formula: whole-array temporaries, no reuse."""
    w, a, g = dense_inputs(n, dtype)
    lr, l1, l2 = dtype(0.1), dtype(1e-4), dtype(1e-4)

    def run() -> None:
        a_new = a + g * g
        step = lr / np.sqrt(a_new)
        v = w - step * g
        np.sign(v) * np.maximum(np.abs(v) - step * l1, 0) / (1 + step * l2)

    return median_time(run, repeat)


def tensorflow_ops() -> Any:
    """TensorFlow's raw ops when TensorFlow is importable, else None."""
    try:
        import tensorflow as tf
    except ImportError:
        return None
    return tf


def tensorflow_dense(tf: Any, n: int, repeat: int) -> float:
    """ResourceApplyProximalAdagrad on n float32 elements (same inputs as ours)."""
    w, a, g = dense_inputs(n, np.float32)
    var, acc, grad = tf.Variable(w), tf.Variable(a), tf.constant(g)
    lr, l1, l2 = (tf.constant(np.float32(x)) for x in (0.1, 1e-4, 1e-4))

    def run() -> None:
        tf.raw_ops.ResourceApplyProximalAdagrad(
            var=var.handle, accum=acc.handle, lr=lr, l1=l1, l2=l2, grad=grad
        )
        var.read_value().numpy()[:1]  # wait for the step

    return median_time(run, repeat)


def tensorflow_sparse(
    tf: Any, table: np.ndarray, acc_table: np.ndarray, grad: Any, idx: Any, repeat: int
) -> float:
    """ResourceSparseApplyProximalAdagrad on the same table and rows."""
    var, acc = tf.Variable(table), tf.Variable(acc_table)
    g, i = tf.constant(grad), tf.constant(idx)
    lr, l1, l2 = (tf.constant(np.float32(x)) for x in (0.1, 1e-4, 1e-4))

    def run() -> None:
        tf.raw_ops.ResourceSparseApplyProximalAdagrad(
            var=var.handle, accum=acc.handle, lr=lr, l1=l1, l2=l2, grad=g, indices=i
        )
        acc.sparse_read(i[:1]).numpy()  # wait for the step

    return median_time(run, repeat)


def mindspore_ops() -> Any:
    """MindSpore when importable (its CPU kernels run one task: see docs/recorded-mindspore.md), else None."""
    try:
        import mindspore
    except ImportError:
        return None
    return mindspore


def mindspore_dense(ms: Any, n: int, repeat: int) -> float:
    """``ops.ApplyProximalAdagrad`` on n float32 elements (same inputs as ours)."""
    w, a, g = dense_inputs(n, np.float32)
    var, acc = ms.Parameter(ms.Tensor(w), name="var"), ms.Parameter(ms.Tensor(a), name="accum")
    lr, l1, l2 = (ms.Tensor(np.float32(x)) for x in (0.1, 1e-4, 1e-4))
    grad, op = ms.Tensor(g), ms.ops.ApplyProximalAdagrad()

    def run() -> None:
        op(var, acc, lr, l1, l2, grad)
        var.asnumpy()[:1]  # waits for the step (asnumpy shares the parameter's memory: no copy)

    return median_time(run, repeat)


def mindspore_sparse(ms: Any, table: np.ndarray, acc_table: np.ndarray, grad: np.ndarray, idx: np.ndarray,
                     repeat: int) -> float:
    """``ops.FusedSparseProximalAdagrad`` (MindSpore's CPU sparse kernel) on the same table and rows."""
    var, acc = ms.Parameter(ms.Tensor(table), name="var"), ms.Parameter(ms.Tensor(acc_table), name="accum")
    lr, l1, l2 = (ms.Tensor(np.float32(x)) for x in (0.1, 1e-4, 1e-4))
    g, i, op = ms.Tensor(grad), ms.Tensor(idx.astype(np.int32)), ms.ops.FusedSparseProximalAdagrad()

    def run() -> None:
        op(var, acc, lr, l1, l2, g, i)
        var.asnumpy()[:1]

    return median_time(run, repeat)


def dense_section(repeat: int, numba: bool) -> None:
    n = 1 << 24
    print(f"\n## dense in-place step, 16 Mi elements, adaptive (median of {repeat}; {load()})")
    floor32 = floor_time(n, np.float32, repeat)
    naive = naive_numpy(n, np.float32, repeat)
    print(f"float32 floor {floor32 * 1e3:.1f} ms; naive NumPy transcription {naive * 1e3:.1f} ms "
          f"({naive / floor32:.2f} x floor)")
    tf = tensorflow_ops()
    if tf is not None:
        t_tf = tensorflow_dense(tf, n, repeat)
        print(f"TensorFlow ResourceApplyProximalAdagrad {t_tf * 1e3:.1f} ms ({t_tf / floor32:.2f} x floor)")
    ms = mindspore_ops()
    if ms is not None:
        t_ms = mindspore_dense(ms, n, repeat)
        print(f"MindSpore ApplyProximalAdagrad {t_ms * 1e3:.1f} ms ({t_ms / floor32:.2f} x floor)")
    print("| dtype | profile | engine | time ms | / floor (same run) | / naive NumPy |")
    print("|---|---|---|---|---|---|")
    rows = []
    cases = [(np.float32, None), (np.float32, "mindspore"), (np.float32, "tensorflow"),
             (np.float64, None), (np.float16, None), (np.float16, "mindspore")]
    for dtype, emulate in cases:
        for engine in ("numba", "numpy"):
            if engine == "numba" and not numba:
                continue
            floor = floor_time(n, dtype, repeat)
            t = dense(n, dtype, emulate, engine, repeat)
            name = np.dtype(dtype).name
            print(f"| {name} | {emulate or 'exact'} | {engine} | {t * 1e3:.1f} | {t / floor:.2f} | "
                  f"{t / naive:.2f} |")
            rows.append({"dtype": name, "profile": emulate or "exact", "engine": engine,
                         "ms": t * 1e3, "ratio": t / floor, "floor_ms": floor * 1e3})
    RESULTS["dense"] = rows


DEFAULT_INSTALL_TARGETS = {"float32": 2.0, "float16": 3.0}  # x the same-run memory floor (issue 12, item 6)


def default_install_section(repeat: int) -> None:
    """What `pip install .` alone gives: engine="auto", 16 Mi in place, / the floor timed just before each."""
    n = 1 << 24
    info = engine_info()
    print(f"\n## default install: engine='auto', 16 Mi elements, in place (median of {repeat}; {load()})")
    print(f"numba {info['numba']} ({info['numba_unavailable'] or 'imported'}); "
          f"float16 loads/stores: {info['half_conversions']}")
    print("| dtype | profile | engine | time ms | floor ms | / floor (same run) | target |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for dtype in (np.float32, np.float16):
        name = np.dtype(dtype).name
        for emulate in (None, "mindspore"):
            warm_up(emulate, dtype)
            floor = floor_time(n, dtype, repeat)
            t = dense(n, dtype, emulate, "auto", repeat)
            engine, target = engine_info(dtype, emulate)["engine"], DEFAULT_INSTALL_TARGETS[name]
            verdict = "met" if t / floor <= target else "not met"
            print(f"| {name} | {emulate or 'exact'} | {engine} | {t * 1e3:.1f} | {floor * 1e3:.1f} | "
                  f"{t / floor:.2f} | <= {target:g}: {verdict} |")
            rows.append({"dtype": name, "profile": emulate or "exact", "engine": engine, "ms": t * 1e3,
                         "floor_ms": floor * 1e3, "ratio": t / floor, "target": target})
    RESULTS["default_install"] = {"numba": info["numba"], "numba_unavailable": info["numba_unavailable"],
                                  "half_conversions": info["half_conversions"], "rows": rows}


def scaling_section(quick: bool) -> None:
    print(f"\n## scaling: float32, in place, per engine ({load()})")
    print("| elements | profile | engine | time ms | ns/element | / floor |")
    print("|---|---|---|---|---|---|")
    rows = []
    sizes = [1 << k for k in range(10, 27 if not quick else 23, 2)]
    engines = ["numba", "numpy"] if engine_info()["numba"] is not None else ["numpy"]
    for size in sizes:
        r = 3 if quick else max(3, min(51, (1 << 26) // size))
        for emulate in (None, "mindspore"):
            for engine in engines:
                f = floor_time(size, np.float32, r)
                t = dense(size, np.float32, emulate, engine, r)
                print(f"| {size} | {emulate or 'exact'} | {engine} | {t * 1e3:.3f} | {t / size * 1e9:.2f} | "
                      f"{t / f:.2f} |")
                rows.append({"n": size, "profile": emulate or "exact", "engine": engine, "ms": t * 1e3,
                             "ratio": t / f})
    RESULTS["scaling"] = rows


def sparse_section(repeat: int) -> None:
    print(f"\n## sparse step: 1 Mi x 64 float32 table, in place ({load()})")
    print("| case | touched rows | time ms |")
    print("|---|---|---|")
    rng = np.random.default_rng(1)
    rows_n, width = 1 << 20, 64
    var = rng.standard_normal((rows_n, width)).astype(np.float32)
    acc = rng.random((rows_n, width)).astype(np.float32)
    r = max(repeat, 21)
    out = []

    def step(grad: Any, idx: Any = None, duplicates: str = "sum") -> float:
        return median_time(
            lambda: sparse_apply_proximal_adagrad(
                var, acc, 0.1, 1e-4, 1e-4, grad, idx, duplicates=duplicates, inplace=True
            ),
            r,
        )

    for k in (256, 1024, 4096, 16384, 65536):
        idx = rng.choice(rows_n, k, replace=False).astype(np.int64)
        grad = rng.standard_normal((k, width)).astype(np.float32)
        t = step(grad, idx)
        print(f"| unique | {k} | {t * 1e3:.3f} |")
        out.append({"case": "unique", "rows": k, "ms": t * 1e3})
        if k != 4096:
            continue
        dup = np.concatenate([idx[:2048], idx[:2048]])
        rng.shuffle(dup)
        t_dup = step(grad, dup)
        print(f"| 50 % duplicates, sum | 4096 (2048 unique) | {t_dup * 1e3:.3f} |")
        indptr = np.zeros(rows_n + 1, np.int64)
        indptr[np.sort(idx) + 1] = width
        csr = sp.csr_matrix(
            (grad.ravel(), np.tile(np.arange(width), k), np.cumsum(indptr)), shape=(rows_n, width)
        )
        t_csr = step(csr)
        print(f"| scipy.sparse CSR | 4096 | {t_csr * 1e3:.3f} |")
        print(f"| (duplicates / unique; CSR / unique) | | {t_dup / t:.2f}; {t_csr / t:.2f} |")
        tf = tensorflow_ops()
        if tf is not None:
            t_tf = tensorflow_sparse(tf, var, acc, grad, idx, r)
            print(f"| TensorFlow ResourceSparseApplyProximalAdagrad | 4096 | {t_tf * 1e3:.3f} |")
            print(f"| (ours / TensorFlow, same run) | | {t / t_tf:.2f} |")
            out.append({"case": "tensorflow", "rows": k, "ms": t_tf * 1e3})
        ms = mindspore_ops()
        if ms is not None:
            t_ms = mindspore_sparse(ms, var, acc, grad, idx, r)
            print(f"| MindSpore FusedSparseProximalAdagrad | 4096 | {t_ms * 1e3:.3f} |")
            print(f"| (ours / MindSpore, same run) | | {t / t_ms:.2f} |")
            out.append({"case": "mindspore", "rows": k, "ms": t_ms * 1e3})
        out.append({"case": "dup50", "rows": k, "ms": t_dup * 1e3})
        out.append({"case": "csr", "rows": k, "ms": t_csr * 1e3})
    RESULTS["sparse"] = out




def _resnet50_shapes() -> list[tuple[int, ...]]:
    """160 parameter shapes of ResNet-50 (conv weights, BN scale and shift, fc weight), ~25.5 M values."""
    shapes: list[tuple[int, ...]] = [(64, 3, 7, 7), (64,), (64,)]
    cin = 64
    for width, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for b in range(blocks):
            out = 4 * width
            for shape in ((width, cin, 1, 1), (width, width, 3, 3), (out, width, 1, 1)):
                shapes += [shape, (shape[0],), (shape[0],)]
            if b == 0:
                shapes += [(out, cin, 1, 1), (out,), (out,)]
            cin = out
    shapes.append((1000, 2048))
    return shapes


def optimizer_section(repeat: int) -> None:
    shapes = _resnet50_shapes()
    print(f"\n## optimizer overhead: {len(shapes)} parameters, ResNet-50 shapes, float32 ({load()})")
    print("| shapes | profile | step ms | kernels ms | overhead µs / parameter |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(2)
    out = []
    for label, scale in (("ResNet-50", None), ("same count, 64 elements each", 64)):
        sizes = [s if scale is None else (scale,) for s in shapes]
        for emulate in (None, "mindspore"):
            params = [
                Parameter(rng.standard_normal(s).astype(np.float32), f"p{i}") for i, s in enumerate(sizes)
            ]
            grads = tuple((rng.standard_normal(s) * 1e-3).astype(np.float32) for s in sizes)
            opt = ProximalAdagrad(params, accum=0.1, learning_rate=0.01, l1=1e-4, l2=1e-4, emulate=emulate)
            accums = [np.full(s, 0.1, np.float32) for s in sizes]
            datas = [p.data.copy() for p in params]

            def kernels(datas: list[np.ndarray] = datas, accums: list[np.ndarray] = accums,
                        grads: tuple[np.ndarray, ...] = grads, emulate: str | None = emulate) -> None:
                for w, a, g in zip(datas, accums, grads, strict=True):  # in place, as the optimizer
                    apply_proximal_adagrad(w, a, 0.01, 1e-4, 1e-4, g, emulate=emulate, inplace=True)

            t_k, t_s = [], []
            for _ in range(3):  # interleaved: both see the same load
                t_k.append(median_time(kernels, repeat))
                t_s.append(median_time(functools.partial(opt, tuple(grads)), repeat))
            t_kern, t_step = statistics.median(t_k), statistics.median(t_s)
            per = (t_step - t_kern) / len(shapes) * 1e6
            print(f"| {label} | {emulate or 'exact'} | {t_step * 1e3:.2f} | {t_kern * 1e3:.2f} | {per:.1f} |")
            out.append({"shapes": label, "profile": emulate or "exact", "step_ms": t_step * 1e3,
                        "kernels_ms": t_kern * 1e3, "overhead_us": per})
    RESULTS["optimizer"] = out


def _backend_arrays(name: str, arrays: tuple[np.ndarray, ...]) -> tuple[Any, ...] | None:
    """The arrays in library `name` (None when it is not importable); ``dask-K``: K chunks."""
    try:
        if name == "torch":
            import torch

            return tuple(torch.from_numpy(x.copy()) for x in arrays)
        if name == "jax":
            import jax

            jax.config.update("jax_enable_x64", True)
            return tuple(jax.numpy.asarray(x) for x in arrays)
        if name.startswith("dask"):
            import dask.array as da

            parts = int(name.rsplit("-", 1)[1])
            return tuple(da.from_array(x, chunks=-(-x.shape[0] // parts)) for x in arrays)
    except ImportError:
        return None
    raise ValueError(name)


def _interleaved(
    first: Callable[[], object], second: Callable[[], object], repeat: int, rounds: int = 3
) -> tuple[float, float]:
    """Median times of `first` and `second`, timed in alternating rounds of `repeat` calls (both see the
    same load; within a round each runs alone, so neither leaves the other its freed memory to reuse)."""
    t_first, t_second = [], []
    for _ in range(rounds):
        t_first.append(median_time(first, repeat))
        t_second.append(median_time(second, repeat))
    return statistics.median(t_first), statistics.median(t_second)


def _dask_copy_pair(w: Any, a: Any) -> tuple[Any, Any]:
    """What any lazy dask step with two NumPy results costs at least: one task per chunk writing two new
    arrays (here copies of its inputs), then the two results picked, as the kernel's graph is shaped."""
    import operator

    import dask.array as da

    both = da.map_blocks(lambda x, y: (x.copy(), y.copy()), w, a, meta=np.empty((0,), w.dtype))
    return (both.map_blocks(operator.itemgetter(0), meta=np.empty((0,), w.dtype)),
            both.map_blocks(operator.itemgetter(1), meta=np.empty((0,), w.dtype)))


def backends_section(repeat: int) -> None:
    """A 4 Mi float32 dense step on each library, as a ratio of the NumPy engine's time in the same run.

    Each library's calls alternate in rounds with the NumPy engine's calls on the same values
    (:func:`_interleaved`): torch, JAX (eager, until ``block_until_ready``) and Dask (graph build plus
    ``dask.compute`` of both results on the threaded scheduler) against the functional NumPy step.
    Dask is chunked along the one axis into 1 chunk, as many chunks as the engines' threads, and 4.
    ``dask-copy``: the copy graph of :func:`_dask_copy_pair` (no arithmetic), the least a lazy step costs
    through ``compute()``, whose result assembly copies every result once more. ``dask-store``: the same
    step written with ``dask.array.store`` into two NumPy arrays made once (how results are written back).
    """
    from proxadagrad_ref.engines import pool

    n = 1 << 22
    r = max(repeat, 7)
    parts = sorted({1, pool.THREADS, 4})
    print(f"\n## backends: dense step, 4 Mi float32, functional (median of 3 rounds of {r}, alternating with "
          f"the NumPy engine; dask: threaded scheduler, {pool.THREADS} engine threads; {load()})")
    print("| profile | library | time ms | NumPy engine ms | / NumPy engine (same run) |")
    print("|---|---|---|---|---|")
    rows = []
    w, a, g = dense_inputs(n, np.float32)
    names = ["torch", "jax", *(f"dask{kind}-{k}" for kind in ("", "-copy", "-store") for k in parts)]
    targets = (np.empty_like(w), np.empty_like(a))
    for emulate in (None, "mindspore"):
        numpy_step = functools.partial(apply_proximal_adagrad, w, a, 0.1, 0.01, 0.01, g, emulate=emulate)
        for name in names:
            arrays = _backend_arrays(name, (w, a, g))
            if arrays is None:
                print(f"| {emulate or 'exact'} | {name} | not importable | | |")
                continue
            var, accum, grad = arrays
            if name.startswith("dask-copy"):  # no arithmetic: once
                if emulate is not None:
                    continue
                step: Callable[[], tuple[Any, Any]] = functools.partial(_dask_copy_pair, var, accum)
            else:
                step = functools.partial(
                    apply_proximal_adagrad, var, accum, 0.1, 0.01, 0.01, grad, emulate=emulate
                )
            finish = functools.partial(_store, step, targets) if "store" in name else None
            t_np, t = _interleaved(numpy_step, finish or functools.partial(_finish, step), r)
            print(f"| {emulate or 'exact'} | {name} | {t * 1e3:.1f} | {t_np * 1e3:.1f} | {t / t_np:.2f} |")
            rows.append({"profile": emulate or "exact", "library": name, "ms": t * 1e3,
                         "numpy_ms": t_np * 1e3, "ratio": t / t_np})
    RESULTS["backends"] = {"n": n, "repeat": r, "rounds": 3, "threads": pool.THREADS, "scheduler": "threads",
                           "load": os.getloadavg()[0], "rows": rows}


def _store(step: Callable[[], tuple[Any, Any]], targets: tuple[np.ndarray, np.ndarray]) -> None:
    """Run `step` (dask) and store both results into `targets` on the threaded scheduler."""
    import dask.array as da

    da.store(list(step()), list(targets), lock=False, scheduler="threads")


def _finish(step: Callable[[], tuple[Any, Any]]) -> object:
    """Run `step` and wait for its result: JAX's asynchronous dispatch, Dask's graph (computed here)."""
    result = step()
    first = result[0]
    if hasattr(first, "block_until_ready"):
        return [x.block_until_ready() for x in result]
    if hasattr(first, "dask"):
        import dask

        return dask.compute(*result, scheduler="threads")
    return result


def gpu_section(repeat: int) -> None:
    """CuPy (when a GPU is present): the fused kernel against the device's copy bandwidth, same run."""
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device")
    except Exception as exc:  # CuPy missing or no device: say so, measure nothing
        print(f"\n(no GPU section: {type(exc).__name__}: {exc})")
        return
    props = cupy.cuda.runtime.getDeviceProperties(0)
    n = 1 << 28
    print(f"\n## GPU: {props['name'].decode()}, dense in-place step, {n >> 20} Mi float32 elements")

    def gpu_time(fn: Callable[[], object]) -> float:
        fn()
        cupy.cuda.Device().synchronize()
        times = []
        for _ in range(repeat):
            start, stop = cupy.cuda.Event(), cupy.cuda.Event()
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            times.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3)
        return statistics.median(times)

    def copy_floor() -> float:
        src = cupy.ones(int(2.5 * n), cupy.float32)
        dst = cupy.empty_like(src)
        return gpu_time(lambda: cupy.copyto(dst, src))

    floor = copy_floor()
    rng = cupy.random.default_rng(0)
    w = rng.standard_normal(n, dtype=cupy.float32)
    a = rng.random(n, dtype=cupy.float32)
    g = rng.standard_normal(n, dtype=cupy.float32) * cupy.float32(1e-3)
    print(f"copy floor (5 array passes) {floor * 1e3:.2f} ms = {5 * 4 * n / floor / 1e9:.0f} GB/s")
    rows = []
    for emulate in (None, "mindspore"):
        t = gpu_time(functools.partial(
            apply_proximal_adagrad, w, a, 0.1, 1e-4, 1e-4, g, emulate=emulate, engine="cupy", inplace=True))
        print(f"| {emulate or 'exact'} | cupy fused | {t * 1e3:.2f} ms | {floor / t:.0%} of copy bandwidth |")
        rows.append({"profile": emulate or "exact", "ms": t * 1e3, "of_bandwidth": floor / t})
    RESULTS["gpu"] = {"device": props["name"].decode(), "n": n, "floor_ms": floor * 1e3, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", help="also write the figures to this JSON file (for benchmarks/plot.py)")
    parser.add_argument(
        "--only", choices=["dense", "default", "scaling", "sparse", "optimizer", "backends", "gpu"],
        action="append",
    )
    args = parser.parse_args()
    repeat = 3 if args.quick else args.repeat
    info = engine_info()
    header = (
        f"{platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"numpy {np.__version__}, numba {info['numba']}, chunk {info['chunk']}, threads {info['threads']}"
    )
    print(f"# {header}")
    RESULTS["machine"] = header
    numba = info["numba"] is not None
    for emulate, dtype in ((None, np.float32), ("mindspore", np.float32), ("tensorflow", np.float32),
                           (None, np.float64)):
        warm_up(emulate, dtype)
    sections = args.only or ["dense", "default", "scaling", "sparse", "optimizer", "backends", "gpu"]
    if "dense" in sections:
        dense_section(repeat, numba)
    if "default" in sections:
        default_install_section(repeat)
    if "scaling" in sections:
        scaling_section(args.quick)
    if "sparse" in sections:
        sparse_section(repeat)
    if "optimizer" in sections:
        optimizer_section(repeat)
    if "backends" in sections:
        backends_section(repeat)
    if "gpu" in sections:
        gpu_section(repeat)
    for name in ("tensorflow", "mindspore"):
        try:
            __import__(name)
        except ImportError:
            print(f"\n({name} not importable here: no {name} column)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(RESULTS, f, indent=1)


if __name__ == "__main__":
    main()
