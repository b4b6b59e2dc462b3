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
"""

from __future__ import annotations

from typing import Any

import array_api_compat

from . import _fparith

__all__ = [
    "OPS",
    "absolute",
    "as_float32",
    "as_float64",
    "flush",
    "fma",
    "maximum",
    "namespace",
    "positive_part",
    "sign",
    "signum",
    "sqrt",
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
    "maximum": maximum,
    "positive_part": positive_part,
    "fma": fma,
    "flush": flush,
}
