"""The numba engine's compiled loops: any thread count, scalar ``fma``, ``rsqrt_eigen``, no contracted FMA."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import NP, assert_same_bits, needs_numba, random_inputs, run_dense

from proxadagrad_ref.numerics import fparith
from proxadagrad_ref.numerics.profiles import PROFILES


def numba_engine():  # type: ignore[no-untyped-def]
    from proxadagrad_ref.engines import numba

    return numba


@needs_numba
@pytest.mark.parametrize("name", sorted(PROFILES))
def test_numba_thread_count_does_not_change_bits(name: str) -> None:
    dtype = "float32" if "float32" in PROFILES[name].dtypes else PROFILES[name].dtypes[0]
    inputs = random_inputs(dtype, 600_001, seed=3)  # above _NUMBA_MIN_PARALLEL: sliced over the pool
    assert inputs[0].size > numba_engine().MIN_PARALLEL
    want = run_dense(name, dtype, "adaptive", inputs, 0.05, 0.1, "reference")
    for threads in (1, 2, 3, 4):
        got = run_dense(name, dtype, "adaptive", inputs, 0.05, 0.1, "numba", threads=threads)
        assert_same_bits(got, want)
        w, a = (x.copy() for x in inputs[:2])
        got = run_dense(name, dtype, "adaptive", (w, a, inputs[2]), 0.05, 0.1, "numba", threads=threads,
                        out=(w, a))
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
    run_dense(name, dtype.name, "adaptive", random_inputs(dtype.name, 8), 0.05, 0.1, "numba")
    w, a, g = random_inputs(dtype.name, 8)
    run_dense(name, dtype.name, "adaptive", (w, a, g), 0.05, 0.1, "numba", out=(w, a))  # the in-place loop
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


ROUTES = ["portable", "native"]


def _float16_conversions(route: str):  # type: ignore[no-untyped-def]
    """Loops over one route's float16 loads and stores, compiled as the half kernels use them."""
    import numba

    if route == "native" and not numba_engine().NATIVE_HALF:
        pytest.skip("numba's target CPU has no float16 conversions (F16C)")
    half_to_float32, float32_to_half, float64_to_half = numba_engine().HALF_CONVERSIONS[route]

    @numba.njit
    def widen(h, out):  # type: ignore[no-untyped-def]
        for i in range(h.shape[0]):
            out[i] = half_to_float32(h[i])

    @numba.njit
    def narrow32(x, out):  # type: ignore[no-untyped-def]
        for i in range(x.shape[0]):
            out[i] = float32_to_half(x[i])

    @numba.njit
    def narrow64(x, out):  # type: ignore[no-untyped-def]
        for i in range(x.shape[0]):
            out[i] = float64_to_half(x[i])

    return widen, narrow32, narrow64


def _assert_rounds_as_numpy(narrow, x: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """`narrow` gives NumPy's ``astype(float16)`` bits (one rounding, nearest-even); NaN: NaN, x's sign."""
    got = np.empty(x.size, np.uint16)
    narrow(x, got)
    with np.errstate(over="ignore", invalid="ignore"):
        want = x.astype(np.float16).view(np.uint16)
    nan = np.isnan(x)
    np.testing.assert_array_equal(got[~nan], want[~nan])
    assert np.isnan(got[nan].view(np.float16)).all()
    np.testing.assert_array_equal(got[nan] >> 15, np.signbit(x[nan]))


@needs_numba
@pytest.mark.parametrize("route", ROUTES)
def test_float16_bits_widen_and_round_as_numpy_does(route: str) -> None:
    """The float16 loops' load and store: every half widened exactly; every midpoint rounded to even."""
    widen, narrow32, narrow64 = _float16_conversions(route)
    every = np.arange(1 << 16, dtype=np.uint16)
    wide = np.empty(every.size, np.float32)
    widen(every, wide)
    want = every.view(np.float16).astype(np.float32)
    assert_same_bits((wide,), (want,))
    halves = np.unique(want[np.isfinite(want)]).astype(np.float64)
    mid = (halves[1:] + halves[:-1]) / 2  # every tie, and its two neighbours
    rng = np.random.default_rng(7)
    x = np.concatenate([mid, np.nextafter(mid, np.inf), np.nextafter(mid, -np.inf), halves,
                        rng.standard_normal(200_000) * 10.0 ** rng.integers(-12, 7, 200_000),
                        [65519.99, 65520.0, -65520.0, 1e300, 5e-324, -0.0, np.inf, -np.inf, np.nan, -np.nan]])
    _assert_rounds_as_numpy(narrow64, x)
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)  # the ties are float32 values too (12 significant bits)
    _assert_rounds_as_numpy(narrow32, np.concatenate([x32, np.nextafter(x32, np.float32(np.inf)),
                                                      np.nextafter(x32, np.float32(-np.inf))]))


@needs_numba
@pytest.mark.parametrize("route", ROUTES)
def test_float16_stores_on_every_binade_tie_and_neighbour(route: str) -> None:
    """Every sign and exponent with each tail of dropped bits that decides a rounding to half; random bits.

    float32: the low 13 mantissa bits are what rounding to float16 drops: 0, 1,
    just below, at and above the tie ``0x1000``, and all ones. float64: the same
    values, and the float64 neighbours of each, whose extra bits a rounding
    through float32 (to nearest) would lose.
    """
    _, narrow32, narrow64 = _float16_conversions(route)
    high = np.arange(1 << 19, dtype=np.uint32) << np.uint32(13)
    tails = np.array([0, 1, 0x0FFF, 0x1000, 0x1001, 0x1FFF], np.uint32)
    patterns = (high[:, None] | tails[None, :]).ravel()
    rng = np.random.default_rng(11)
    noise = rng.integers(0, 1 << 32, 1_000_000, dtype=np.uint64).astype(np.uint32)
    patterns = np.concatenate([patterns, noise])
    x32 = patterns.view(np.float32)
    _assert_rounds_as_numpy(narrow32, x32)
    with np.errstate(invalid="ignore"):  # signalling NaN patterns
        x64 = x32.astype(np.float64)
    neighbours = np.concatenate([x64, np.nextafter(x64, np.inf), np.nextafter(x64, -np.inf)])
    _assert_rounds_as_numpy(narrow64, neighbours)


HALF_CASES = [(n, s) for n, p in sorted(PROFILES.items()) if "float16" in p.dtypes for s in p.prox_steps]


@needs_numba
@pytest.mark.parametrize(("name", "step"), HALF_CASES)
def test_float16_loops_on_every_half(name: str, step: str) -> None:
    """Every float16 pattern as var, as accum and as grad (in three pairings), through both half loops."""
    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    for shift_a, shift_g in ((0, 0), (12_345, 40_000), (31_744, 1)):  # 31_744: a's run through inf and NaN
        inputs = (every.copy(), np.roll(every, shift_a), np.roll(every, shift_g))
        for l1, l2 in ((0.0, 0.0), (0.05, 0.1)):
            want = run_dense(name, "float16", step, inputs, l1, l2, "reference")
            assert_same_bits(run_dense(name, "float16", step, inputs, l1, l2, "numba", threads=1), want)
            w, a = inputs[0].copy(), inputs[1].copy()
            run_dense(name, "float16", step, (w, a, inputs[2]), l1, l2, "numba", threads=1, out=(w, a))
            assert_same_bits((w, a), want, (name, step, shift_a, shift_g, l1, l2))


GENERIC_CHILD = """
import numpy as np
from proxadagrad_ref import apply_proximal_adagrad, engine_info

assert engine_info()["half_conversions"] == "portable", engine_info()
every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
w, g = every, every[::-1].copy()
a = np.abs(every[np.random.default_rng(0).permutation(every.size)])
for emulate in (None, "mindspore"):
    want = apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, emulate=emulate, engine="reference")
    got = apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, emulate=emulate, engine="numba")
    for x, y in zip(got, want):  # every bit; a NaN matches any NaN (the project's rule)
        same = (x.view(np.uint16) == y.view(np.uint16)) | (np.isnan(x) & np.isnan(y))
        assert same.all(), (emulate, int((~same).sum()))
print("portable")
"""


@needs_numba
def test_generic_target_cpu_takes_the_portable_half_route(tmp_path: Path) -> None:
    """NUMBA_CPU_NAME=generic compiles for an x86-64 without F16C: the half loops must not use it.

    numba sets CPU_FEATURES to "" there; reading "" as "not set" took the host's F16C, and
    LLVM then called ``__extendhfsf2``, which numba does not link: the process aborted.
    """
    env = {**os.environ, "NUMBA_CPU_NAME": "generic", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-c", GENERIC_CHILD], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "portable"
