"""Floating-point building blocks the emulation profiles need, in standard array-API calls only.

Correctly rounded fused multiply-add
------------------------------------
``fma(a, b, c)`` must equal ``round(a*b + c)`` with a *single* rounding. For
float16 and float32 operands this module evaluates it in float64:

1. ``p = a*b`` is exact in float64: two 24-bit significands give at most 48 bits
   (11 + 11 bits for float16), and no product of two float32 can under- or
   overflow float64.
2. ``s = p + c`` is rounded to float64, and the error-free transformation
   TwoSum (Knuth) gives ``e`` with ``s + e == p + c`` exactly.
3. Rounding ``s`` to the target format gives the right answer *unless* ``s``
   lies exactly on a midpoint between two neighbouring target values while
   ``e != 0``: the first rounding then landed on the tie and the second
   rounding breaks it to even, whichever side the exact value was on. Every
   target midpoint is a float64 number (it needs one bit more than the target
   significand), so the case is detected exactly and the tie is broken towards
   the side of ``e``.

So ``float32(float64(a)*b + c)`` alone is *not* an exact FMA: it is wrong
exactly when the float64 addition is inexact and lands on a float32 midpoint
(e.g. ``a*b = 1 + 2**-24`` and ``c = 2**-60``). When the float64 addition is
exact (``e == 0``: operands whose exponents are within about 29 binades for
float32) the naive form is already correct. The tests compare this function
with an exact rational evaluation on random and adversarial inputs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["flush_subnormals", "fma", "round_to"]

Array = Any
Namespace = Any


def _two_sum(xp: Namespace, a: Array, b: Array) -> tuple[Array, Array]:
    """Return ``(s, e)`` with ``s = fl(a + b)`` and ``s + e == a + b`` exactly (finite inputs)."""
    s = a + b
    b_virtual = s - a
    a_virtual = s - b_virtual
    e = (a - a_virtual) + (b - b_virtual)
    return s, e


def round_to(xp: Namespace, s: Array, e: Array, dtype: Any) -> Array:
    """Round the exact value ``s + e`` (float64 pair, ``|e| <= ulp(s)/2``) once to `dtype`.

    `dtype` is float16 or float32. Only a float64 ``s`` sitting exactly on a
    midpoint of `dtype` with a non-zero ``e`` needs care; see the module notes.
    """
    r = xp.astype(s, dtype)
    toward = xp.where(e > 0, xp.asarray(xp.inf, dtype=dtype), xp.asarray(-xp.inf, dtype=dtype))
    other = xp.nextafter(r, toward)
    r64 = xp.astype(r, xp.float64)
    other64 = xp.astype(other, xp.float64)
    # The midpoint of two neighbours is exact in float64 (both are narrower floats).
    on_midpoint = (r64 + other64) * 0.5 == s
    # Where s is a tie and the exact value lies beyond it, the other neighbour is right.
    beyond = xp.where(e > 0, other64 > s, other64 < s)
    fix = on_midpoint & (e != 0) & beyond & xp.isfinite(s)
    # The tie between the largest finite value and the overflow threshold rounds to infinity,
    # unless the exact value lies just below it: then the largest finite value is right.
    largest = float(xp.finfo(dtype).max)
    threshold = (
        largest
        + (largest - float(xp.nextafter(xp.asarray(largest, dtype=dtype), xp.asarray(0.0, dtype=dtype))))
        * 0.5
    )
    below_overflow = (xp.abs(s) == threshold) & (e * s < 0)
    r = xp.where(below_overflow, xp.astype(xp.copysign(xp.full_like(s, largest), s), dtype), r)
    return xp.where(fix, other, r)


def fma(xp: Namespace, a: Array, b: Array, c: Array) -> Array:
    """Correctly rounded ``a*b + c`` for float16 or float32 arrays (one rounding).

    Parameters
    ----------
    xp : namespace
        The array namespace of the operands.
    a, b, c : array
        Operands of one floating dtype, float16 or float32, broadcastable.

    Returns
    -------
    array
        ``round(a*b + c)`` in the operands' dtype. Infinities and NaNs follow
        IEEE 754 (``inf*0 + c`` is NaN; ``inf + -inf`` is NaN).

    """
    dtype = a.dtype
    if dtype not in (getattr(xp, "float16", None), xp.float32):
        raise TypeError(f"fma is implemented for float16 and float32 operands, got {dtype}")
    a64, b64, c64 = (xp.astype(v, xp.float64) for v in (a, b, c))
    product = a64 * b64
    s, e = _two_sum(xp, product, c64)
    e = xp.where(xp.isfinite(s), e, xp.zeros_like(e))
    return round_to(xp, s, e, dtype)


def flush_subnormals(xp: Namespace, x: Array) -> Array:
    """Replace subnormal values by a zero of the same sign (flush-to-zero / denormals-are-zero)."""
    tiny = xp.finfo(x.dtype).smallest_normal
    return xp.where(xp.abs(x) < tiny, xp.copysign(xp.zeros_like(x), x), x)
