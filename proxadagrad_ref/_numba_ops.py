"""Scalar meanings of the formula vocabulary, for numba (the optional ``fast`` extra).

Importing this module imports numba. It gives each free name of
:mod:`proxadagrad_ref._ops` a scalar implementation with the same IEEE 754
semantics as the NumPy array path, bit for bit (NaN sign and payload
included), and compiles a profile formula by rebinding those names:

``sqrt``          ``np.sqrt`` (correctly rounded, ``llvm.sqrt``).
``absolute``      ``abs`` (clears the sign bit, NaN included, like ``np.abs``).
``sign``          ``np.sign``: -1, +1, ``+0`` for both zeros, the NaN itself.
``maximum``       ``np.maximum``: NaN in ``x`` gives ``x``, else NaN in ``y``
                  gives ``y``, else ``x if x > y else y`` (ties give ``y``).
``positive_part`` ``x if x > 0 else +0``.
``fma``           float32 only: the algorithm of :mod:`proxadagrad_ref._fparith`
                  (exact float64 product, TwoSum, midpoint tie fix), per scalar.
``flush``         subnormals to a zero of the same sign.

Every function is compiled with ``fastmath=False`` and ``error_model="numpy"``
(division by zero gives inf/NaN instead of raising). numba emits no
``fmuladd`` intrinsics and LLVM's default fusion mode fuses only those, so no
``a*b + c`` is contracted into an FMA; ``tests/test_fast.py`` checks the
generated assembly and compares bits with the NumPy path.

Python number literals in a formula are "weak" in NumPy (NEP 50: ``1.0 + x``
keeps ``x``'s float32); numba would promote them to float64. :func:`compile_formula`
therefore rewrites a formula's float and int constants into the compute dtype
before compiling, which gives NumPy's semantics.
"""

from __future__ import annotations

import math
import types as pytypes
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload

__all__ = ["SCALAR_OPS", "compile_formula", "make_kernel"]

_JIT: Any = {"error_model": "numpy", "fastmath": False}


def _make_stub(name: str) -> Any:
    def stub(*args: Any) -> Any:  # pragma: no cover - only ever called from compiled code
        raise NotImplementedError(f"scalar {name} is only callable from numba-compiled code")

    stub.__name__ = stub.__qualname__ = f"scalar_{name}"
    return stub


scalar_sqrt = _make_stub("sqrt")
scalar_absolute = _make_stub("absolute")
scalar_sign = _make_stub("sign")
scalar_maximum = _make_stub("maximum")
scalar_positive_part = _make_stub("positive_part")
scalar_fma = _make_stub("fma")
scalar_flush = _make_stub("flush")
scalar_signum = _make_stub("signum")
scalar_as_float32 = _make_stub("as_float32")
scalar_as_float64 = _make_stub("as_float64")

SCALAR_OPS: dict[str, Any] = {
    "sqrt": scalar_sqrt,
    "absolute": scalar_absolute,
    "sign": scalar_sign,
    "maximum": scalar_maximum,
    "positive_part": scalar_positive_part,
    "fma": scalar_fma,
    "flush": scalar_flush,
    "signum": scalar_signum,
    "as_float32": scalar_as_float32,
    "as_float64": scalar_as_float64,
}


def _float_class(ty: Any) -> Any:
    if ty == types.float32:
        return np.float32
    if ty == types.float64:
        return np.float64
    raise TypingError(f"formula ops take float32 or float64 scalars, got {ty}")


@overload(scalar_sqrt, jit_options=_JIT)
def _ov_sqrt(x):
    _float_class(x)
    return lambda x: np.sqrt(x)


@overload(scalar_absolute, jit_options=_JIT)
def _ov_absolute(x):
    _float_class(x)
    return lambda x: abs(x)


@overload(scalar_sign, jit_options=_JIT)
def _ov_sign(x):
    cls = _float_class(x)
    one, zero = cls(1.0), cls(0.0)

    def impl(x):
        if x > 0:
            return one
        if x < 0:
            return -one
        if x == 0:
            return zero
        return x

    return impl


@overload(scalar_maximum, jit_options=_JIT)
def _ov_maximum(x, y):
    cls = _float_class(x)

    def impl(x, y):
        yy = cls(y)
        if x != x:
            return x
        if yy != yy:
            return yy
        return x if x > yy else yy

    return impl


@overload(scalar_positive_part, jit_options=_JIT)
def _ov_positive_part(x):
    cls = _float_class(x)
    zero = cls(0.0)
    return lambda x: x if x > 0 else zero


@overload(scalar_flush, jit_options=_JIT)
def _ov_flush(x):
    cls = _float_class(x)
    tiny = cls(np.finfo(cls).smallest_normal)

    def impl(x):
        if abs(x) < tiny:
            return cls(math.copysign(0.0, x))
        return x

    return impl


_TINY32 = float(np.finfo(np.float32).smallest_subnormal)


@overload(scalar_signum, jit_options=_JIT)
def _ov_signum(x):
    cls = _float_class(x)
    one, zero = cls(1.0), cls(0.0)

    def impl(x):
        # NumPy's where(x > 0, 1, 0) - where(x < 0, 1, 0): +0 for zeros and NaN
        return (one if x > 0 else zero) - (one if x < 0 else zero)

    return impl


@overload(scalar_as_float32, jit_options=_JIT)
def _ov_as_float32(x):
    _float_class(x)
    return lambda x: np.float32(x)


@overload(scalar_as_float64, jit_options=_JIT)
def _ov_as_float64(x):
    _float_class(x)
    return lambda x: np.float64(x)


@intrinsic
def _neighbour32(typingctx, x, up):
    """``np.nextafter(x, +inf if up else -inf)`` for a finite float32 `x`, as branch-free LLVM IR.

    The float's bits, read as a signed int32, step by +1 when moving away from
    zero and -1 towards it; zeros step to the smallest subnormal of the
    direction's sign. For ``x = inf`` moving up the result is a NaN instead of
    inf: :func:`_fma32` only compares it with a finite value, where both
    answers compare false. (Written in IR: the same steps in numba code widen
    to int64 and keep the loop around :func:`_fma32` from vectorizing.)
    """
    if x != types.float32 or up != types.boolean:
        return None

    def codegen(context, builder, signature, args):
        value, upward = args
        i32, f32 = ir.IntType(32), ir.FloatType()
        bits = builder.bitcast(value, i32)
        non_negative = builder.icmp_signed(">=", bits, ir.Constant(i32, 0))
        away = builder.icmp_unsigned("==", upward, non_negative)
        step = builder.select(away, ir.Constant(i32, 1), ir.Constant(i32, -1))
        stepped = builder.bitcast(builder.add(bits, step), f32)
        from_zero = builder.select(upward, ir.Constant(f32, _TINY32), ir.Constant(f32, -_TINY32))
        is_zero = builder.fcmp_ordered("==", value, ir.Constant(f32, 0.0))
        return builder.select(is_zero, from_zero, stepped)

    return types.float32(types.float32, types.boolean), codegen


@numba.njit(**_JIT)
def _fma32(a, b, c):
    """Correctly rounded float32 ``a*b + c``: the algorithm of ``_fparith.fma``, per scalar.

    Written without data-dependent branches (selects only) so that the loop
    around it vectorizes; the result is that of ``_fparith.fma`` bit for bit.
    """
    p = np.float64(a) * np.float64(b)  # exact: 24 + 24 bits
    c64 = np.float64(c)
    s = p + c64
    b_virtual = s - p  # TwoSum: s + e == p + c exactly
    a_virtual = s - b_virtual
    e = (p - a_virtual) + (c64 - b_virtual)
    r = np.float32(s)
    up = e > 0
    other = _neighbour32(r, up)
    r64 = np.float64(r)
    other64 = np.float64(other)
    on_midpoint = (r64 + other64) * 0.5 == s
    beyond = (up & (other64 > s)) | ((not up) & (other64 < s))
    fix = on_midpoint & (e != 0) & beyond & np.isfinite(s)
    return other if fix else r


@overload(scalar_fma, jit_options=_JIT)
def _ov_fma(a, b, c):
    if not all(t == types.float32 for t in (a, b, c)):
        raise TypingError(f"scalar fma is implemented for float32 operands, got {(a, b, c)}")
    return lambda a, b, c: _fma32(a, b, c)


def _weak_constants(code: pytypes.CodeType, cls: Any) -> pytypes.CodeType:
    """`code` with its float and int literals (NumPy-weak, NEP 50) turned into `cls` scalars."""
    consts = tuple(cls(c) if type(c) in (float, int) else c for c in code.co_consts)
    return code.replace(co_consts=consts)


def compile_formula(formula: Any, compute: Any) -> Any:
    """Compile `formula` (a profile formula) for scalars of dtype `compute`, its free names rebound.

    The function object is rebuilt from the formula's own code object with
    :data:`SCALAR_OPS` in place of the array ops, and its literals made weak
    (see the module notes); nothing of the formula is rewritten by hand.
    """
    cls = np.dtype(compute).type
    scalar_globals = dict(formula.__globals__)
    scalar_globals.update(SCALAR_OPS)
    fn = pytypes.FunctionType(
        _weak_constants(formula.__code__, cls),
        scalar_globals,
        formula.__name__,
        formula.__defaults__,
        formula.__closure__,
    )
    return numba.njit(inline="always", **_JIT)(fn)


def make_kernel(scalar_formula: Any, compute: Any) -> Any:
    """A parallel loop applying a compiled formula to flat arrays, writing into two outputs.

    Each input element and hyper-parameter is converted to `compute` (the
    profile's compute dtype; a no-op when it is the input dtype) before the
    formula, and each result is rounded once to the output dtype on the store,
    as ``Profile.evaluate`` does for whole arrays.
    """
    cls = np.dtype(compute).type

    def kernel(w: Any, a: Any, g: Any, lr: Any, l1: Any, l2: Any, adaptive: bool,
               w_out: Any, a_out: Any) -> None:  # pragma: no cover - compiled
        lr_, l1_, l2_ = cls(lr), cls(l1), cls(l2)
        for i in numba.prange(w.shape[0]):
            w_new, a_new = scalar_formula(cls(w[i]), cls(a[i]), cls(g[i]), lr_, l1_, l2_, adaptive)
            w_out[i] = w_new
            a_out[i] = a_new

    return numba.njit(parallel=True, **_JIT)(kernel)
