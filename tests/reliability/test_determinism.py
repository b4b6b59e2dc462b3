"""Determinism: the same inputs give the same bits, whatever runs them.

Covered here: repeated runs; the chunked engine's block size and thread count
(through the public kernel); every engine; NumPy against array-api-strict;
the order of a sparse gradient's occurrences (``duplicates="sum"`` and
``"sequential"`` depend only on each index's *own* occurrence order --
interleaving other indices differently keeps every bit); optimizer
trajectories across runs and across save/load at every step.
"""

from __future__ import annotations

from typing import Any

import array_api_strict as xps
import numpy as np
import pytest
from helpers import assert_same_bits, bytes_of, engines_for

from proxadagrad_ref import (
    Parameter,
    ProximalAdagrad,
    apply_proximal_adagrad,
    sparse_apply_proximal_adagrad,
)
from proxadagrad_ref.engines import chunked, pool
from proxadagrad_ref.schedules import WarmUpLR

# (emulate, dtype, prox_step): every dense combination the profiles define
DENSE = [
    (None, "float16", "adaptive"),
    (None, "float32", "adaptive"),
    (None, "float64", "adaptive"),
    (None, "float32", "fixed"),
    (None, "float64", "fixed"),
    ("mindspore", "float16", "adaptive"),
    ("mindspore", "float32", "adaptive"),
    ("tensorflow", "float32", "adaptive"),
    ("tensorflow", "float64", "adaptive"),
]


def special_inputs(dtype: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random values salted with NaN, infinities, signed zeros and subnormals (n % 4 != 0: a tail)."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    tiny = np.finfo(dt).smallest_subnormal
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, tiny, -tiny, np.finfo(dt).max], dt)
    w = rng.standard_normal(n).astype(dt)
    a = rng.random(n).astype(dt)
    g = rng.standard_normal(n).astype(dt)
    for x, nonneg in ((w, False), (a, True), (g, False)):
        where = rng.integers(0, n, n // 8)
        vals = rng.choice(specials, where.size)
        x[where] = np.abs(vals) if nonneg else vals
    return w, a, g


@pytest.mark.parametrize(("emulate", "dtype", "step"), DENSE)
def test_dense_bits_identical_across_runs_chunks_threads_engines_and_namespaces(
    emulate: str | None, dtype: str, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, a, g = special_inputs(dtype, 1027, seed=len(dtype) + (emulate is None))
    hyper = (0.05, 0.01, 0.1)
    kw = {"emulate": emulate, "prox_step": step}
    want = apply_proximal_adagrad(w, a, *hyper, g, engine="reference", **kw)
    # Across engines a NaN matches any NaN: NumPy's SIMD loops, numba's compiled loop and array-api-strict
    # may give inf - inf a different NaN sign; the conformance rules compare NaN as NaN (docs/conformance.md).
    engines = ["reference", "auto", *engines_for(dtype)]
    for engine in engines:
        first = bytes_of(*apply_proximal_adagrad(w, a, *hyper, g, engine=engine, **kw))
        for _ in range(2):  # repeated runs of one engine: every bit, NaN payloads too
            assert bytes_of(*apply_proximal_adagrad(w, a, *hyper, g, engine=engine, **kw)) == first, engine
        assert_same_bits(apply_proximal_adagrad(w, a, *hyper, g, engine=engine, **kw), want, engine)
    monkeypatch.setattr(chunked, "MIN_PARALLEL", 0)  # let small arrays use the thread pool
    for chunk, threads in [(1, 1), (5, 2), (64, 3), (333, 4), (1 << 20, 2)]:
        monkeypatch.setattr(chunked, "CHUNK", chunk)
        monkeypatch.setattr(pool, "THREADS", threads)
        got = apply_proximal_adagrad(w, a, *hyper, g, engine="numpy", **kw)
        assert_same_bits(got, want, (chunk, threads))
        w2, a2 = w.copy(), a.copy()  # in place, blockwise
        apply_proximal_adagrad(w2, a2, *hyper, g, engine="numpy", inplace=True, **kw)
        assert_same_bits((w2, a2), want, (chunk, threads, "inplace"))
    if dtype != "float16":  # array-api-strict has no float16
        xw, xa, xg = (xps.asarray(x) for x in (w, a, g))
        assert_same_bits(apply_proximal_adagrad(xw, xa, *hyper, xg, **kw), want)


def _interleave(indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of positions that keeps the relative order of each index's occurrences."""
    slots = rng.permutation(indices.size)  # where each occurrence goes, before fixing per-index order
    out = np.empty(indices.size, np.int64)
    for value in np.unique(indices):
        mine = np.flatnonzero(indices == value)  # in order of appearance
        out[np.sort(slots[mine])] = mine  # the index's occurrences, in their order, at its new places
    return out


SPARSE = [
    (None, "float16", "adaptive"),
    (None, "float32", "fixed"),
    (None, "float64", "adaptive"),
    ("mindspore", "float32", "adaptive"),
    ("tensorflow", "float32", "adaptive"),
]


@pytest.mark.parametrize(("emulate", "dtype", "step"), SPARSE)
@pytest.mark.parametrize("duplicates", ["sum", "sequential"])
def test_sparse_bits_depend_only_on_each_index_own_occurrence_order(
    emulate: str | None, dtype: str, step: str, duplicates: str
) -> None:
    rng = np.random.default_rng(11)
    dt = np.dtype(dtype)
    var = rng.standard_normal((6, 3)).astype(dt)
    accum = rng.random((6, 3)).astype(dt)
    indices = rng.integers(0, 6, 24)
    rows = (rng.standard_normal((24, 3)) * 10.0 ** rng.integers(-3, 3, (24, 1))).astype(dt)
    kw = {"emulate": emulate, "prox_step": step, "duplicates": duplicates}
    want = bytes_of(*sparse_apply_proximal_adagrad(var, accum, 0.1, 0.01, 0.1, rows, indices, **kw))
    if dtype != "float16":
        strict = [xps.asarray(x) for x in (var, accum, rows, indices)]
        got = sparse_apply_proximal_adagrad(strict[0], strict[1], 0.1, 0.01, 0.1, strict[2], strict[3], **kw)
        assert bytes_of(*got) == want
    for trial in range(4):
        perm = _interleave(indices, rng)
        if trial == 3:
            perm = perm.astype(np.int32)
        got = sparse_apply_proximal_adagrad(var, accum, 0.1, 0.01, 0.1, rows[perm], indices[perm], **kw)
        assert bytes_of(*got) == want, trial
        got32 = sparse_apply_proximal_adagrad(
            var, accum, 0.1, 0.01, 0.1, rows[perm], indices[perm].astype(np.int32), **kw
        )
        assert bytes_of(*got32) == want


def test_sparse_sum_does_depend_on_an_index_own_order() -> None:
    """The flip side, stated so the guarantee above is not read as order-independence."""
    var, accum = np.zeros((1, 1), np.float32), np.ones((1, 1), np.float32)
    rows = np.array([[1.0], [1e8], [-1e8]], np.float32)
    a = sparse_apply_proximal_adagrad(
        var, accum, 0.1, 0.0, 0.0, rows, np.array([0, 0, 0]), emulate="mindspore"
    )
    b = sparse_apply_proximal_adagrad(
        var, accum, 0.1, 0.0, 0.0, rows[[1, 2, 0]], np.array([0, 0, 0]), emulate="mindspore"
    )
    assert bytes_of(*a) != bytes_of(*b)  # (1 + 1e8) - 1e8 = 0 in float32, (1e8 - 1e8) + 1 = 1


def test_optimizer_sparse_gradient_depends_only_on_each_index_own_order() -> None:
    rng = np.random.default_rng(5)
    indices = rng.integers(0, 5, 16)
    values = (rng.standard_normal((16, 2)) * 1e3).astype(np.float32)
    out = []
    for trial in range(3):
        perm = np.arange(16) if trial == 0 else _interleave(indices, rng)
        p = Parameter(np.ones((5, 2), np.float32), name="t")
        opt = ProximalAdagrad([p], learning_rate=0.1, weight_decay=0.01, emulate="mindspore", loss_scale=4.0)
        opt(((indices[perm], values[perm]),))
        out.append(bytes_of(p.data, opt.accum[0]))
    assert out[0] == out[1] == out[2]


# --- optimizer trajectories ------------------------------------------------------------------------


def _build(dtype: Any, emulate: str | None) -> tuple[ProximalAdagrad, list[Parameter]]:
    params = [
        Parameter(np.linspace(-1, 1, 12, dtype=dtype).reshape(4, 3), name="table"),
        Parameter(np.linspace(0, 2, 5, dtype=dtype), name="bias"),
    ]
    groups = [
        {"params": params[:1], "weight_decay": 0.01, "grad_centralization": True},
        {"params": params[1:]},
    ]
    opt = ProximalAdagrad(
        groups,
        learning_rate=WarmUpLR(0.1, 3, emulate=emulate),
        l1=0.001,
        l2=0.01,
        loss_scale=2.0,
        emulate=emulate,
    )
    return opt, params


def _grads(t: int, dtype: Any) -> tuple[Any, ...]:
    rng = np.random.default_rng(100 + t)
    idx = rng.integers(0, 4, 5)
    return (idx, rng.standard_normal((5, 3)).astype(dtype)), rng.standard_normal(5).astype(dtype)


@pytest.mark.parametrize(
    ("dtype", "emulate"),
    [(np.float32, None), (np.float64, None), (np.float32, "mindspore")],
    ids=["f32-exact", "f64-exact", "f32-mindspore"],
)
def test_trajectories_identical_across_runs_and_resumes(
    tmp_path: Any, dtype: Any, emulate: str | None
) -> None:
    steps = 5
    runs = []
    for _ in range(2):
        opt, params = _build(dtype, emulate)
        trajectory = []
        for t in range(steps):
            opt(_grads(t, dtype))
            trajectory.append(bytes_of(*(p.data for p in params), *opt.accum))
        runs.append(trajectory)
    assert runs[0] == runs[1]
    for k in range(1, steps):  # stop after k steps, save, resume in a fresh optimizer, finish
        opt, params = _build(dtype, emulate)
        for t in range(k):
            opt(_grads(t, dtype))
        opt.save(tmp_path / f"k{k}.npz")
        values = [p.data.copy() for p in params]
        fresh, fresh_params = _build(dtype, emulate)
        for p, v in zip(fresh_params, values, strict=True):
            p.data = v
        fresh.load(tmp_path / f"k{k}.npz")
        for t in range(k, steps):
            fresh(_grads(t, dtype))
            assert bytes_of(*(p.data for p in fresh_params), *fresh.accum) == runs[0][t], (k, t)
