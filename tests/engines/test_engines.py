"""Every fast engine gives the reference path's bits: chunked NumPy, numba, any chunk size or thread count."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from helpers import HAS_NUMBA, NP, assert_same_bits, edge_inputs, engines_for, needs_numba, random_inputs

from proxadagrad_ref import apply_proximal_adagrad, engine_info
from proxadagrad_ref.engines import chunked, dispatch
from proxadagrad_ref.engines.step import Elementwise
from proxadagrad_ref.kernels import grads
from proxadagrad_ref.kernels import sparse as sparse_kernel
from proxadagrad_ref.numerics import fparith
from proxadagrad_ref.numerics.profiles import PROFILES


def numba_engine():  # type: ignore[no-untyped-def]
    from proxadagrad_ref.engines import numba

    return numba


# (profile, dtype, prox_step) cases, read from the profiles themselves.
CASES = [
    (name, dtype, step)
    for name, profile in sorted(PROFILES.items())
    for dtype in profile.dtypes
    for step in profile.prox_steps
]
HYPER = [(0.0, 0.0), (0.05, 0.0), (0.0, 0.1), (0.05, 0.1)]


def run(name: str, dtype: str, step: str, inputs: tuple[np.ndarray, ...], l1: float, l2: float,
        engine: str, **kw: object) -> tuple[np.ndarray, np.ndarray]:
    profile = PROFILES[name]
    dt = np.dtype(dtype)
    hyper = [np.asarray(v, dtype=dt) for v in (0.1, l1, l2)]
    w, a, g = inputs
    with np.errstate(all="ignore"):
        task = Elementwise(profile, profile.dense, NP, w, a, g, tuple(hyper), step == "adaptive")
        return dispatch.evaluate(task, engine=engine, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "dtype", "step"), CASES)
@pytest.mark.parametrize(("l1", "l2"), HYPER)
def test_engines_match_reference_on_edge_values(
    name: str, dtype: str, step: str, l1: float, l2: float
) -> None:
    inputs = edge_inputs(dtype)
    want = run(name, dtype, step, inputs, l1, l2, "reference")
    for engine in engines_for(dtype):
        assert_same_bits(run(name, dtype, step, inputs, l1, l2, engine, chunk=97, threads=2), want)


@pytest.mark.parametrize(("name", "dtype", "step"), CASES)
@pytest.mark.parametrize("n", [1, 7, 63, 64, 65, 3 * 64 + 5, 20_000])
def test_engines_match_reference_on_random_values(
    name: str, dtype: str, step: str, n: int
) -> None:
    inputs = random_inputs(dtype, n, seed=n)
    for l1, l2 in HYPER[::3]:
        want = run(name, dtype, step, inputs, l1, l2, "reference")
        for engine in engines_for(dtype):
            assert_same_bits(run(name, dtype, step, inputs, l1, l2, engine, chunk=64, threads=3), want)


@pytest.mark.parametrize(("name", "dtype", "step"), CASES)
def test_chunk_size_and_threads_do_not_change_bits(name: str, dtype: str, step: str) -> None:
    inputs = random_inputs(dtype, 2_000, seed=7)
    want = run(name, dtype, step, inputs, 0.05, 0.1, "reference")
    for chunk, threads in [(1, 1), (3, 2), (500, 4), (1999, 2), (2000, 1), (1 << 20, 2)]:
        got = run(name, dtype, step, inputs, 0.05, 0.1, "numpy", chunk=chunk, threads=threads)
        assert_same_bits(got, want)


@needs_numba
@pytest.mark.parametrize("name", sorted(PROFILES))
def test_numba_thread_count_does_not_change_bits(name: str) -> None:
    dtype = "float32" if "float32" in PROFILES[name].dtypes else PROFILES[name].dtypes[0]
    inputs = random_inputs(dtype, 600_001, seed=3)  # above _NUMBA_MIN_PARALLEL: sliced over the pool
    assert inputs[0].size > numba_engine().MIN_PARALLEL
    want = run(name, dtype, "adaptive", inputs, 0.05, 0.1, "reference")
    for threads in (1, 2, 3, 4):
        assert_same_bits(run(name, dtype, "adaptive", inputs, 0.05, 0.1, "numba", threads=threads), want)
        w, a = (x.copy() for x in inputs[:2])
        got = run(name, dtype, "adaptive", (w, a, inputs[2]), 0.05, 0.1, "numba", threads=threads, out=(w, a))
        assert got[0] is w and got[1] is a
        assert_same_bits((w, a), want)  # the in-place loop


@needs_numba
def test_numba_scalar_fma_matches_fparith() -> None:
    """The hardware/libm FMA (``llvm.fma``) gives _fparith's bits, midpoint ties included."""
    import numba

    from proxadagrad_ref.engines import numba as numba_mod

    @numba.njit
    def fma_loop(a, b, c, out):  # type: ignore[no-untyped-def]
        for i in range(a.shape[0]):
            out[i] = numba_mod._fma(a[i], b[i], c[i])

    rng = np.random.default_rng(11)
    n = 50_000
    a = (rng.standard_normal(n) * 10.0 ** rng.integers(-20, 20, n)).astype(np.float32)
    b = (rng.standard_normal(n) * 10.0 ** rng.integers(-20, 20, n)).astype(np.float32)
    c = (rng.standard_normal(n) * 10.0 ** rng.integers(-40, 38, n)).astype(np.float32)
    # Ties: a*b = 1 + 2**-24 (a float32 midpoint) and a tiny c of either sign; exact products plus/minus ulps.
    one_plus = np.float32(1 + 2**-23)
    tie_a = np.full(8, one_plus, np.float32)
    tie_b = np.array([1, 1, 1, 1, 0.5, 0.5, -1, -1], np.float32)
    tie_c = np.array(
        [2**-60, -(2**-60), 2**-149, -(2**-149), 2**-70, -(2**-70), 2**-60, -(2**-60)], np.float32
    )
    edge = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 3.4e38, 1e-45, -1e-45], np.float32)
    ea, eb, ec = (x.ravel() for x in np.meshgrid(edge, edge, edge, indexing="ij"))
    a, b, c = (np.concatenate(v) for v in ((a, tie_a, ea), (b, tie_b, eb), (c, tie_c, ec)))
    # Products that land exactly on a float32 midpoint once c is added.
    half_ulp = np.float32(2**-24)
    a = np.concatenate([a, np.full(4, 1.0, np.float32)])
    b = np.concatenate([b, np.array([1 + 2**-23, 1 - 2**-24, 1.5, 3.0], np.float32)])
    c = np.concatenate([c, np.array([half_ulp, -half_ulp, 2**-30, -(2**-30)], np.float32)])
    got = np.empty_like(a)
    fma_loop(a, b, c, got)
    with np.errstate(all="ignore"):
        want = fparith.fma(NP, a, b, c)
    assert_same_bits((got,), (want,))  # NaN sign/payload: see assert_same_bits


@needs_numba
@pytest.mark.parametrize("name", sorted(PROFILES))
def test_numba_kernel_has_no_contracted_fma(name: str) -> None:
    """numba must not contract ``a*b + c``: the only fused operations are the formula's own ``fma`` calls."""
    profile = PROFILES[name]
    dtype = np.dtype("float32" if "float32" in profile.dtypes else profile.dtypes[0])
    run(name, dtype.name, "adaptive", random_inputs(dtype.name, 8), 0.05, 0.1, "numba")
    w, a, g = random_inputs(dtype.name, 8)
    run(name, dtype.name, "adaptive", (w, a, g), 0.05, 0.1, "numba", out=(w, a))  # the in-place loop too
    for kernel in numba_engine().kernel(profile.dense, np.dtype(profile.compute_dtype(NP, dtype))):
        ir = "\n".join(kernel.inspect_llvm().values())
        assert "define" in ir, "no LLVM IR"
        assert "fmuladd" not in ir, f"llvm.fmuladd (contractible multiply-add) in the {name} kernel"
        assert not re.search(r"\b(contract|fast|reassoc)\b", ir), f"fast-math flags in the {name} kernel"
        if "fma" in profile.dense.__code__.co_names:
            continue  # the formula's own fma calls compile to vfmadd where the CPU has FMA
        asm = "\n".join(kernel.inspect_asm().values()).lower()
        for mnemonic in ("vfmadd", "vfmsub", "vfnmadd", "vfnmsub", "fmadd", "fmla"):
            assert mnemonic not in asm, f"{mnemonic} found in the {name} kernel"


@needs_numba
def test_numba_rsqrt_eigen_matches_array_op() -> None:
    """The scalar vrsqrtps table lookup + Newton step gives ops.rsqrt_eigen's bits on any float32 pattern."""
    import numba

    from proxadagrad_ref.engines.numba import SCALAR_OPS
    from proxadagrad_ref.numerics import ops

    scalar_rsqrt_eigen = SCALAR_OPS["rsqrt_eigen"]

    @numba.njit
    def rsqrt_loop(x, out):  # type: ignore[no-untyped-def]
        for i in range(x.shape[0]):
            out[i] = scalar_rsqrt_eigen(x[i])

    rng = np.random.default_rng(5)
    patterns = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    fi = np.finfo(np.float32)
    edge = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, fi.smallest_subnormal, -fi.smallest_subnormal,
                     fi.smallest_normal, fi.max, 1.0, 2.0, 4.0, 0.5, 0.25, 3.0, 1 - fi.epsneg], np.float32)
    powers = np.ldexp(np.float32(1.0), np.arange(-126, 128)).astype(np.float32)
    for x in (np.concatenate([patterns, edge, powers, np.nextafter(powers, np.float32(0))]),
              np.abs(rng.standard_normal(10_000)) * 10.0 ** rng.integers(-300, 300, 10_000)):
        got = np.empty_like(x)
        rsqrt_loop(x, got)
        with np.errstate(all="ignore"):
            assert_same_bits((got,), (ops.rsqrt_eigen(x),))


@pytest.mark.parametrize(("name", "dtype", "step"), CASES)
def test_chunked_engine_replays_every_formula(name: str, dtype: str, step: str) -> None:
    """Every profile formula can be recorded (the chunked engine never falls back to whole-block calls)."""
    profile = PROFILES[name]
    compute = np.dtype(profile.compute_dtype(NP, np.dtype(dtype)))
    formulas = (profile.dense, profile.sparse, profile.tail, profile.sparse_tail, profile.sparse_column)
    for formula in {f for f in formulas if f is not None}:
        for l1 in (0.0, 0.05):
            hyper = tuple(np.asarray(v, dtype=compute) for v in (0.1, l1, 0.1))
            convert = compute != np.dtype(dtype)
            task = Elementwise(profile, formula, NP, *(np.ones(1, dtype),) * 3, hyper, step == "adaptive")
            program = chunked.record(task, compute, convert)
            assert program.calls and len(program.buffer_dtypes) <= 8
            assert len(program.inputs) == (3 if convert else 0)


def test_public_kernel_engines_agree_and_inplace_writes_in_place() -> None:
    w, a, g = random_inputs("float32", 10_001, seed=5)
    want = apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, engine="reference")
    for engine in ["auto", *engines_for("float32")]:
        assert_same_bits(apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, engine=engine), want)
        w2, a2 = w.copy(), a.copy()
        out = apply_proximal_adagrad(w2, a2, 0.1, 0.05, 0.1, g, engine=engine, inplace=True)
        assert out[0] is w2 and out[1] is a2
        assert_same_bits((w2, a2), want)


def test_overlapping_or_strided_arrays_use_the_reference_path() -> None:
    w, a, _ = random_inputs("float64", 1001, seed=2)
    # grad is var itself, in place: the blockwise engines must not be used on overlapping memory.
    want = apply_proximal_adagrad(w.copy(), a.copy(), 0.1, 0.0, 0.0, w.copy(), engine="reference")
    w2, a2 = w.copy(), a.copy()
    apply_proximal_adagrad(w2, a2, 0.1, 0.0, 0.0, w2, inplace=True)
    assert_same_bits((w2, a2), want)
    with pytest.raises(ValueError, match="contiguous"):
        apply_proximal_adagrad(w[::2], a[::2], 0.1, 0.0, 0.0, w[::2], engine="numpy")
    assert_same_bits(
        apply_proximal_adagrad(w[::2], a[::2], 0.1, 0.0, 0.0, w[::2]),
        apply_proximal_adagrad(w[::2], a[::2], 0.1, 0.0, 0.0, w[::2], engine="reference"),
    )


def test_two_dimensional_and_fortran_arrays() -> None:
    w, a, g = (x.reshape(101, 99) for x in random_inputs("float32", 101 * 99, seed=9))
    want = apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, engine="reference")
    assert_same_bits(apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, engine="numpy"), want)
    wf, af, gf = (np.asfortranarray(x) for x in (w, a, g))
    got = apply_proximal_adagrad(wf, af, 0.1, 0.05, 0.1, gf, engine="numpy")
    assert_same_bits(got, want)


def test_engine_argument_is_checked() -> None:
    w = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="engine must be one of"):
        apply_proximal_adagrad(w, w.copy(), 0.1, 0.0, 0.0, w.copy(), engine="fast")
    if HAS_NUMBA:
        with pytest.raises(TypeError, match="float16"):
            h = np.ones(4, np.float16)
            apply_proximal_adagrad(h, h.copy(), 0.1, 0.0, 0.0, h.copy(), engine="numba")


def test_engine_info() -> None:
    info = engine_info(np.float32)
    assert info["engine"] == ("numba" if HAS_NUMBA else "numpy")
    assert engine_info(np.float16)["engine"] == "numpy"
    assert engine_info(np.float32, engine="reference")["engine"] == "reference"


SPARSE_CASES = [
    (name, dtype)
    for name, profile in sorted(PROFILES.items())
    for dtype in (profile.sparse_dtypes or profile.dtypes)
]


@pytest.mark.parametrize(("name", "dtype"), SPARSE_CASES)
@pytest.mark.parametrize("order", ["increasing", "shuffled", "duplicates"])
@pytest.mark.parametrize("width", [1, 13, 64])
def test_sparse_numpy_fast_paths_match_array_api_strict(
    name: str, dtype: str, order: str, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unique indices skip grouping (NumPy); the bits are those of the grouped, standard-only path."""
    import array_api_strict as xps

    from proxadagrad_ref import sparse_apply_proximal_adagrad

    rng = np.random.default_rng(width)
    n_rows, k = 300, 120
    var, acc, _ = random_inputs(dtype, n_rows * width, seed=width)
    var, acc = var.reshape(n_rows, width), np.abs(acc).reshape(n_rows, width)
    idx = rng.choice(n_rows, k, replace=False)
    if order == "increasing":
        idx = np.sort(idx)
    elif order == "duplicates":
        idx = np.concatenate([idx[: k // 2], idx[: k // 4]])
        rng.shuffle(idx)
    rows = random_inputs(dtype, idx.size * width, seed=k)[2].reshape(idx.size, width)
    assert grads.indices_unique(idx) == (order != "duplicates")
    emulate = None if name == "exact" else name
    with np.errstate(all="ignore"):
        got = sparse_apply_proximal_adagrad(var, acc, 0.1, 0.05, 0.1, rows, idx, emulate=emulate)
        if dtype != "float16":  # array-api-strict has no float16
            want = sparse_apply_proximal_adagrad(
                *(xps.asarray(x) for x in (var, acc)), 0.1, 0.05, 0.1, xps.asarray(rows), xps.asarray(idx),
                emulate=emulate,
            )
            assert_same_bits(got, tuple(np.asarray(x) for x in want))
        with monkeypatch.context() as patch:  # the grouped path, on NumPy arrays
            patch.setattr(sparse_kernel, "indices_unique", lambda idx: False)
            grouped = sparse_apply_proximal_adagrad(var, acc, 0.1, 0.05, 0.1, rows, idx, emulate=emulate)
        assert_same_bits(got, grouped)
        v2, a2 = var.copy(), acc.copy()
        out = sparse_apply_proximal_adagrad(v2, a2, 0.1, 0.05, 0.1, rows, idx, emulate=emulate, inplace=True)
    assert out[0] is v2 and out[1] is a2
    assert_same_bits((v2, a2), got)


def test_indices_unique() -> None:
    assert grads.indices_unique(np.array([], np.int64)) and grads.indices_unique(np.array([3]))
    assert grads.indices_unique(np.array([1, 5, 9])) and grads.indices_unique(np.array([9, 1, 5]))
    assert not grads.indices_unique(np.array([1, 5, 1])) and not grads.indices_unique(np.array([2, 2]))
    assert not grads.indices_unique([1, 2])  # not a NumPy array: the caller groups


@pytest.mark.parametrize("form", ["csr", "csr-unsorted", "csr-repeated", "coo", "csc"])
def test_scipy_sparse_gradient_matches_index_value_form(form: str) -> None:
    """The direct CSR scatter (canonical matrices) gives the rows scipy's toarray gives."""
    import scipy.sparse as sp

    from proxadagrad_ref import sparse_apply_proximal_adagrad

    rng = np.random.default_rng(4)
    n_rows, width = 50, 7
    var = rng.standard_normal((n_rows, width)).astype(np.float32)
    acc = rng.random((n_rows, width)).astype(np.float32)
    dense = rng.standard_normal((n_rows, width)).astype(np.float32)
    dense[rng.random(n_rows) < 0.6] = 0.0  # untouched rows
    dense[rng.random((n_rows, width)) < 0.3] = 0.0  # sparse within rows
    build = {"coo": sp.coo_matrix, "csc": sp.csc_matrix}.get(form, sp.csr_matrix)
    matrix: Any = build(dense)
    if form == "csr-unsorted":  # same entries, the columns of each row reversed
        for r in range(n_rows):
            lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
            matrix.indices[lo:hi] = matrix.indices[lo:hi][::-1].copy()
            matrix.data[lo:hi] = matrix.data[lo:hi][::-1].copy()
        matrix.has_sorted_indices = False
    if form == "csr-repeated":  # one entry split in two stored halves: scipy sums them
        coo = sp.coo_matrix(dense)
        half = (coo.data / 2).astype(np.float32)
        matrix = sp.csr_matrix((np.concatenate([half, coo.data - half]),
                                (np.concatenate([coo.row, coo.row]), np.concatenate([coo.col, coo.col]))),
                               shape=dense.shape)
        matrix.has_canonical_format = False
    touched = np.flatnonzero(np.any(dense != 0, axis=1))
    want = sparse_apply_proximal_adagrad(var, acc, 0.1, 0.05, 0.1, dense[touched], touched)
    got = sparse_apply_proximal_adagrad(var, acc, 0.1, 0.05, 0.1, matrix)
    if form == "csr-repeated":
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    else:
        assert_same_bits(got, want)
