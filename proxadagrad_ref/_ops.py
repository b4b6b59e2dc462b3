"""The vocabulary profile formulas are written in, implemented on arrays.

A profile formula (see :mod:`proxadagrad_ref._profiles`) is written once, in a
scalar style, with Python operators and the free names below: ``sqrt``,
``absolute``, ``sign``, ``maximum``, ``positive_part``, ``fma``,
``flush``. This module gives those names their array meaning, for any
array-API namespace, resolved from the arguments. A compiled backend may give
the same names a scalar meaning and compile the very same function (see
:mod:`proxadagrad_ref._fast`), so each formula lives in exactly one place.

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

from importlib.resources import as_file, files
from typing import Any

import array_api_compat

from . import _fparith

__all__ = [
    "OPS",
    "absolute",
    "as_float32",
    "as_float64",
    "as_type_of",
    "flush",
    "fma",
    "maximum",
    "namespace",
    "positive_part",
    "rsqrt_eigen",
    "rsqrt_estimate",
    "sign",
    "signum",
    "sqrt",
    "std_max0",
]

Array = Any
Namespace = Any

_NAMESPACES: dict[type, Namespace] = {}


def namespace(*xs: Array) -> Namespace:
    """The array namespace of the first array among `xs` (cached per array type)."""
    for x in xs:
        kind = type(x)
        if kind in (int, float):
            continue
        found = _NAMESPACES.get(kind)
        if found is None:
            found = _NAMESPACES[kind] = array_api_compat.array_namespace(x)
        return found
    raise TypeError("at least one argument must be an array")


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


def _rsqrt_table_values() -> Any:
    """The vrsqrtps table as float64 values, shape (8192,): parity-major, then top 12 bits."""
    import numpy as np

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
    table = xp.asarray(_rsqrt_table_values(), device=array_api_compat.device(x))
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
    return _fparith.fma(xp, a, b, c)


def flush(x: Array) -> Array:
    """Flush subnormals to a zero of the same sign."""
    return _fparith.flush_subnormals(namespace(x), x)


OPS: dict[str, Any] = {
    "sqrt": sqrt,
    "absolute": absolute,
    "sign": sign,
    "signum": signum,
    "as_float32": as_float32,
    "as_float64": as_float64,
    "as_type_of": as_type_of,
    "std_max0": std_max0,
    "rsqrt_eigen": rsqrt_eigen,
    "rsqrt_scalar": rsqrt_scalar,
    "maximum": maximum,
    "positive_part": positive_part,
    "fma": fma,
    "flush": flush,
}
