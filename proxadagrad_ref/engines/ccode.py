"""C++ source of a profile formula, for fused elementwise kernels (CuPy), generated from the formula itself.

The formula is traced once (:func:`proxadagrad_ref.numerics.interpret.trace`,
the hyper-parameters traced too): each operation it makes becomes one C++
statement with the type NumPy gives its result, ``float`` or ``double``.
Branches on hyper-parameters (``if l1 > 0``) are taken with their real values,
so a body is specialised to them; a branch on an array value raises
:class:`~proxadagrad_ref.numerics.interpret.Untraceable`. Nothing of a
formula is written a second time.

What makes the C++ give NumPy's bits, element for element:

* every statement is one call ``pa_<op>(...)`` of one IEEE operation of the
  formula, rounded to its type (``float`` for float32, ``double`` for
  float64), its operands converted to that type first, as NumPy converts them
  (a Python literal is converted to the type of the operation, NEP 50's weak
  scalars, and written as an exact hexadecimal literal);
* the vocabulary (``sqrt``, ``fma``, ``maximum``, ...) is defined in
  :data:`PREAMBLE` with the meanings of :mod:`proxadagrad_ref.numerics.ops`
  (NaN and signed-zero rules included), written once on top of the
  primitives below;
* the **primitives** -- ``+ - * /``, ``sqrt``, ``fma``, negation, absolute
  value, ``copysign``, the comparisons ``> < == !=`` and the conversions
  between ``float`` and ``double`` -- are the only floating-point operations
  of a body. In device code (``__CUDA_ARCH__``) each is one inline PTX
  instruction with its rounding written out (``add.rn.f32``, ``div.rn.f64``,
  ``sqrt.rn.f32``, ``fma.rn.f32``, ``setp.neu.f32``, ``cvt.rn.f32.f64``, ...)
  and no ``.ftz``; in host code each is the C operation (``a + b``,
  ``sqrtf``, ``fmaf``, ``a != b``, ``(float)x``).

Why inline PTX: CuPy compiles every kernel with ``-ftz=true`` appended after
the caller's options (``cupy/cuda/compiler.py``, ``_compile_with_cache_cuda``),
and NVRTC obeys the last of two contradicting options, so ``--ftz=false``
cannot keep float32 subnormals: plain C, and even the ``__fadd_rn`` family of
intrinsics, become ``add.rn.ftz.f32`` and so on. An ``asm`` statement is
emitted exactly as written whatever the options, and an explicit rounding
modifier keeps ptxas from contracting a product and a sum into an FMA: the
device arithmetic does not depend on ``-ftz``, ``--fmad`` or even
``--use_fast_math``. ``tests/backends/test_cuda_ptx.py`` compiles every kernel
the CuPy engine can generate with NVRTC under CuPy's real options and checks
its PTX: no ``.ftz``, one ``fma.rn`` per ``fma`` of the formula and no other,
``div.rn``/``sqrt.rn``, no approximation.

``tests/engines/test_ccode.py`` compiles the same statements with g++
(``-ffp-contract=off``: the host primitives) and compares their bits with the
reference engine, for every profile formula it can express (not TensorFlow's
packet formula: its table-driven rsqrt has no C++ form here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..numerics.interpret import Step, Traced, Untraceable, trace
from ..numerics.ops import VOCABULARY
from ..numerics.profiles import Formula

__all__ = ["PREAMBLE", "PRIMITIVES", "Untraceable", "c_body", "expressible", "rows_operation"]

_C_TYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}

_PTX_TYPE = {"float": ("f32", "f", "f"), "double": ("f64", "d", "")}
"""PTX type suffix, inline-asm register constraint and C math-library suffix of each C++ type."""

PRIMITIVES: dict[str, tuple[str, str, str]] = {
    "add": ("add.rn", "%0, %1, %2", "a + b"),
    "subtract": ("sub.rn", "%0, %1, %2", "a - b"),
    "multiply": ("mul.rn", "%0, %1, %2", "a * b"),
    "divide": ("div.rn", "%0, %1, %2", "a / b"),
    "fma": ("fma.rn", "%0, %1, %2, %3", "fma{m}(a, b, c)"),
    "sqrt": ("sqrt.rn", "%0, %1", "sqrt{m}(a)"),
    "negative": ("neg", "%0, %1", "-a"),
    "absolute": ("abs", "%0, %1", "fabs{m}(a)"),
    "copysign": ("copysign", "%0, %2, %1", "copysign{m}(a, b)"),  # PTX: sign of its first source
}
"""The arithmetic primitives: name -> (PTX instruction, its operands, the host C expression).

Operands are named ``a, b, c`` in the host expression (``{m}`` is the C
library's type suffix, ``f`` for float) and ``%1, %2, %3`` in the PTX one
(``%0`` is the result).
"""

_COMPARISONS = {
    "greater": ("gt", ">"),
    "less": ("lt", "<"),
    "equal": ("eq", "=="),
    "not_equal": ("neu", "!="),
}
"""The comparison primitives: name -> (PTX condition, C operator); ``neu`` is C's unordered ``!=``."""


def _primitive(name: str, c_type: str, device: bool) -> str:
    """One primitive for one C++ type, as device (inline PTX) or host (C) code."""
    suffix, reg, math = _PTX_TYPE[c_type]
    instruction, operands, host = PRIMITIVES[name]
    params = "abc"[: operands.count("%") - 1]
    signature = f"PA_FN {c_type} pa_{name}({', '.join(f'{c_type} {p}' for p in params)})"
    if not device:
        return f"{signature} {{ return {host.format(m=math)}; }}"
    inputs = ", ".join(f'"{reg}"({p})' for p in params)
    asm = f'asm("{instruction}.{suffix} {operands};" : "={reg}"(r) : {inputs});'
    return f"{signature} {{ {c_type} r; {asm} return r; }}"


def _comparison(name: str, c_type: str, device: bool) -> str:
    """One comparison (an ``int``, 0 or 1) for one C++ type; on the device the predicate stays in the asm."""
    suffix, reg, _ = _PTX_TYPE[c_type]
    condition, operator = _COMPARISONS[name]
    signature = f"PA_FN int pa_{name}({c_type} a, {c_type} b)"
    if not device:
        return f"{signature} {{ return a {operator} b; }}"
    ptx = f"{{ .reg .pred p; setp.{condition}.{suffix} p, %1, %2; selp.s32 %0, 1, 0, p; }}"
    return f'{signature} {{ int r; asm("{ptx}" : "=r"(r) : "{reg}"(a), "{reg}"(b)); return r; }}'


def _conversions(device: bool) -> list[str]:
    """``pa_as_float32`` and ``pa_as_float64`` of either type (round to nearest; widening is exact)."""
    narrow = 'float r; asm("cvt.rn.f32.f64 %0, %1;" : "=f"(r) : "d"(x)); return r;'
    widen = 'double r; asm("cvt.f64.f32 %0, %1;" : "=d"(r) : "f"(x)); return r;'
    return [
        "PA_FN float pa_as_float32(float x) { return x; }",
        f"PA_FN float pa_as_float32(double x) {{ {narrow if device else 'return (float)x;'} }}",
        "PA_FN double pa_as_float64(double x) { return x; }",
        f"PA_FN double pa_as_float64(float x) {{ {widen if device else 'return (double)x;'} }}",
    ]


def _primitives(device: bool) -> list[str]:
    return [
        *(_primitive(name, t, device) for name in PRIMITIVES for t in ("float", "double")),
        *(_comparison(name, t, device) for name in _COMPARISONS for t in ("float", "double")),
        *_conversions(device),
    ]


_DEFINITIONS = {
    "sign": "template <typename T> PA_FN T pa_sign(T x) {\n"
    "  return pa_greater(x, T(0)) ? T(1) : (pa_less(x, T(0)) ? T(-1) : (pa_equal(x, T(0)) ? T(0) : x));\n}",
    "maximum": "template <typename T> PA_FN T pa_maximum(T x, T y) {\n"
    "  return pa_not_equal(x, x) ? x : (pa_not_equal(y, y) ? y : (pa_greater(x, y) ? x : y));\n}",
    "positive_part": "template <typename T> PA_FN T pa_positive_part(T x) {\n"
    "  return pa_greater(x, T(0)) ? x : T(0);\n}",
    "signum": "template <typename T> PA_FN T pa_signum(T x) {\n"
    "  return pa_subtract(pa_greater(x, T(0)) ? T(1) : T(0), pa_less(x, T(0)) ? T(1) : T(0));\n}",
    "std_max0": "template <typename T> PA_FN T pa_std_max0(T x) { return pa_less(x, T(0)) ? T(0) : x; }",
    "flush": "PA_FN float pa_flush(float x) { return pa_less(pa_absolute(x), 0x1p-126f) ? "
    "pa_copysign(0.0f, x) : x; }\n"
    "PA_FN double pa_flush(double x) { return pa_less(pa_absolute(x), 0x1p-1022) ? "
    "pa_copysign(0.0, x) : x; }",
}
"""The C++ meaning of each vocabulary name that is not a primitive, written once with the primitives.

A C ``?:`` on the ``int`` a comparison primitive returns selects without a
floating-point comparison (PTX ``selp``, which has no flush-to-zero form).
"""

_STORES = "\n".join(
    f"PA_FN void pa_store({out} &out, {x} x) {{ out = pa_as_{name}(x); }}"
    for out, name in (("float", "float32"), ("double", "float64"))
    for x in ("float", "double")
)
"""``pa_store(out, x)``: a result rounded once to the type of the output it is written to."""

_VOCABULARY_C = {"sqrt", "absolute", "fma", *_DEFINITIONS}
"""Vocabulary names with a C++ form: primitives and the definitions above."""

_CASTS = ("as_float32", "as_float64", "as_type_of")
"""Vocabulary names that are C++ conversions (to the dtype of their result)."""

_OPERATORS = ("add", "subtract", "multiply", "divide", "negative")
"""The formula's Python operators with a C++ form: the primitives of the same name."""

PREAMBLE = "\n".join(
    [
        "",
        "#if defined(__CUDA_ARCH__)",
        "#define PA_FN __device__ __forceinline__",
        *_primitives(device=True),
        "#else",
        "#include <math.h>",
        "#define PA_FN static inline",
        *_primitives(device=False),
        "#endif",
        *_DEFINITIONS.values(),
        _STORES,
        "",
    ]
)
"""Definitions of the formula vocabulary in C++: device code (inline PTX primitives) and host code (C)."""


def expressible(formula: Formula) -> bool:
    """True when every vocabulary name `formula` uses has a C++ form here."""
    used = {name for name in formula.__code__.co_names if name in VOCABULARY}
    return used <= _VOCABULARY_C | set(_CASTS)


def _literal(value: float, dtype: np.dtype[Any]) -> str:
    """`value` converted to `dtype` (round to nearest, as NumPy converts a weak Python scalar), exactly.

    Written as a hexadecimal literal of the C++ type (``0x1.99999ap-4f``):
    the value itself, with no decimal conversion left to the compiler.
    """
    with np.errstate(over="ignore"):
        x = float(dtype.type(value))
    if x != x or x in (float("inf"), float("-inf")):
        raise Untraceable(f"the literal {value!r} is not finite in {dtype}")
    return x.hex() + ("f" if _C_TYPE[dtype] == "float" else "")


def _c_type(dtype: np.dtype[Any]) -> str:
    if dtype not in _C_TYPE:
        raise Untraceable(f"a value of dtype {dtype} has no C++ type here")
    return _C_TYPE[dtype]


def _operand(x: Any, dtype: np.dtype[Any]) -> str:
    """C++ text of operand `x` converted to `dtype`."""
    if isinstance(x, Traced):
        name = f"v{x.index}"
        return name if x.dtype == dtype else f"pa_as_{dtype.name}({name})"
    if isinstance(x, (bool, int, float)):
        return _literal(float(x), dtype)
    raise Untraceable(f"an operand of type {type(x).__name__}")


def _expression(step: Step) -> str:
    """The call ``pa_<op>(...)`` computing `step`, its operands converted to the result's type."""
    dtype = step.value.dtype
    args = step.args
    if step.op in _CASTS:
        return _operand(args[0], dtype)
    if step.op not in _OPERATORS and step.op not in _VOCABULARY_C:
        raise Untraceable(f"{step.op} has no C++ form")
    if step.op not in _OPERATORS and any(isinstance(a, Traced) and a.dtype != dtype for a in args):
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
    are written to ``w_out``/``a_out`` by ``pa_store``, which rounds them once
    to the outputs' type (round to nearest, like ``astype``). The inputs and
    outputs may be ``float`` or ``double`` whatever `compute` is (the
    conversions are overloads chosen by the C++ compiler). `hyper` holds the
    real values of ``lr, l1, l2`` (the formula's branches on them are resolved here).
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
        f"const {c_type} v{k} = pa_as_{dtype.name}({name});"
        for k, name in enumerate(("w", "a", "g", "lr", "l1", "l2"))
    ]
    first = len(traced.leaves)
    for i in sorted(_needed((w_new, a_new), traced.steps, first)):
        step = traced.steps[i - first]
        lines.append(f"const {_c_type(step.value.dtype)} v{i} = {_expression(step)};")
    return "\n".join([*lines, f"pa_store(w_out, v{w_new.index});", f"pa_store(a_out, v{a_new.index});"])


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
