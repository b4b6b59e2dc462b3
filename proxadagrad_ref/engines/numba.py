"""The numba engine: a formula compiled with its free names rebound to scalar functions.

Importing this module imports numba. It gives each name of
:data:`proxadagrad_ref.numerics.ops.VOCABULARY` a scalar meaning with the
semantics of that module's table, bit for bit (NaN sign and payload aside), and
compiles a profile formula by rebinding those names
(:func:`proxadagrad_ref.numerics.interpret.rebind`). How each is built:
``fma`` is the ``llvm.fma`` intrinsic (IEEE ``fusedMultiplyAdd``: one correct
result, the one :mod:`proxadagrad_ref.numerics.fparith` computes, ~20x faster
on the CPU's ``vfmadd``); ``flush`` clears the bits of a subnormal but its
sign; ``rsqrt_eigen`` indexes the ``vrsqrtps`` table of
:mod:`proxadagrad_ref.numerics.ops` by the float's exponent parity and top 12
mantissa bits, then takes the same flushed Newton step.

Every function is compiled with ``fastmath=False`` and ``error_model="numpy"``
(division by zero gives inf/NaN instead of raising). numba emits no
``fmuladd`` intrinsics nor ``contract`` flags, and LLVM's default fusion mode
fuses only those, so no ``a*b + c`` is contracted into an FMA: the only fused
operations are the formula's own ``fma`` calls. ``tests/engines/test_numba.py``
checks the generated IR and assembly; every engine test compares bits with
the reference engine.

Python number literals in a formula are "weak" in NumPy (NEP 50: ``1.0 + x``
keeps ``x``'s float32); numba would promote them to float64.
:func:`compile_formula` therefore turns a formula's float and int constants
into the compute dtype before compiling, which gives NumPy's semantics.

The drivers (:func:`evaluate`, :func:`update_rows`) run the compiled loops over
flat NumPy arrays, in slices on the shared thread pool (the loops release the GIL).
"""

from __future__ import annotations

import math
import platform
import threading
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils, config
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload

from ..numerics import ops
from ..numerics.interpret import rebind
from ..numerics.profiles import Formula
from .pool import run_all
from .step import Elementwise, RowUpdate

__all__ = [
    "HALF_CONVERSIONS",
    "MIN_PARALLEL",
    "NATIVE_HALF",
    "SCALAR_OPS",
    "compile_formula",
    "csr_touched_rows",
    "evaluate",
    "float32_to_half",
    "float64_to_half",
    "half_to_float32",
    "make_kernel",
    "make_row_kernel",
    "rows_non_negative",
    "update_rows",
]

_JIT: Any = {"error_model": "numpy", "fastmath": False}


def _make_stub(name: str) -> Any:
    def stub(*args: Any) -> Any:  # pragma: no cover - only ever called from compiled code
        raise NotImplementedError(f"scalar {name} is only callable from numba-compiled code")

    stub.__name__ = stub.__qualname__ = f"scalar_{name}"
    return stub


_STUBS: dict[str, Any] = {name: _make_stub(name) for name in ops.VOCABULARY}

SCALAR_OPS: dict[str, Any] = {}
"""The scalar stand-in of each vocabulary name that has a compiled meaning (an overload below)."""


def _meaning(name: str, **options: Any) -> Any:
    """Register the decorated overload as the compiled meaning of vocabulary name `name`."""

    def register(impl: Any) -> Any:
        overload(_STUBS[name], jit_options=_JIT, **options)(impl)
        SCALAR_OPS[name] = _STUBS[name]
        return impl

    return register


scalar_flush = _STUBS["flush"]


def _float_class(ty: Any) -> Any:
    if ty == types.float32:
        return np.float32
    if ty == types.float64:
        return np.float64
    raise TypingError(f"formula ops take float32 or float64 scalars, got {ty}")


@_meaning("sign")
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


@_meaning("maximum")
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


@_meaning("positive_part")
def _ov_positive_part(x):
    cls = _float_class(x)
    zero = cls(0.0)
    return lambda x: x if x > 0 else zero


@intrinsic
def _flush_bits(typingctx, x):
    """Subnormal ``x`` to the zero of its sign, on the bits: keep only the sign where the exponent is 0.

    Branch-free integer operations (LLVM turns them into vector ``and``/compare
    instructions): a compare-and-copysign through float64 kept TensorFlow's
    formula (up to 20 flushes per element) from vectorizing.
    """
    if x not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        width = 32 if signature.args[0] == types.float32 else 64
        int_t = ir.IntType(width)
        bits = builder.bitcast(args[0], int_t)
        exponent_mask = (0xFF << 23) if width == 32 else (0x7FF << 52)
        exponent = builder.and_(bits, ir.Constant(int_t, exponent_mask))
        subnormal = builder.icmp_unsigned("==", exponent, ir.Constant(int_t, 0))
        sign_only, everything = ir.Constant(int_t, 1 << (width - 1)), ir.Constant(int_t, (1 << width) - 1)
        kept = builder.and_(bits, builder.select(subnormal, sign_only, everything))
        return builder.bitcast(kept, args[0].type)

    return x(x), codegen


_flush_bits_of: Any = _flush_bits  # called as _flush_bits_of(x) (the typing context is numba's)


def _on_floats(impl: Any) -> Any:
    """An overload compiling `impl` for a float32 or float64 scalar (refusing other types)."""

    def typer(x):  # untyped: numba matches its signature to the implementation's
        _float_class(x)
        return impl

    return typer


for _name, _impl in {
    "sqrt": lambda x: np.sqrt(x),  # correctly rounded: llvm.sqrt
    "absolute": lambda x: abs(x),  # clears the sign bit, NaN included
    "flush": lambda x: _flush_bits_of(x),
    "as_float32": lambda x: np.float32(x),
    "as_float64": lambda x: np.float64(x),
}.items():
    _meaning(_name)(_on_floats(_impl))


@_meaning("signum")
def _ov_signum(x):
    cls = _float_class(x)
    one, zero = cls(1.0), cls(0.0)

    def impl(x):
        # NumPy's where(x > 0, 1, 0) - where(x < 0, 1, 0): +0 for zeros and NaN
        return (one if x > 0 else zero) - (one if x < 0 else zero)

    return impl


@_meaning("as_type_of")
def _ov_as_type_of(x, y):
    _float_class(x)
    cls = _float_class(y)
    return lambda x, y: cls(x)


@_meaning("std_max0")
def _ov_std_max0(x):
    cls = _float_class(x)
    zero = cls(0.0)
    return lambda x: zero if x < 0 else x


_RSQRT_TABLE32 = ops.rsqrt_table().astype(np.float32)  # exact: the entries are float32 values
_SMALLEST_NORMAL32 = np.float32(np.finfo(np.float32).smallest_normal)
_MAX32 = np.float32(np.finfo(np.float32).max)
_INF32 = np.float32(math.inf)
_NAN32 = np.float32(math.nan)
_ZERO32 = np.float32(0.0)


_SAME_WIDTH = {types.float32: types.int32, types.int32: types.float32, types.float64: types.int64,
               types.int64: types.float64}


@intrinsic
def _reinterpret(typingctx, x):
    """The same bits in the other type of their width: float32 <-> int32, float64 <-> int64 (a bitcast)."""
    target = _SAME_WIDTH.get(x)
    if target is None:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(target))

    return target(x), codegen


_as_bits: Any = _reinterpret  # called from compiled code (the typing context is numba's)


@numba.njit(inline="always", **_JIT)
def _rsqrt_estimate32(x):
    """``ops.rsqrt_estimate`` per scalar: exponent and top 12 mantissa bits read from the float's bits.

    For a positive normal ``x = 2**e * m`` the estimate is the table entry for
    ``(e mod 2, top 12 bits of m)`` times ``2**-k``, ``k = (e - e mod 2) / 2``
    (an exact float32 product; ``2**-k`` is built from its exponent bits).
    Branch-free: the index and ``k`` are in range for every bit pattern and the
    special inputs are selected at the end, so the loop around it vectorizes
    (with a gather from the table).
    """
    bits = _as_bits(x)
    e = ((bits >> 23) & 0xFF) - 127
    parity = e & 1  # e mod 2, also for negative e
    top = (bits >> 11) & 0xFFF
    k = (e - parity) >> 1  # exact: e - parity is even
    scale = _as_bits(np.int32((127 - k) << 23))  # 2**-k, a normal float32 for |k| <= 64
    estimate = _RSQRT_TABLE32[parity * 4096 + top] * scale
    signed_inf = _as_bits(np.int32((bits & np.int32(-(1 << 31))) | np.int32(0xFF << 23)))
    special = signed_inf if abs(x) < _SMALLEST_NORMAL32 else (_ZERO32 if x == _INF32 else _NAN32)
    return estimate if (x >= _SMALLEST_NORMAL32 and x <= _MAX32) else special


@_meaning("rsqrt_scalar", inline="always")
def _ov_rsqrt_scalar(x):
    one = _float_class(x)(1.0)
    return lambda x: scalar_flush(one / scalar_flush(np.sqrt(scalar_flush(x))))


@_meaning("rsqrt_eigen", inline="always")
def _ov_rsqrt_eigen(x):
    cls = _float_class(x)
    if cls is np.float64:

        def impl64(x):
            x = scalar_flush(x)
            return scalar_flush(1.0 / scalar_flush(np.sqrt(x)))

        return impl64
    minus_half, one = np.float32(-0.5), np.float32(1.0)

    def impl32(x):
        x = scalar_flush(x)
        y0 = _rsqrt_estimate32(x)
        # One Newton step, every product and sum rounded (and flushed) on its own:
        r2 = scalar_flush(x * y0)
        half = scalar_flush(y0 * minus_half)
        h = scalar_flush(scalar_flush(r2 * y0) - one)
        y1 = scalar_flush(scalar_flush(half * h) + y0)
        return y0 if y1 != y1 else y1  # 0 -> inf, inf -> 0 and NaN keep the estimate

    return impl32


@intrinsic
def _fma(typingctx, a, b, c):
    """IEEE 754 ``fusedMultiplyAdd(a, b, c)``: ``a*b + c`` rounded once, via ``llvm.fma``.

    An IEEE fma has exactly one correct result, so any correct implementation
    gives the bits of :func:`proxadagrad_ref.numerics.fparith.fma`: LLVM lowers the
    intrinsic to the CPU's ``vfmadd`` where the target has FMA and to a call of
    the (correctly rounded) C library ``fma``/``fmaf`` otherwise. It is never
    the contraction ``fmuladd``, which LLVM may split into two roundings.
    """
    if not (a == b == c and a in (types.float32, types.float64)):
        return None

    def codegen(context, builder, signature, args):
        ty = args[0].type
        name = "llvm.fma.f32" if ty == ir.FloatType() else "llvm.fma.f64"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty, ty, ty]), name)
        return builder.call(fn, args)

    return a(a, a, a), codegen


@_meaning("fma")
def _ov_fma(a, b, c):
    if not all(t == types.float32 for t in (a, b, c)):
        raise TypingError(f"scalar fma is implemented for float32 operands, got {(a, b, c)}")
    return lambda a, b, c: _fma(a, b, c)


def compile_formula(formula: Formula, compute: Any) -> Any:
    """Compile `formula` (a profile formula) for scalars of dtype `compute`, its free names rebound.

    The function object is rebuilt from the formula's own code object with
    :data:`SCALAR_OPS` in place of the array ops, and its literals made weak
    (see the module notes); nothing of the formula is rewritten by hand.
    """
    return numba.njit(inline="always", **_JIT)(rebind(formula, SCALAR_OPS, constants=np.dtype(compute).type))


# -- float16 loads and stores ------------------------------------------------------------------
# numba has no float16 arithmetic: the half loops hold float16 values as uint16 bits, widen each
# load exactly and round each result once on the store (a float64 result through float32 rounded
# to odd, which is still one rounding). Two routes, the same bits (an IEEE conversion has one
# correct result; tests/engines/test_numba.py checks both on every half and on every rounding
# tie): the CPU's own conversions where numba's target has them (x86-64 with F16C: ``vcvtph2ps``
# / ``vcvtps2ph``), else integer arithmetic on the bits. Both are written as LLVM IR: numba
# computes integer scalars in int64, which held the loops' vector lanes at 64 bits, and that
# (with the conversions written in numba) kept a float16 step at 13x the memory floor.

_I32 = ir.IntType(32)
_F32 = ir.FloatType()


def _i32(value: int) -> Any:
    return ir.Constant(_I32, value)


def _native_half_conversions() -> bool:
    """True when numba's target CPU converts float16 <-> float32 in hardware (x86-64 with F16C).

    Elsewhere LLVM would call ``__extendhfsf2`` / ``__truncsfhf2``, which numba's
    JIT does not link; other architectures are not measured, so they take the
    arithmetic route too.
    """
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    from numba.core.codegen import get_host_cpu_features  # what numba compiles for (NUMBA_CPU_FEATURES)

    # numba's own rule (numba/core/codegen.py, CPUCodegen._get_host_cpu_features): a set CPU_FEATURES wins,
    # even "" (NUMBA_CPU_NAME=generic: no features, so no F16C); only None means "the host's"
    features = getattr(config, "CPU_FEATURES", None)
    if features is None:
        features = get_host_cpu_features()
    return "+f16c" in str(features).split(",")


NATIVE_HALF = _native_half_conversions()
"""True: the half loops use the CPU's float16 conversions; False: 32-bit integer arithmetic."""


def _clamp(builder: Any, value: Any, low: int, high: int) -> Any:
    """The signed i32 `value` clamped to ``[low, high]`` (two compares and selects: vector min/max)."""
    below = builder.select(builder.icmp_signed(">", value, _i32(high)), _i32(high), value)
    return builder.select(builder.icmp_signed("<", below, _i32(low)), _i32(low), below)


def _grid_to_half_bits(builder: Any, x: Any, r: Any, sign: Any) -> Any:
    """The i16 float16 bits of `x` from ``r`` (a float32: ``|x|`` on the half grid) and its sign bit.

    ``r`` is a half (or at least 65520: infinity), so its bits are written
    without another rounding: a subnormal half's are ``r / 2**-24`` (an exact
    integer), a normal one's the float32 exponent rebiased and the top 10
    mantissa bits. NaN gives the quiet NaN ``0x7E00`` with `x`'s sign. (The
    integer conversion of a large ``r`` is computed, never selected.)
    """
    subnormal = builder.fptosi(builder.fmul(r, ir.Constant(_F32, 2.0**24)), _I32)
    normal = builder.sub(builder.lshr(builder.bitcast(r, _I32), _i32(13)), _i32((127 - 15) << 10))
    small = builder.fcmp_ordered("<", r, ir.Constant(_F32, 2.0**-14))
    huge = builder.fcmp_ordered(">=", r, ir.Constant(_F32, 65520.0))
    finite = builder.select(huge, _i32(0x7C00), builder.select(small, subnormal, normal))
    found = builder.select(builder.fcmp_unordered("uno", x, x), _i32(0x7E00), finite)
    return builder.trunc(builder.or_(sign, found), ir.IntType(16))


def _float32_to_half_bits(builder: Any, x: Any) -> Any:
    """:func:`float32_to_half_portable`'s IR: the grid addition, then :func:`_grid_to_half_bits`."""
    bits = builder.bitcast(x, _I32)
    magnitude = builder.and_(bits, _i32(0x7FFFFFFF))
    binade = _clamp(builder, builder.lshr(magnitude, _i32(23)), 127 - 14, 127 + 15)  # biased
    grid = builder.bitcast(builder.shl(builder.add(binade, _i32(13)), _i32(23)), _F32)
    r = builder.fsub(builder.fadd(builder.bitcast(magnitude, _F32), grid), grid)
    sign = builder.and_(builder.lshr(bits, _i32(16)), _i32(0x8000))
    return _grid_to_half_bits(builder, x, r, sign)


@intrinsic
def half_to_float32_portable(typingctx, h):
    """The float16 whose bits are the uint16 `h`, widened exactly to float32 (as NumPy's ``astype``).

    Branch-free (every case computed, one selected). A subnormal half is its
    mantissa times ``2**-24``: a small integer converted and scaled by a power
    of two, exact, and never a subnormal float32 (a flush-to-zero mode could
    not change it). A normal half's exponent is rebiased; infinity and NaN keep
    the payload, shifted to the float32's top mantissa bits.
    """
    if h != types.uint16:
        return None

    def codegen(context, builder, signature, args):
        bits = builder.zext(args[0], _I32)
        sign = builder.shl(builder.and_(bits, _i32(0x8000)), _i32(16))
        exponent = builder.and_(bits, _i32(0x7C00))
        mantissa = builder.and_(bits, _i32(0x3FF))
        scaled = builder.fmul(builder.sitofp(mantissa, _F32), ir.Constant(_F32, 2.0**-24))
        subnormal = builder.bitcast(scaled, _I32)
        special = builder.or_(_i32(0x7F800000), builder.shl(mantissa, _i32(13)))  # infinity, NaN
        normal = builder.shl(builder.add(builder.and_(bits, _i32(0x7FFF)), _i32((127 - 15) << 10)), _i32(13))
        is_zero_exponent = builder.icmp_unsigned("==", exponent, _i32(0))
        is_top_exponent = builder.icmp_unsigned("==", exponent, _i32(0x7C00))
        wide = builder.select(is_top_exponent, special, normal)
        magnitude = builder.select(is_zero_exponent, subnormal, wide)
        return builder.bitcast(builder.or_(sign, magnitude), _F32)

    return types.float32(h), codegen


@intrinsic
def float32_to_half_portable(typingctx, x):
    """The float32 `x` rounded once to float16, as uint16 bits (nearest, ties to even).

    The rounding is one float32 addition: for ``|x|`` of binade ``E``, clamped
    to ``[-14, 15]`` (the normal halves' binades), ``C = 2**(E + 13)`` has ulp
    ``2**(E - 10)``, the spacing of halves there, so ``(|x| + C) - C`` is ``|x|``
    rounded to nearest-even on the half grid, exactly (the subtraction is
    exact); below ``2**-14`` the grid is the subnormal halves' ``2**-24``, and
    from ``2**16`` on every value rounds to infinity. Branch-free.
    """
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return _float32_to_half_bits(builder, args[0])

    return types.uint16(x), codegen


def _round_to_odd32(builder: Any, x: Any) -> Any:
    """The float64 `x` rounded to float32 *to odd*: truncated, its last bit set when inexact.

    Rounding to odd at 24 bits, then to nearest at 11, rounds once (to the
    nearest half): a float32 has at least 2 more bits than a half, so the odd
    last bit keeps a value off the half grid's ties (Boldo and Melquiond,
    "Emulation of FMA and correctly rounded sums: proved algorithms using
    rounding to odd", IEEE Trans. Computers 57(4), 2008). On the float64's
    bits: the 29 mantissa bits a float32 lacks are cleared, and the lowest kept
    one is set when any was set; the result is a float32 value, converted
    exactly. Outside the float32 normal range the conversion rounds, and it
    does not matter: below ``2**-126`` every value rounds to a zero half, from
    ``2**128`` on to an infinite one. A NaN stays a NaN.
    """
    i64 = ir.IntType(64)
    dropped = ir.Constant(i64, (1 << 29) - 1)
    bits = builder.bitcast(x, i64)
    inexact = builder.icmp_unsigned("!=", builder.and_(bits, dropped), ir.Constant(i64, 0))
    kept = builder.and_(bits, ir.Constant(i64, ~((1 << 29) - 1) & ((1 << 64) - 1)))
    odd = builder.or_(kept, builder.shl(builder.zext(inexact, i64), ir.Constant(i64, 29)))
    return builder.fptrunc(builder.bitcast(odd, x.type), _F32)


@intrinsic
def float64_to_half_portable(typingctx, x):
    """The float64 `x` rounded once to float16, as uint16 bits: rounded to odd in float32, then to a half.

    :func:`_round_to_odd32`, then :func:`float32_to_half_portable`'s rounding.
    """
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return _float32_to_half_bits(builder, _round_to_odd32(builder, args[0]))

    return types.uint16(x), codegen


@intrinsic
def half_to_float32_native(typingctx, h):
    """:func:`half_to_float32_portable` by the CPU (``fpext half to float``: ``vcvtph2ps``)."""
    if h != types.uint16:
        return None

    def codegen(context, builder, signature, args):
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), _F32)

    return types.float32(h), codegen


@intrinsic
def float32_to_half_native(typingctx, x):
    """:func:`float32_to_half_portable` by the CPU (``fptrunc float to half``: ``vcvtps2ph``)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(builder.fptrunc(args[0], ir.HalfType()), ir.IntType(16))

    return types.uint16(x), codegen


@intrinsic
def float64_to_half_native(typingctx, x):
    """:func:`float64_to_half_portable`: rounded to odd in float32 (:func:`_round_to_odd32`), then by the CPU.

    x86-64 has no float64 -> float16 instruction before AVX512-FP16 (LLVM would
    call a library function numba does not link).
    """
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        odd = _round_to_odd32(builder, args[0])
        return builder.bitcast(builder.fptrunc(odd, ir.HalfType()), ir.IntType(16))

    return types.uint16(x), codegen


HALF_CONVERSIONS: dict[str, tuple[Any, Any, Any]] = {
    "portable": (half_to_float32_portable, float32_to_half_portable, float64_to_half_portable),
    "native": (half_to_float32_native, float32_to_half_native, float64_to_half_native),
}
"""``(half_to_float32, float32_to_half, float64_to_half)`` of each route (``native``: F16C only)."""

half_to_float32, float32_to_half, float64_to_half = HALF_CONVERSIONS["native" if NATIVE_HALF else "portable"]


def _widen(x: Any) -> Any:  # pragma: no cover - only ever called from compiled code
    raise NotImplementedError("_widen is only callable from numba-compiled code")


@overload(_widen, jit_options=_JIT)
def _ov_widen(x):
    """A stored element as a float: uint16 bits are a float16 (widened exactly), floats stay as they are."""
    if x == types.uint16:
        return lambda x: half_to_float32(x)
    return lambda x: x


def make_kernel(scalar_formula: Any, compute: Any, half: bool = False) -> tuple[Any, Any]:
    """Two serial loops applying a compiled formula to flat arrays: ``(into_outputs, in_place)``.

    `half`: the arrays hold float16 values as uint16 bits (numba has no
    float16): each is widened exactly on the load (:func:`half_to_float32`)
    and each result rounded once on the store (:func:`float32_to_half` or
    :func:`float64_to_half`, by the compute dtype).

    Both have the signature ``(w, a, g, lr, l1, l2, adaptive, w_out, a_out)``:
    ``into_outputs`` writes into `w_out`, `a_out`; ``in_place`` writes the
    results over `w` and `a` and never touches `w_out`, `a_out` (pass anything
    of their type, e.g. `w` and `a`). They are compiled from one loop whose
    store is chosen when it is compiled: a loop reading ``w[i]`` and writing
    ``w_out[i]`` where both are the same memory would also be right, but LLVM's
    run-time alias check then rejects its vectorized body (4x slower). Each
    input element and hyper-parameter is converted to `compute` (the profile's
    compute dtype; a no-op when it is the input dtype) before the formula, and
    each result is rounded once to the output dtype on the store, as the
    reference engine does for whole arrays. Both release the GIL:
    :func:`evaluate` runs them on slices on the shared thread pool (:mod:`.pool`).
    """
    cls = np.dtype(compute).type
    to_half = float32_to_half if cls is np.float32 else float64_to_half
    store = (lambda x: to_half(x)) if half else (lambda x: x)
    store = numba.njit(inline="always", **_JIT)(store)

    @numba.njit(inline="always", **_JIT)
    def load(x: Any) -> Any:  # pragma: no cover - compiled
        return cls(_widen(x))

    def loop(write_over_inputs: bool) -> Any:
        def sweep(
            w: Any, a: Any, g: Any, lr: Any, l1: Any, l2: Any, adaptive: bool, w_out: Any, a_out: Any
        ) -> None:  # pragma: no cover - compiled
            lr_, l1_, l2_ = cls(lr), cls(l1), cls(l2)
            for i in range(w.shape[0]):
                w_new, a_new = scalar_formula(load(w[i]), load(a[i]), load(g[i]), lr_, l1_, l2_, adaptive)
                if write_over_inputs:  # a constant of the compiled loop: one branch is compiled away
                    w[i], a[i] = store(w_new), store(a_new)
                else:
                    w_out[i], a_out[i] = store(w_new), store(a_new)

        if not half:
            return numba.njit(nogil=True, **_JIT)(sweep)
        inlined = numba.njit(inline="always", **_JIT)(sweep)

        def versioned(
            w: Any, a: Any, g: Any, lr: Any, l1: Any, l2: Any, adaptive: bool, w_out: Any, a_out: Any
        ) -> None:  # pragma: no cover - compiled
            # One loop per outcome of the formulas' loop-invariant tests (``l1 > 0``, ``adaptive``),
            # each entered where its test is known, so LLVM folds the formula's branch inside it.
            # LLVM versions a loop by itself only below a size that the float16 loops exceed: in one
            # loop every element took both branches (exact float16: 2.5x slower).
            if cls(l1) > 0:
                if adaptive:
                    inlined(w, a, g, lr, l1, l2, True, w_out, a_out)
                else:
                    inlined(w, a, g, lr, l1, l2, False, w_out, a_out)
            elif adaptive:
                inlined(w, a, g, lr, l1, l2, True, w_out, a_out)
            else:
                inlined(w, a, g, lr, l1, l2, False, w_out, a_out)

        return numba.njit(nogil=True, **_JIT)(versioned)

    return loop(False), loop(True)


@intrinsic
def _prefetch(typingctx, table, row, col):
    """Hint the CPU to fetch ``table[row, col]`` for writing (LLVM ``prefetch``; no effect on results)."""
    if not (isinstance(table, types.Array) and table.ndim == 2):
        return None

    def codegen(context, builder, signature, args):
        table_type = signature.args[0]
        array = context.make_array(table_type)(context, builder, value=args[0])
        item = cgutils.get_item_pointer(
            context, builder, table_type, array, [args[1], args[2]], wraparound=False
        )
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        signature_ir = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        # the typed-pointer name; LLVM renames it where pointers are opaque (checked: LLVM 20 emits prefetchw)
        fn = cgutils.get_or_insert_function(builder.module, signature_ir, "llvm.prefetch.p0i8")
        write, keep, data = (ir.Constant(i32, v) for v in (1, 3, 1))  # write access, keep in all caches
        builder.call(fn, [builder.bitcast(item, i8p), write, keep, data])
        return context.get_dummy_value()

    return types.void(table, types.intp, types.intp), codegen


_prefetch_hint: Any = _prefetch  # called as prefetch(table, row, col) (the typing context is numba's)

_AHEAD = 8
"""Rows prefetched ahead by the row loops: random rows of a large table are DRAM accesses, and a
loop that waits for each in turn spends most of its time waiting (measured: 4,096 fresh rows of a
1 Mi x 64 float32 table, 2.5 -> 1.5 ms)."""


@numba.njit(inline="always", **_JIT)
def _prefetch_row(table: Any, idx: Any, r: int) -> None:  # pragma: no cover - compiled
    """Hint the CPU to fetch row ``idx[r + _AHEAD]`` of a 2-D `table` (one hint per 64-byte line)."""
    if r + _AHEAD < idx.shape[0]:
        for j in range(0, table.shape[1], max(1, 64 // table.itemsize)):
            _prefetch_hint(table, idx[r + _AHEAD], j)


@numba.njit(nogil=True, **_JIT)
def rows_non_negative(accum: Any, idx: Any) -> bool:  # pragma: no cover - compiled
    """True when every element of the rows ``accum[idx]`` (2-D) is ``>= 0``; False at a negative or NaN.

    Prefetches the rows :data:`_AHEAD` rows ahead; no exit inside a row, so
    the inner loop vectorizes (7x faster).
    """
    for r in range(idx.shape[0]):
        _prefetch_row(accum, idx, r)
        row = accum[idx[r]]
        ok = True
        for j in range(accum.shape[1]):
            ok &= row[j] >= 0
        if not ok:
            return False
    return True


def make_row_kernel(scalar_formula: Any, compute: Any) -> Any:
    """The loop over the rows of a table that a sparse step touches, updating them in place.

    ``rows_in_place(var, accum, grad, idx, lr, l1, l2, adaptive)`` applies the
    formula to ``var[idx[r]], accum[idx[r]]`` with ``grad[r]``, in place: no
    gather, no scatter, one pass over the touched rows. `var` and `accum` are
    2-D ``(rows, inner)``, `grad` is ``(len(idx), inner)``, and the indices must
    be distinct (duplicate rows are summed before). Conversions to `compute` and
    the rounding on the store are those of :func:`make_kernel`. The loop
    prefetches the rows :data:`_AHEAD` rows ahead (one hint per 64-byte line).
    """
    cls = np.dtype(compute).type

    def rows_in_place(
        var: Any, accum: Any, grad: Any, idx: Any, lr: Any, l1: Any, l2: Any, adaptive: bool
    ) -> None:  # pragma: no cover - compiled
        lr_, l1_, l2_ = cls(lr), cls(l1), cls(l2)
        inner = var.shape[1]
        for r in range(idx.shape[0]):
            _prefetch_row(var, idx, r)
            _prefetch_row(accum, idx, r)
            w = var[idx[r]]
            a = accum[idx[r]]
            g = grad[r]
            for j in range(inner):
                w_new, a_new = scalar_formula(cls(w[j]), cls(a[j]), cls(g[j]), lr_, l1_, l2_, adaptive)
                w[j] = w_new
                a[j] = a_new

    return numba.njit(nogil=True, **_JIT)(rows_in_place)


@numba.njit(nogil=True)
def csr_touched_rows(indptr: Any) -> Any:  # pragma: no cover - compiled
    """The rows of a CSR ``indptr`` that hold entries, ascending, as a new int64 array.

    Walks from one non-empty row to the next: the row holding entry ``p`` is
    the last ``r`` with ``indptr[r] <= p``, found by a galloping search forward
    from the previous row (steps 1, 2, 4, ... then bisection), so the cost is
    O(touched rows x log gap) and stays near the previous row in memory; a scan
    of every row costs O(rows). `indptr` must be non-decreasing (scipy checks
    it). The result grows by doubling from 1 Ki rows: sizing it for the worst
    case (``min(rows, nnz)``) allocated megabytes that the kernel then had to
    fault in (and zero, as huge pages) on every call.
    """
    n = indptr.shape[0] - 1
    end = indptr[n]
    p = indptr[0]
    out = np.empty(min(n, 1024), np.int64)
    lo = 0  # invariant: indptr[lo] <= p < end = indptr[n]
    count = 0
    while p < end:
        step = 1
        hi = min(lo + 1, n)
        while indptr[hi] <= p:  # stops by hi == n at the latest
            lo = hi
            step *= 2
            hi = min(lo + step, n)
        while hi - lo > 1:  # indptr[lo] <= p < indptr[hi]
            mid = (lo + hi) // 2
            if indptr[mid] <= p:
                lo = mid
            else:
                hi = mid
        if count == out.shape[0]:
            grown = np.empty(min(n, 2 * count), np.int64)
            grown[:count] = out
            out = grown
        out[count] = lo
        count += 1
        lo += 1
        p = indptr[lo]
    return out[:count]


# -- drivers -----------------------------------------------------------------------------------

MIN_PARALLEL = 1 << 18
"""Below this many elements the compiled loop runs on the calling thread (~0.5 ms of work)."""

_KERNELS: dict[tuple[Formula, np.dtype[Any], str], Any] = {}
_KERNELS_LOCK = threading.Lock()


def kernel(formula: Formula, compute: np.dtype[Any], kind: str = "dense") -> Any:
    """The compiled loops of `formula` for compute dtype `compute` (built once, kept).

    ``kind="dense"``: ``(into_outputs, in_place)`` of :func:`make_kernel`;
    ``kind="half"``: the same loops over float16 arrays held as uint16 bits;
    ``kind="rows"``: ``rows_in_place`` of :func:`make_row_kernel`.
    """
    key = (formula, compute, kind)
    with _KERNELS_LOCK:
        found = _KERNELS.get(key)
        if found is None:
            scalar = compile_formula(formula, compute)
            if kind == "rows":
                found = make_row_kernel(scalar, compute)
            else:
                found = make_kernel(scalar, compute, half=kind == "half")
            _KERNELS[key] = found
        return found


def _scalars(hyper: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
    """The 0-d hyper-parameters as scalars numba takes (a float16 one widened exactly to float32)."""
    lr, l1, l2 = (h[()].astype(np.float32) if h.dtype == np.float16 else h[()] for h in hyper)
    return lr, l1, l2


def evaluate(task: Elementwise, flat: tuple[np.ndarray, ...], *, in_place: bool, threads: int) -> None:
    """Run the compiled loop of `task` over the flat views ``(w, a, g, w_out, a_out)``.

    Whole arrays on the calling thread, or a few slices per thread on the pool
    (on a loaded machine a descheduled worker then holds up less). `in_place`:
    the outputs are the inputs `w` and `a`.
    """
    w, a, g, w_out, a_out = flat
    compute = np.dtype(task.profile.compute_dtype(task.xp, w.dtype))
    half = w.dtype == np.float16
    into_outputs, over_inputs = kernel(task.formula, compute, "half" if half else "dense")
    if half:  # float16 values as their bits (the gradient too: a float16 gradient of a float16 table)
        w, a, w_out, a_out = (x.view(np.uint16) for x in (w, a, w_out, a_out))
        g = g.view(np.uint16) if g.dtype == np.float16 else g
    hyper, adaptive = _scalars(task.hyper), task.adaptive

    def run(start: int, stop: int) -> None:
        loop = over_inputs if in_place else into_outputs
        part = slice(start, stop)
        loop(w[part], a[part], g[part], *hyper, adaptive, w_out[part], a_out[part])

    n = w.shape[0]
    if threads <= 1 or n < MIN_PARALLEL:
        run(0, n)
        return
    pieces = min(4 * threads, max(1, n // (MIN_PARALLEL // 2)))
    bounds = [n * k // pieces for k in range(pieces + 1)]
    run_all(run, bounds[:-1], bounds[1:], threads=threads)


def update_rows(task: RowUpdate, *, inplace: bool, threads: int) -> tuple[Any, Any] | None:
    """The rows of `task` updated by one compiled pass over the table (in place, or in updated copies).

    The fused form of "gather the rows, evaluate the formula, scatter them
    back": the same formula, conversions and rounding on each element, so the
    same bits, without the four passes of gathered copies. The caller
    (:func:`proxadagrad_ref.engines.dispatch.update_rows`) has checked that the
    arrays suit it. Unless ``task.checked``, the touched accumulators are
    checked first: None, with nothing written or copied, when one is negative or NaN.
    """
    var, accum, grad, idx = task.var, task.accum, task.grad, task.idx
    compute = np.dtype(task.profile.compute_dtype(task.xp, var.dtype))
    k = idx.shape[0]
    inner = var.size // var.shape[0] if var.shape[0] else 0
    if not task.checked and not rows_non_negative(accum.reshape(accum.shape[0], inner), idx):
        return None
    in_place = kernel(task.formula, compute, "rows")
    if not inplace:
        var, accum = var.copy(), accum.copy()
    table, acc = var.reshape(var.shape[0], inner), accum.reshape(accum.shape[0], inner)
    rows = grad.reshape(k, inner)
    hyper, adaptive = _scalars(task.hyper), task.adaptive
    if threads <= 1 or k * inner < MIN_PARALLEL or k < 2:
        in_place(table, acc, rows, idx, *hyper, adaptive)
        return var, accum
    pieces = min(4 * threads, k)
    bounds = [k * j // pieces for j in range(pieces + 1)]

    def run(start: int, stop: int) -> None:
        in_place(table, acc, rows[start:stop], idx[start:stop], *hyper, adaptive)

    run_all(run, bounds[:-1], bounds[1:], threads=threads)
    return var, accum
