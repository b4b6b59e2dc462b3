"""C++ source of a profile formula, for fused elementwise kernels (CuPy), generated from the formula itself.

The formula is traced once (:func:`proxadagrad_ref.numerics.interpret.trace`,
the hyper-parameters traced too): each operation it makes becomes one C++
statement with the type NumPy gives its result, ``float`` or ``double``.
Branches on hyper-parameters (``if l1 > 0``) are taken with their real values,
so a body is specialised to them; a branch on an array value raises
:class:`~proxadagrad_ref.numerics.interpret.Untraceable`. Nothing of a
formula is written a second time.

What makes the C++ give NumPy's bits, element for element:

* every statement is one IEEE operation of the formula, rounded to its type
  (``float`` for float32, ``double`` for float64), its operands converted to
  that type first, as NumPy converts them (a Python literal is converted to
  the type of the operation: NEP 50's weak scalars);
* the vocabulary (``sqrt``, ``fma``, ``maximum``, ...) is defined in
  :data:`PREAMBLE` with the meanings of :mod:`proxadagrad_ref.numerics.ops`
  (NaN and signed-zero rules included); ``fma`` is the C library's correctly
  rounded ``fma``/``fmaf``;
* the compiler must not contract ``a*b + c`` into an FMA nor relax IEEE
  division and square root: g++ ``-ffp-contract=off``, NVRTC ``--fmad=false``
  (its ``-prec-div`` and ``-prec-sqrt`` are on unless fast math is asked for).

``tests/engines/test_ccode.py`` compiles the generated body with g++ and
compares its bits with the reference engine, for every profile formula it can
express (not TensorFlow's: its table-driven rsqrt has no C++ form here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..numerics.interpret import Step, Traced, Untraceable, trace
from ..numerics.ops import VOCABULARY
from ..numerics.profiles import Formula

__all__ = ["PREAMBLE", "Untraceable", "c_body", "expressible", "rows_operation"]

_C_TYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}

_DEFINITIONS = {
    "sqrt": "PA_FN float pa_sqrt(float x) { return sqrtf(x); }\n"
    "PA_FN double pa_sqrt(double x) { return sqrt(x); }",
    "absolute": "PA_FN float pa_absolute(float x) { return fabsf(x); }\n"
    "PA_FN double pa_absolute(double x) { return fabs(x); }",
    "fma": "PA_FN float pa_fma(float a, float b, float c) { return fmaf(a, b, c); }\n"
    "PA_FN double pa_fma(double a, double b, double c) { return fma(a, b, c); }",
    "sign": "template <typename T> PA_FN T pa_sign(T x) {\n"
    "  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : (x == T(0) ? T(0) : x));\n}",
    "maximum": "template <typename T> PA_FN T pa_maximum(T x, T y) {\n"
    "  return x != x ? x : (y != y ? y : (x > y ? x : y));\n}",
    "positive_part": "template <typename T> PA_FN T pa_positive_part(T x) { return x > T(0) ? x : T(0); }",
    "signum": "template <typename T> PA_FN T pa_signum(T x) {\n"
    "  return (x > T(0) ? T(1) : T(0)) - (x < T(0) ? T(1) : T(0));\n}",
    "std_max0": "template <typename T> PA_FN T pa_std_max0(T x) { return x < T(0) ? T(0) : x; }",
    "flush": "PA_FN float pa_flush(float x) { return fabsf(x) < 1.17549435082228750797e-38f ? "
    "copysignf(0.0f, x) : x; }\n"
    "PA_FN double pa_flush(double x) { return fabs(x) < 2.22507385850720138309e-308 ? "
    "copysign(0.0, x) : x; }",
}
"""The C++ meaning of each vocabulary name that has one: functions ``pa_<name>`` of one type."""

_CASTS = ("as_float32", "as_float64", "as_type_of")
"""Vocabulary names that are C++ conversions (to the dtype of their result)."""

_INFIX = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/"}

PREAMBLE = "\n".join(
    ["", "#ifndef PA_FN", "#define PA_FN static inline", "#endif", *_DEFINITIONS.values(), ""]
)
"""Definitions of the formula vocabulary in C++ (host and, with ``PA_FN`` defined, device code)."""


def expressible(formula: Formula) -> bool:
    """True when every vocabulary name `formula` uses has a C++ form here."""
    used = {name for name in formula.__code__.co_names if name in VOCABULARY}
    return used <= set(_DEFINITIONS) | set(_CASTS)


def _literal(value: float, dtype: np.dtype[Any]) -> str:
    """`value` converted to `dtype` (round to nearest, as NumPy converts a weak Python scalar), exactly."""
    with np.errstate(over="ignore"):
        x = float(dtype.type(value))
    if x != x or x in (float("inf"), float("-inf")):
        raise Untraceable(f"the literal {value!r} is not finite in {dtype}")
    return f"(({_C_TYPE[dtype]}){x.hex()})"


def _c_type(dtype: np.dtype[Any]) -> str:
    if dtype not in _C_TYPE:
        raise Untraceable(f"a value of dtype {dtype} has no C++ type here")
    return _C_TYPE[dtype]


def _operand(x: Any, dtype: np.dtype[Any]) -> str:
    """C++ text of operand `x` converted to `dtype`."""
    if isinstance(x, Traced):
        name = f"v{x.index}"
        return name if x.dtype == dtype else f"(({_c_type(dtype)}){name})"
    if isinstance(x, (bool, int, float)):
        return _literal(float(x), dtype)
    raise Untraceable(f"an operand of type {type(x).__name__}")


def _expression(step: Step) -> str:
    dtype = step.value.dtype
    args = step.args
    if step.op in _INFIX:
        return f"{_operand(args[0], dtype)} {_INFIX[step.op]} {_operand(args[1], dtype)}"
    if step.op == "negative":
        return f"-{_operand(args[0], dtype)}"
    if step.op in _CASTS:
        return _operand(args[0], dtype)
    if step.op not in _DEFINITIONS:
        raise Untraceable(f"{step.op} has no C++ form")
    if any(isinstance(a, Traced) and a.dtype != dtype for a in args):
        raise Untraceable(f"{step.op} of mixed types")
    return f"pa_{step.op}({', '.join(_operand(a, dtype) for a in args)})"


def _needed(outputs: tuple[Traced, Traced], steps: list[Step], first: int) -> set[int]:
    """Positions of the steps the outputs depend on (branch conditions are not among them)."""
    needed: set[int] = set()
    stack = [x.index for x in outputs]
    while stack:
        i = stack.pop()
        if i < first or i in needed:
            continue
        needed.add(i)
        stack += [a.index for a in steps[i - first].args if isinstance(a, Traced)]
    return needed


def c_body(formula: Formula, compute: Any, hyper: tuple[Any, Any, Any], adaptive: bool) -> str:
    """C++ statements computing ``w_out`` and ``a_out`` from ``w, a, g, lr, l1, l2`` for one element.

    ``w, a, g`` (the parameter dtype) and ``lr, l1, l2`` are converted to the
    `compute` dtype first, as the reference engine converts them; the results
    are assigned to ``w_out``/``a_out``, whose type rounds them once (C++
    conversion, round to nearest, like ``astype``). `hyper` holds the real
    values of ``lr, l1, l2`` (the formula's branches on them are resolved here).
    """
    if not expressible(formula):
        raise Untraceable(f"{formula.__name__} uses an operation without a C++ form")
    dtype = np.dtype(compute)
    c_type = _c_type(dtype)
    samples = [np.ones(1, dtype) for _ in range(3)]
    traced = trace(formula, samples, [np.asarray(h, dtype) for h in hyper], adaptive, trace_hyper=True)
    w_new, a_new = traced.outputs
    if not (isinstance(w_new, Traced) and isinstance(a_new, Traced)):
        raise Untraceable("a result is not an array value")
    lines = [
        f"const {c_type} v{k} = ({c_type}){name};" for k, name in enumerate(("w", "a", "g", "lr", "l1", "l2"))
    ]
    first = len(traced.leaves)
    for i in sorted(_needed((w_new, a_new), traced.steps, first)):
        step = traced.steps[i - first]
        lines.append(f"const {_c_type(step.value.dtype)} v{i} = {_expression(step)};")
    return "\n".join([*lines, f"w_out = v{w_new.index};", f"a_out = v{a_new.index};"])


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
    return "\n".join(
        [
            "const long long p_ = (long long)idx[i / inner] * inner + i % inner;",
            f"const {c_type} w = var[p_];",
            f"const {c_type} a = accum[p_];",
            f"{c_type} w_out, a_out;",
            "{",
            body,
            "}",
            "var[p_] = w_out;",
            "accum[p_] = a_out;",
        ]
    )
