"""The exact FMA and flush-to-zero building blocks against exact rational arithmetic."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxadagrad_ref.backends.compat import namespace
from proxadagrad_ref.numerics.fparith import flush_subnormals, fma


def round_fraction(value: Fraction, dtype: type[np.floating]) -> np.floating:
    """Correctly round an exact rational to `dtype` (round half to even), via neighbours."""
    if value < 0:  # round-to-nearest-even is symmetric
        return -round_fraction(-value, dtype)
    info = np.finfo(dtype)
    ulp_of_max = Fraction(2) ** (info.maxexp - info.nmant - 1)
    overflow = Fraction(float(info.max)) + ulp_of_max / 2
    if abs(value) >= overflow:  # round-to-nearest overflows to infinity at max + ulp/2
        return dtype(np.inf) if value > 0 else dtype(-np.inf)
    with np.errstate(over="ignore"):
        guess = dtype(float(value))  # float() is correctly rounded to float64, then to dtype: a near guess
    if np.isinf(guess):  # below the overflow threshold but rounded up by the guess
        guess = dtype(np.copysign(info.max, float(value)))
    below = guess if Fraction(float(guess)) <= value else np.nextafter(guess, dtype(-np.inf))
    above = np.nextafter(below, dtype(np.inf))
    if np.isinf(above):  # below is max and value is under the overflow threshold
        return below
    d_below = value - Fraction(float(below))
    d_above = Fraction(float(above)) - value
    if d_below < d_above:
        return below
    if d_above < d_below:
        return above
    below_bits = np.array(below).view(np.uint16 if dtype is np.float16 else np.uint32)
    return below if int(below_bits) % 2 == 0 else above


def exact_fma(a: np.floating, b: np.floating, c: np.floating) -> np.floating:
    dtype = type(a)
    value = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    return round_fraction(value, dtype)


def fma_scalar(a: np.floating, b: np.floating, c: np.floating) -> np.floating:
    arrays = [np.asarray([v]) for v in (a, b, c)]
    return fma(namespace(arrays[0]), *arrays)[0]  # type: ignore[no-any-return]


# Cases where rounding a*b + c first to float64 and then to float32 is wrong (double rounding).
DOUBLE_ROUNDING_CASES = [
    # a*b = 1 + 2**-24 exactly: a float32 midpoint; c pushes just above it.
    (np.float32(1 + 2**-12), np.float32(1 + 2**-12), np.float32(-(2**-24) + 2**-60)),
    (np.float32(1 + 2**-12), np.float32(1 - 2**-12), np.float32(2**-24 + 2**-70)),
    (np.float32(3.0), np.float32(1 + 2**-23), np.float32(2**-60)),
    (np.float32(-(1 + 2**-12)), np.float32(1 + 2**-12), np.float32(2**-24 - 2**-60)),
]


@pytest.mark.parametrize("a,b,c", DOUBLE_ROUNDING_CASES)
def test_fma_breaks_double_rounding_ties(a: np.float32, b: np.float32, c: np.float32) -> None:
    assert fma_scalar(a, b, c) == exact_fma(a, b, c)


# a*b exactly on max + ulp(max)/2, the tie that rounds to infinity, from two exact factors:
# float32 (2**25 - 1) * 2**103 = (31 * 601) * (1801 * 2**103); float16 (2**12 - 1) * 2**4 = 63 * 1040.
OVERFLOW_TIES = [(np.float32, 31.0 * 601.0, 1801.0 * 2.0**103), (np.float16, 63.0, 1040.0)]


@pytest.mark.parametrize("dtype,a,b", OVERFLOW_TIES)
def test_fma_just_below_the_overflow_tie_stays_finite(dtype: type[np.floating], a: float, b: float) -> None:
    info = np.finfo(dtype)
    tiny = dtype(float(info.smallest_subnormal))
    for sign in (1.0, -1.0):
        x, y, below = dtype(sign * a), dtype(b), dtype(-sign) * tiny
        with np.errstate(over="ignore"):  # rounding the tie itself overflows, as it should
            assert fma_scalar(x, y, below) == exact_fma(x, y, below) == sign * info.max
            assert fma_scalar(x, y, dtype(0)) == exact_fma(x, y, dtype(0)) == sign * np.inf


def test_naive_float64_route_is_wrong_on_a_tie() -> None:
    # The reason the tie fix exists: float32(float64(a)*b + c) misses here.
    a, b, c = np.float32(1 + 2**-12), np.float32(1 + 2**-12), np.float32(2**-60)
    naive = np.float32(np.float64(a) * np.float64(b) + np.float64(c))
    assert naive != exact_fma(a, b, c)
    assert fma_scalar(a, b, c) == exact_fma(a, b, c)


def finite(dtype: type[np.floating]) -> st.SearchStrategy[np.floating]:
    width = 16 if dtype is np.float16 else 32
    return st.floats(allow_nan=False, allow_infinity=False, width=width).map(dtype)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@given(data=st.data())
def test_fma_is_correctly_rounded(dtype: type[np.floating], data: st.DataObject) -> None:
    a, b, c = (data.draw(finite(dtype)) for _ in range(3))
    with np.errstate(over="ignore", invalid="ignore"):
        expected = exact_fma(a, b, c)
        got = fma_scalar(a, b, c)
    if np.isinf(expected):
        assert got == expected
    else:
        assert np.array(got).tobytes() == np.array(expected).tobytes() or (got == 0 and expected == 0)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_fma_near_ties_random(dtype: type[np.floating]) -> None:
    # Products that land on or next to a target midpoint, plus tiny addends of both signs.
    rng = np.random.default_rng(7)
    info = np.finfo(dtype)
    n = 4000
    a = (1 + rng.integers(1, 2**5, n) * 2.0 ** -(info.nmant // 2)).astype(dtype)
    b = (1 + rng.integers(1, 2**5, n) * 2.0 ** -(info.nmant // 2 + 1)).astype(dtype)
    c = (rng.choice([-1.0, 1.0], n) * 2.0 ** rng.integers(-40, -info.nmant, n)).astype(dtype)
    got = fma(namespace(a), a, b, c)
    for i in range(n):
        assert got[i] == exact_fma(a[i], b[i], c[i]), (a[i], b[i], c[i])


def test_fma_special_values() -> None:
    inf, nan = np.float32(np.inf), np.float32(np.nan)
    one, zero = np.float32(1), np.float32(0)
    with np.errstate(invalid="ignore"):
        assert np.isnan(fma_scalar(inf, zero, one))
        assert np.isnan(fma_scalar(inf, one, -inf))
        assert fma_scalar(inf, one, one) == inf
        assert np.isnan(fma_scalar(nan, one, one))
    assert np.signbit(fma_scalar(np.float32(-0.0), one, np.float32(-0.0)))


def test_flush_subnormals_keeps_sign() -> None:
    x = np.array([1e-45, -1e-45, 1.2e-38, -0.0, 3.0], np.float32)
    out = flush_subnormals(namespace(x), x)
    assert out.tolist() == [0.0, -0.0, x[2], -0.0, 3.0]
    assert np.signbit(out[1]) and not np.signbit(out[0])
