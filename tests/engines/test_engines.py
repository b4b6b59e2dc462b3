"""Every fast engine gives the reference path's bits: chunked NumPy, numba, any chunk size or thread count."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import HAS_NUMBA, NP, assert_same_bits, edge_inputs, engines_for, random_inputs, run_dense

from proxadagrad_ref import apply_proximal_adagrad, engine_info
from proxadagrad_ref.engines import chunked, dispatch
from proxadagrad_ref.engines.step import Elementwise
from proxadagrad_ref.numerics.profiles import PROFILES

# (profile, dtype, prox_step) cases, read from the profiles themselves.
CASES = [
    (name, dtype, step)
    for name, profile in sorted(PROFILES.items())
    for dtype in profile.dtypes
    for step in profile.prox_steps
]
HYPER = [(0.0, 0.0), (0.05, 0.0), (0.0, 0.1), (0.05, 0.1)]


@pytest.mark.parametrize(("name", "dtype", "step"), CASES)
@pytest.mark.parametrize(("l1", "l2"), HYPER)
def test_engines_match_reference_on_edge_values(
    name: str, dtype: str, step: str, l1: float, l2: float
) -> None:
    inputs = edge_inputs(dtype)
    want = run_dense(name, dtype, step, inputs, l1, l2, "reference")
    for engine in engines_for(dtype):
        assert_same_bits(run_dense(name, dtype, step, inputs, l1, l2, engine, chunk=97, threads=2), want)


@pytest.mark.parametrize(("name", "dtype", "step"), CASES)
@pytest.mark.parametrize("n", [1, 7, 63, 64, 65, 3 * 64 + 5, 20_000])
def test_engines_match_reference_on_random_values(
    name: str, dtype: str, step: str, n: int
) -> None:
    inputs = random_inputs(dtype, n, seed=n)
    for l1, l2 in HYPER[::3]:
        want = run_dense(name, dtype, step, inputs, l1, l2, "reference")
        for engine in engines_for(dtype):
            assert_same_bits(run_dense(name, dtype, step, inputs, l1, l2, engine, chunk=64, threads=3), want)


@pytest.mark.parametrize(("name", "dtype", "step"), CASES)
def test_chunk_size_and_threads_do_not_change_bits(name: str, dtype: str, step: str) -> None:
    inputs = random_inputs(dtype, 2_000, seed=7)
    want = run_dense(name, dtype, step, inputs, 0.05, 0.1, "reference")
    for chunk, threads in [(1, 1), (3, 2), (500, 4), (1999, 2), (2000, 1), (1 << 20, 2)]:
        got = run_dense(name, dtype, step, inputs, 0.05, 0.1, "numpy", chunk=chunk, threads=threads)
        assert_same_bits(got, want)


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
        with pytest.raises(TypeError, match="int32"):
            i = np.ones(4, np.int32)
            dispatch.evaluate(  # below the kernels' own dtype check: the engine refuses what it cannot hold
                Elementwise(PROFILES["exact"], PROFILES["exact"].dense, NP, i, i, i, (i[0],) * 3, True),
                engine="numba",
            )


def test_engine_info() -> None:
    info = engine_info(np.float32)
    assert info["engine"] == ("numba" if HAS_NUMBA else "numpy")
    assert engine_info(np.float16)["engine"] == ("numba" if HAS_NUMBA else "numpy")
    assert engine_info(np.float32, engine="reference")["engine"] == "reference"
