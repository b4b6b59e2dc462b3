"""The vocabulary profile formulas are written in: its one semantics table, and its meaning on arrays.

A profile formula (see :mod:`proxadagrad_ref.numerics.profiles`) is written
once, in a scalar style, with Python operators and the free names of
:data:`VOCABULARY` below. This module gives those names their array meaning,
for any array-API namespace, resolved from the arguments. An engine may give
the same names another meaning -- scalar functions for numba
(:mod:`proxadagrad_ref.engines.numba`), C++ functions
(:mod:`proxadagrad_ref.engines.ccode`) -- and run the very same function
(:mod:`proxadagrad_ref.numerics.interpret`), so each formula lives in exactly
one place. Every meaning honours the table below, bit for bit (NaN sign and
payload aside); the engines' modules do not restate it.

Semantics every implementation of this vocabulary must honour (IEEE 754):

``sqrt(x)``          correctly rounded square root.
``absolute(x)``      ``|x|``.
``sign(x)``          -1, +1, or ``x`` itself for zeros and NaN.
``signum(x)``        -1, +1, or ``+0`` for zeros and NaN (two comparisons, as SIMD code does).
``maximum(x, y)``    larger of the two; NaN if either is NaN.
``positive_part(x)`` ``x`` if ``x > 0`` else ``+0`` (so NaN gives 0, as SIMD max does).
``fma(a, b, c)``     ``a*b + c`` rounded once (float16/float32 operands).
``flush(x)``         subnormal ``x`` replaced by a zero of the same sign.
``as_float32(x)``    ``x`` rounded to float32 (C's ``(float)x``).
``as_float64(x)``    ``x`` widened to float64 (C's ``(double)x``; exact).
``as_type_of(x, y)``  ``x`` rounded to the dtype of ``y``.
``std_max0(x)``      ``x`` unless ``x < 0``, then ``+0``: C++ ``std::max(x, 0)`` (NaN and -0 kept).
``rsqrt_eigen(x)``   Eigen's packet reciprocal square root as TensorFlow's CPU build runs it,
                     with flush-to-zero: float32 ``vrsqrtps`` estimate (AMD Zen 3 table,
                     ``data/rsqrtps_amd_zen3.npy``) refined by one unfused Newton step;
                     float64 ``1/sqrt(x)``.
``rsqrt_scalar(x)``  Eigen's scalar reciprocal square root, ``1/sqrt(x)`` (two roundings), flushed.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import as_file, files
from typing import Any

import numpy as np

from ..backends.compat import device, namespace
from . import fparith

__all__ = [
    "OPS",
    "VOCABULARY",
    "Op",
    "absolute",
    "as_float32",
    "as_float64",
    "as_type_of",
    "flush",
    "fma",
    "maximum",
    "positive_part",
    "rsqrt_eigen",
    "rsqrt_estimate",
    "rsqrt_table",
    "sign",
    "signum",
    "sqrt",
    "std_max0",
]

Array = Any
Namespace = Any


def sqrt(x: Array) -> Array:
    """Correctly rounded square root."""
    return namespace(x).sqrt(x)


def absolute(x: Array) -> Array:
    """Absolute value."""
    return namespace(x).abs(x)


def sign(x: Array) -> Array:
    """-1 or +1 by sign; zeros and NaN map to themselves."""
    return namespace(x).sign(x)


def signum(x: Array) -> Array:
    """+1 where ``x > 0``, -1 where ``x < 0``, else +0 (zeros and NaN)."""
    xp = namespace(x)
    zero, one = xp.zeros_like(x), xp.ones_like(x)
    return xp.where(x > 0, one, zero) - xp.where(x < 0, one, zero)


def as_float32(x: Array) -> Array:
    """Round to float32."""
    return namespace(x).astype(x, namespace(x).float32)


def as_float64(x: Array) -> Array:
    """Widen to float64."""
    return namespace(x).astype(x, namespace(x).float64)


def as_type_of(x: Array, y: Array) -> Array:
    """Round `x` to the dtype of `y`."""
    return namespace(x).astype(x, y.dtype)


def std_max0(x: Array) -> Array:
    """``x`` unless ``x < 0`` (then ``+0``): NaN and ``-0`` pass through, as ``std::max(x, 0)``."""
    xp = namespace(x)
    return xp.where(x < 0, xp.zeros_like(x), x)


_RSQRT_TABLE: dict[int, Any] = {}


def rsqrt_table() -> Any:
    """The vrsqrtps table as float64 values, shape (8192,): parity-major, then top 12 bits."""
    if not _RSQRT_TABLE:
        path = files("proxadagrad_ref") / "data" / "rsqrtps_amd_zen3.npy"
        with as_file(path) as real:
            bits = np.load(real, allow_pickle=False).astype(np.uint32)
        _RSQRT_TABLE[0] = bits.reshape(-1).view(np.float32).astype(np.float64)
    return _RSQRT_TABLE[0]


def rsqrt_estimate(x: Array) -> Array:
    """The float32 ``vrsqrtps`` estimate (AMD Zen 3), from standard operations only.

    For a positive normal ``x = 2**e * m`` (``1 <= m < 2``) the estimate is the
    table entry for ``(e mod 2, floor((m - 1) * 4096))`` times ``2**-((e - e mod 2) / 2)``;
    zeros and subnormals give infinities of their sign, ``+inf`` gives ``+0``,
    negative values and NaN give NaN. The exponent comes from ``log2`` with an
    exact correction by comparing against powers of two.
    """
    xp = namespace(x)
    f32 = xp.finfo(xp.float32)
    x64 = xp.astype(x, xp.float64)
    normal = (x64 >= f32.smallest_normal) & (x64 <= f32.max)
    safe = xp.where(normal, x64, xp.ones_like(x64))
    e = xp.floor(xp.log2(safe))
    e = xp.where(xp.pow(2.0, e) > safe, e - 1, e)
    e = xp.where(xp.pow(2.0, e + 1) <= safe, e + 1, e)
    top = xp.floor((safe / xp.pow(2.0, e) - 1.0) * 4096.0)
    parity = e - 2.0 * xp.floor(e / 2.0)
    table = xp.asarray(rsqrt_table(), device=device(x))
    index = xp.reshape(xp.astype(parity * 4096.0 + top, xp.int64), (-1,))  # take wants 1-D indices
    entry = xp.reshape(xp.take(table, index), x.shape)
    estimate = xp.astype(entry * xp.pow(2.0, -(e - parity) / 2.0), xp.float32)
    inf = xp.full_like(x, xp.inf)
    special = xp.where(xp.abs(x) < f32.smallest_normal, xp.copysign(inf, x), xp.full_like(x, xp.nan))
    special = xp.where(x == xp.inf, xp.zeros_like(x), special)
    return xp.where(normal, estimate, special)


def rsqrt_eigen(x: Array) -> Array:
    """Eigen's packet ``rsqrt`` under flush-to-zero (TensorFlow CPU build: AVX, no FMA)."""
    xp = namespace(x)
    x = flush(x)
    if x.dtype == xp.float64:
        return rsqrt_scalar(x)
    y0 = rsqrt_estimate(x)
    # One Newton step, every product and sum rounded (and flushed) on its own:
    r2 = flush(x * y0)
    half = flush(y0 * -0.5)
    h = flush(flush(r2 * y0) - 1.0)
    y1 = flush(flush(half * h) + y0)
    return xp.where(xp.isnan(y1), y0, y1)  # 0 -> inf, inf -> 0 and NaN keep the estimate


def rsqrt_scalar(x: Array) -> Array:
    """Eigen's scalar ``rsqrt``: ``1 / sqrt(x)``, two roundings, under flush-to-zero."""
    xp = namespace(x)
    return flush(1.0 / flush(xp.sqrt(flush(x))))


def maximum(x: Array, y: Array) -> Array:
    """IEEE maximum that propagates NaN (array API ``maximum``)."""
    xp = namespace(x, y)
    return xp.maximum(x, xp.asarray(y, dtype=x.dtype) if isinstance(y, (int, float)) else y)


def positive_part(x: Array) -> Array:
    """``x`` where ``x > 0``, else ``+0`` (NaN gives ``+0``)."""
    xp = namespace(x)
    return xp.where(x > 0, x, xp.zeros_like(x))


def fma(a: Array, b: Array, c: Array) -> Array:
    """``a*b + c`` with one rounding (float16/float32 operands)."""
    xp = namespace(a, b, c)
    dtype = next(v.dtype for v in (a, b, c) if hasattr(v, "dtype"))
    operands = [v if hasattr(v, "dtype") else xp.asarray(v, dtype=dtype) for v in (a, b, c)]
    a, b, c = xp.broadcast_arrays(*operands)
    return fparith.fma(xp, a, b, c)


def flush(x: Array) -> Array:
    """Flush subnormals to a zero of the same sign."""
    return fparith.flush_subnormals(namespace(x), x)


@dataclass(frozen=True)
class Op:
    """One name of the vocabulary and its meaning on arrays.

    Attributes
    ----------
    name : str
        The free name a formula calls.
    array : callable
        Its meaning on arrays of any array-API namespace.
    ufunc : numpy.ufunc or None
        The NumPy ufunc that *is* `array` on NumPy arrays (same call, same
        bits), so an engine may run it with ``out=``; None when the array
        meaning is several operations.

    """

    name: str
    array: Any
    ufunc: Any = None


VOCABULARY: dict[str, Op] = {
    op.name: op
    for op in (
        Op("sqrt", sqrt, np.sqrt),
        Op("absolute", absolute, np.absolute),
        Op("sign", sign, np.sign),
        Op("signum", signum),
        Op("as_float32", as_float32),
        Op("as_float64", as_float64),
        Op("as_type_of", as_type_of),
        Op("std_max0", std_max0),
        Op("rsqrt_eigen", rsqrt_eigen),
        Op("rsqrt_scalar", rsqrt_scalar),
        Op("maximum", maximum, np.maximum),
        Op("positive_part", positive_part),
        Op("fma", fma),
        Op("flush", flush),
    )
}
"""The vocabulary: every free name a formula may call (the table of the module notes)."""

OPS: dict[str, Any] = {name: op.array for name, op in VOCABULARY.items()}
"""The array meaning of each name (what a formula's globals bind)."""
