"""The fused sparse path (numba: update the touched rows where they lie) gives the gather/scatter path's bits.

Also: the fused path writes nothing when a touched accumulator fails the
non-negativity check, and every engine of the sparse kernel gives the same bits.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import HAS_NUMBA, NP, assert_same_bits, edge_inputs, needs_numba, random_inputs, reference_eval

from proxadagrad_ref import sparse_apply_proximal_adagrad
from proxadagrad_ref.engines import dispatch
from proxadagrad_ref.engines.step import Elementwise
from proxadagrad_ref.numerics.profiles import PROFILES

# (profile, dtype, prox_step) for the dtypes the compiled loops take.
ROW_CASES = [
    (name, dtype, step)
    for name, profile in sorted(PROFILES.items())
    for dtype in (profile.sparse_dtypes or profile.dtypes)
    if dtype in ("float32", "float64")
    for step in profile.prox_steps
]


def table(dtype: str, rows: int, inner: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A (rows, inner) table and its accumulators: random values, then the edge values at the front."""
    w, a, _ = random_inputs(dtype, rows * inner, seed=seed)
    ew, ea, _ = edge_inputs(dtype)
    ea = np.where(np.isnan(ea), 0.5, ea).astype(dtype)  # a NaN accumulator declines the fused path
    m = min(w.size, ew.size)
    w[:m], a[:m] = ew[:m], ea[:m]
    return w.reshape(rows, inner), a.reshape(rows, inner)


def gather_scatter(name: str, step: str, var: np.ndarray, acc: np.ndarray, grad: np.ndarray,
                   idx: np.ndarray, hyper: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The reference: gather the rows, ``Profile.evaluate`` on them, scatter them back."""
    profile = PROFILES[name]
    column = profile.sparse_column is not None and var.shape[1] == 1
    formula = profile.sparse_column if column else profile.sparse
    with np.errstate(all="ignore"):
        w, a = reference_eval(profile, formula, var[idx], acc[idx], grad, hyper, step)
    var2, acc2 = var.copy(), acc.copy()
    var2[idx], acc2[idx] = w, a
    return var2, acc2


@needs_numba
@pytest.mark.parametrize(("name", "dtype", "step"), ROW_CASES)
@pytest.mark.parametrize("inner", [1, 8, 64])
@pytest.mark.parametrize("threads", [1, 3])
def test_fused_rows_match_gather_scatter(name: str, dtype: str, step: str, inner: int, threads: int) -> None:
    profile = PROFILES[name]
    if profile.sparse_column is None and profile.sparse_tail is not None and inner % profile.block(dtype):
        pytest.skip("rows mixing two formulas take the general path")
    rows = 2600 if inner == 1 else 4200  # 4200 x 64 crosses the threading threshold
    var, acc = table(dtype, rows, inner, seed=inner)
    rng = np.random.default_rng(inner + threads)
    # the edge values' rows first, then distinct random rows in random order
    idx = np.concatenate([np.arange(20), 20 + rng.choice(rows - 20, rows * 3 // 4, replace=False)])
    grad = random_inputs(dtype, idx.size * inner, seed=7)[2].reshape(idx.size, inner)
    grad.reshape(-1)[: min(grad.size, 2312)] = edge_inputs(dtype)[2][: min(grad.size, 2312)]
    hyper = [np.asarray(v, dtype=dtype) for v in (0.1, 0.05, 0.1)]
    want = gather_scatter(name, step, var, acc, grad, idx, hyper)
    formula = profile.sparse_column if profile.sparse_column is not None and inner == 1 else profile.sparse
    before = (var.copy(), acc.copy())
    with np.errstate(all="ignore"):
        adaptive = step == "adaptive"
        task = Elementwise(profile, formula, NP, var, acc, grad, tuple(hyper), adaptive).at_rows(idx)
        copies = dispatch.update_rows(task, inplace=False, threads=threads)
        assert copies is not None
        assert_same_bits(copies, want)
        assert_same_bits((var, acc), before)  # functional: the table is untouched
        done = dispatch.update_rows(task, inplace=True, threads=threads)
    assert done is not None and done[0] is var and done[1] is acc
    assert_same_bits((var, acc), want)


@needs_numba
@pytest.mark.parametrize("bad", [-1.0, np.nan])
def test_fused_rows_write_nothing_when_an_accumulator_is_negative_or_nan(bad: float) -> None:
    profile = PROFILES["exact"]
    var, acc = table("float32", 300, 8, seed=1)
    acc = np.abs(acc)
    acc[250, 7] = bad
    before = (var.copy(), acc.copy())
    idx = np.array([3, 250, 17], np.int64)
    hyper = [np.asarray(v, dtype=np.float32) for v in (0.1, 0.05, 0.1)]
    grad = np.ones((3, 8), np.float32)
    task = Elementwise(profile, profile.sparse, NP, var, acc, grad, tuple(hyper), True).at_rows(idx)
    done = dispatch.update_rows(task, inplace=True)
    assert done is None
    assert_same_bits((var, acc), before)


def csr_grad(rng: np.random.Generator, rows: int, inner: int, dtype: str, full: bool) -> sp.csr_matrix:
    touched = rng.random(rows) < 0.3
    dense = np.zeros((rows, inner), dtype)
    dense[touched] = rng.standard_normal((int(touched.sum()), inner))
    if not full:
        dense[rng.random((rows, inner)) < 0.5] = 0
    return sp.csr_matrix(dense)


@pytest.mark.parametrize(("name", "dtype", "step"), ROW_CASES)
@pytest.mark.parametrize("form", ["unique", "duplicates", "csr-full", "csr-partial", "coo"])
@pytest.mark.parametrize("inplace", [True, False])
def test_public_sparse_step_same_bits_with_and_without_the_fused_path(
    name: str, dtype: str, step: str, form: str, inplace: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    inner = 1 if name == "tensorflow" and form == "unique" else 8
    var, acc = table(dtype, 500, inner, seed=2)
    if form.startswith("csr") or form == "coo":
        grad: object = csr_grad(rng, 500, inner, dtype, full=form == "csr-full")
        if form == "coo":
            grad = grad.tocoo()  # type: ignore[attr-defined]
        idx = None
    else:
        idx = rng.choice(500, 300, replace=form == "duplicates").astype(np.int64)
        grad = random_inputs(dtype, 300 * inner, seed=5)[2].reshape(300, inner)

    def step_once() -> tuple[np.ndarray, np.ndarray]:
        w, a = var.copy(), acc.copy()
        with np.errstate(all="ignore"):
            out = sparse_apply_proximal_adagrad(
                w, a, 0.1, 0.05, 0.1, grad, idx, emulate=None if name == "exact" else name,
                prox_step=step, inplace=inplace,
            )
        if inplace:
            assert out[0] is w and out[1] is a
        return out

    fused = step_once()
    monkeypatch.setattr(dispatch, "numba_available", lambda: False)
    assert_same_bits(fused, step_once())


@pytest.mark.parametrize(("name", "dtype", "step"), ROW_CASES)
@pytest.mark.parametrize("duplicates", ["sum", "sequential"])
def test_sparse_engines_give_the_same_bits(name: str, dtype: str, step: str, duplicates: str) -> None:
    """``engine=`` of the sparse kernel: every engine that applies gives the reference engine's bits."""
    var, acc = table(dtype, 400, 8, seed=6)
    rng = np.random.default_rng(6)
    idx = rng.choice(400, 250, replace=True).astype(np.int64)
    grad = random_inputs(dtype, 250 * 8, seed=7)[2].reshape(250, 8)
    emulate = None if name == "exact" else name

    def step_with(engine: str) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(all="ignore"):
            return sparse_apply_proximal_adagrad(var, acc, 0.1, 0.05, 0.1, grad, idx, duplicates=duplicates,
                                                 emulate=emulate, prox_step=step, engine=engine)

    want = step_with("reference")
    for engine in ["auto", "numpy"] + (["numba"] if HAS_NUMBA else []):
        assert_same_bits(step_with(engine), want)
