"""C++ source of a profile formula, for fused elementwise kernels (CuPy), generated from the formula itself.

The formula is run once on symbolic stand-ins, as the chunked NumPy engine
records it (:mod:`proxadagrad_ref._fast`): each operation the formula makes
becomes one C++ statement with an explicit type, ``float`` or ``double``.
Branches on hyper-parameters (``if l1 > 0``) are taken with their real values,
so a body is specialised to them; a branch on an array value raises
:class:`Untraceable`. Nothing of a formula is written a second time.

What makes the C++ give NumPy's bits, element for element:

* every statement is one IEEE operation of the formula, rounded to its type
  (``float`` for float32, ``double`` for float64: the types NumPy computes in),
  with mixed operands promoted as NumPy promotes them (to ``double``) and a
  Python literal converted to the other operand's type (NEP 50's weak scalars);
* the vocabulary (``sqrt``, ``fma``, ``maximum``, ...) is defined in
  :data:`PREAMBLE` with the NumPy semantics documented in :mod:`._numba_ops`
  (NaN and signed-zero rules included); ``fma`` is the C library's
  correctly rounded ``fma``/``fmaf``;
* the compiler must not contract ``a*b + c`` into an FMA nor relax IEEE
  division and square root: g++ ``-ffp-contract=off``, NVRTC ``--fmad=false``
  (its ``-prec-div`` and ``-prec-sqrt`` are on unless fast math is asked for).

``tests/test_ccode.py`` compiles the generated body with g++ and compares its
bits with the reference path, for every profile formula it can express (not
TensorFlow's: its table-driven rsqrt has no C++ form here).
"""

from __future__ import annotations

import types as pytypes
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _ops

__all__ = ["PREAMBLE", "Untraceable", "c_body", "expressible", "rows_operation"]

Formula = Any

_C_TYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}

PREAMBLE = r"""
#ifndef PA_FN
#define PA_FN static inline
#endif
PA_FN float pa_sqrt(float x) { return sqrtf(x); }
PA_FN double pa_sqrt(double x) { return sqrt(x); }
PA_FN float pa_absolute(float x) { return fabsf(x); }
PA_FN double pa_absolute(double x) { return fabs(x); }
PA_FN float pa_fma(float a, float b, float c) { return fmaf(a, b, c); }
PA_FN double pa_fma(double a, double b, double c) { return fma(a, b, c); }
template <typename T> PA_FN T pa_sign(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : (x == T(0) ? T(0) : x));
}
template <typename T> PA_FN T pa_maximum(T x, T y) {
  return x != x ? x : (y != y ? y : (x > y ? x : y));
}
template <typename T> PA_FN T pa_positive_part(T x) { return x > T(0) ? x : T(0); }
template <typename T> PA_FN T pa_signum(T x) {
  return (x > T(0) ? T(1) : T(0)) - (x < T(0) ? T(1) : T(0));
}
template <typename T> PA_FN T pa_std_max0(T x) { return x < T(0) ? T(0) : x; }
PA_FN float pa_flush(float x) { return fabsf(x) < 1.17549435082228750797e-38f ? copysignf(0.0f, x) : x; }
PA_FN double pa_flush(double x) { return fabs(x) < 2.22507385850720138309e-308 ? copysign(0.0, x) : x; }
"""
"""Definitions of the formula vocabulary in C++ (host and, with ``PA_FN`` defined, device code)."""

_CALLS = {  # vocabulary op -> C++ function taking operands of one type, result of that type
    "sqrt": "pa_sqrt",
    "absolute": "pa_absolute",
    "fma": "pa_fma",
    "sign": "pa_sign",
    "maximum": "pa_maximum",
    "positive_part": "pa_positive_part",
    "signum": "pa_signum",
    "std_max0": "pa_std_max0",
    "flush": "pa_flush",
}
_CASTS: dict[str, np.dtype[Any]] = {"as_float32": np.dtype(np.float32), "as_float64": np.dtype(np.float64)}


class Untraceable(Exception):
    """The formula does something the C++ body can't express (an unknown op, an array branch)."""


def expressible(formula: Formula) -> bool:
    """True when every vocabulary op `formula` names has a C++ form here."""
    used = {name for name in formula.__code__.co_names if name in _ops.OPS}
    return used <= set(_CALLS) | set(_CASTS) | {"as_type_of"}


def _literal(value: float, dtype: np.dtype[Any]) -> str:
    """`value` converted to `dtype` (round to nearest, as NumPy converts a weak Python scalar), exactly."""
    with np.errstate(over="ignore"):
        x = float(dtype.type(value))
    if x != x or x in (float("inf"), float("-inf")):
        raise Untraceable(f"the literal {value!r} is not finite in {dtype}")
    return f"(({_C_TYPE[dtype]}){x.hex()})"


@dataclass
class _Trace:
    lines: list[str] = field(default_factory=list)
    count: int = 0

    def emit(self, dtype: np.dtype[Any], expression: str) -> _Value:
        name = f"v{self.count}"
        self.count += 1
        self.lines.append(f"const {_C_TYPE[dtype]} {name} = {expression};")
        return _Value(self, name, dtype, None)


class _Value:
    """A value of the formula: a C++ name and its dtype; hyper-parameters also carry their real value."""

    __slots__ = ("dtype", "name", "trace", "value")

    def __init__(self, trace: _Trace, name: str, dtype: np.dtype[Any], value: Any) -> None:
        self.trace, self.name, self.dtype, self.value = trace, name, dtype, value

    def __bool__(self) -> bool:
        raise Untraceable("the formula branches on an array value")

    def _binary(self, other: Any, op: str, reflected: bool = False) -> _Value:
        x, y = _operands(self, other)
        dtype = np.promote_types(x[1], y[1])
        left, right = (y, x) if reflected else (x, y)
        value = None
        if self.value is not None and (not isinstance(other, _Value) or other.value is not None):
            pair = (other, self) if reflected else (self, other)
            value = _PY_OPS[op](*(v.value if isinstance(v, _Value) else v for v in pair))
        out = self.trace.emit(dtype, f"{_cast(left, dtype)} {op} {_cast(right, dtype)}")
        out.value = value
        return out

    def __add__(self, o: Any) -> _Value:
        return self._binary(o, "+")

    def __radd__(self, o: Any) -> _Value:
        return self._binary(o, "+", True)

    def __sub__(self, o: Any) -> _Value:
        return self._binary(o, "-")

    def __rsub__(self, o: Any) -> _Value:
        return self._binary(o, "-", True)

    def __mul__(self, o: Any) -> _Value:
        return self._binary(o, "*")

    def __rmul__(self, o: Any) -> _Value:
        return self._binary(o, "*", True)

    def __truediv__(self, o: Any) -> _Value:
        return self._binary(o, "/")

    def __rtruediv__(self, o: Any) -> _Value:
        return self._binary(o, "/", True)

    def __neg__(self) -> _Value:
        out = self.trace.emit(self.dtype, f"-{self.name}")
        out.value = None if self.value is None else -self.value
        return out

    def _compare(self, other: Any, op: str) -> bool:
        if self.value is None or (isinstance(other, _Value) and other.value is None):
            raise Untraceable("the formula compares array values")
        return bool(_PY_OPS[op](self.value, other.value if isinstance(other, _Value) else other))

    def __gt__(self, o: Any) -> bool:
        return self._compare(o, ">")

    def __lt__(self, o: Any) -> bool:
        return self._compare(o, "<")

    def __ge__(self, o: Any) -> bool:
        return self._compare(o, ">=")

    def __le__(self, o: Any) -> bool:
        return self._compare(o, "<=")

    __hash__ = None  # type: ignore[assignment]


_PY_OPS = {
    "+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y, "/": lambda x, y: x / y,
    ">": lambda x, y: x > y, "<": lambda x, y: x < y, ">=": lambda x, y: x >= y, "<=": lambda x, y: x <= y,
}


def _operands(x: Any, y: Any) -> tuple[tuple[str, np.dtype[Any]], tuple[str, np.dtype[Any]]]:
    """C++ text and dtype of two operands; a Python number takes the other operand's dtype."""
    if not isinstance(x, _Value):
        x, y = y, x
        (b, a) = _operands(x, y)
        return a, b
    if isinstance(y, _Value):
        return (x.name, x.dtype), (y.name, y.dtype)
    if isinstance(y, (bool, int, float)):
        return (x.name, x.dtype), (_literal(float(y), x.dtype), x.dtype)
    raise Untraceable(f"an operand of type {type(y).__name__}")


def _cast(operand: tuple[str, np.dtype[Any]], dtype: np.dtype[Any]) -> str:
    text, own = operand
    return text if own == dtype else f"(({_C_TYPE[dtype]}){text})"


def _call(name: str) -> Any:
    def op(*args: Any) -> Any:
        values = [a for a in args if isinstance(a, _Value)]
        if not values:
            return _ops.OPS[name](*args)
        trace = values[0].trace
        if name in _CASTS:
            target = _CASTS[name]
            return trace.emit(target, _cast((values[0].name, values[0].dtype), target))
        if name == "as_type_of":
            x, y = args
            return trace.emit(y.dtype, _cast((x.name, x.dtype), y.dtype))
        dtype = values[0].dtype
        for v in values[1:]:
            if v.dtype != dtype:
                raise Untraceable(f"{name} of mixed types")
        texts = [_cast((a.name, a.dtype), dtype) if isinstance(a, _Value) else _literal(float(a), dtype)
                 for a in args]
        return trace.emit(dtype, f"{_CALLS[name]}({', '.join(texts)})")

    op.__name__ = name
    return op


_TRACING_OPS = {name: _call(name) for name in set(_CALLS) | set(_CASTS) | {"as_type_of"}}


def c_body(formula: Formula, compute: Any, hyper: tuple[Any, Any, Any], adaptive: bool) -> str:
    """C++ statements computing ``w_out`` and ``a_out`` from ``w, a, g, lr, l1, l2`` for one element.

    ``w, a, g`` (the parameter dtype) and ``lr, l1, l2`` are converted to the
    `compute` dtype first, as ``Profile.evaluate`` converts them; the results
    are assigned to ``w_out``/``a_out``, whose type rounds them once (C++
    conversion, round to nearest, like ``astype``). `hyper` holds the real
    values of ``lr, l1, l2`` (the formula's branches on them are resolved here).
    """
    if not expressible(formula):
        raise Untraceable(f"{formula.__name__} uses an operation without a C++ form")
    dtype = np.dtype(compute)
    if dtype not in _C_TYPE:
        raise Untraceable(f"compute dtype {dtype} has no C++ type here")
    trace = _Trace()
    names = ("w", "a", "g", "lr", "l1", "l2")
    inputs = []
    for k, name in enumerate(names):
        value = None if k < 3 else dtype.type(hyper[k - 3])
        inputs.append(trace.emit(dtype, f"({_C_TYPE[dtype]}){name}"))
        inputs[-1].value = value
    tracing = dict(formula.__globals__)
    tracing.update(_TRACING_OPS)
    fn = pytypes.FunctionType(
        formula.__code__, tracing, formula.__name__, formula.__defaults__, formula.__closure__
    )
    with np.errstate(all="ignore"):
        w_new, a_new = fn(*inputs, adaptive)
    if not (isinstance(w_new, _Value) and isinstance(a_new, _Value)):
        raise Untraceable("a result is not an array value")
    return "\n".join([*trace.lines, f"w_out = {w_new.name};", f"a_out = {a_new.name};"])


def rows_operation(body: str, c_type: str) -> str:
    """Statements applying `body` to element ``i`` of the touched rows, in place in the table.

    Element ``i`` of the ``(len(idx), inner)`` gradient rows is column
    ``i % inner`` of table row ``idx[i / inner]``: the statements read ``var``
    and ``accum`` there, run `body` (from :func:`c_body`, which reads ``w, a,
    g``) and write the results back. Each element is read before it is written
    and the rows are distinct, so one thread per element needs no ordering.
    Names used: ``i``, ``inner``, ``idx``, ``g``, ``var``, ``accum`` and the
    hyper-parameters, all provided by the caller (a CuPy ElementwiseKernel, or
    the C++ loop of the tests).
    """
    return "\n".join([
        "const long long p_ = (long long)idx[i / inner] * inner + i % inner;",
        f"const {c_type} w = var[p_];",
        f"const {c_type} a = accum[p_];",
        f"{c_type} w_out, a_out;",
        "{",
        body,
        "}",
        "var[p_] = w_out;",
        "accum[p_] = a_out;",
    ])
