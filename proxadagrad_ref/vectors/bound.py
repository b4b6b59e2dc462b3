r"""Forward error bound of one Proximal Adagrad step (``compliance.bound = "forward-v1"``).

For inputs that are exact numbers of the working dtype (unit roundoff ``u``),
every correct implementation -- with or without FMA, in the dtype or wider and
rounded once, chunked, with a square root or reciprocal square root of at most
``k`` ulps error -- returns, per element,

.. math:: |\hat w' - w'| \le B_w, \qquad |\hat a' - a'| \le B_a

where :math:`w', a'` are the real-number results. The derivation, step by step,
is in ``docs/conformance.md`` ("Error bound"); :func:`step_bound` follows it
line by line, one quantity per line. Inputs may carry uncertainties ``Ew``,
``Ea``, ``Eg`` (from earlier steps, or a sum of duplicate rows), which is how
sequential duplicates and trajectories chain the bound.

Everything is evaluated in float64 on magnitudes (sums of absolute values), so
the bound itself is computed to about 1e-15 relative; :data:`SAFETY` covers that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SAFETY", "Arith", "arith_for", "gamma", "step_bound", "sum_bound"]

SAFETY = 1.0 + 2.0**-40  # covers the float64 evaluation of the bound itself
F64 = np.float64
Array = Any


@dataclass(frozen=True)
class Arith:
    """Parameters of the arithmetic an implementation may use.

    Attributes
    ----------
    u : float
        Unit roundoff of the dtype (2**-11, 2**-24, 2**-53).
    tiny : float
        Absolute error a single rounded product or quotient may add near zero:
        half the smallest subnormal (gradual underflow) or the smallest normal
        (flush-to-zero profiles).
    max_finite : float
        Largest finite number of the dtype.
    k : float
        Accuracy of sqrt / rsqrt in ulps (0.5 = correctly rounded; 3 covers the
        frameworks' approximate rsqrt with a Newton step).

    """

    u: float
    tiny: float
    max_finite: float
    k: float = 3.0


def arith_for(dtype: Any, *, flush_to_zero: bool = False, k: float = 3.0) -> Arith:
    """The :class:`Arith` of a NumPy float dtype."""
    info = np.finfo(dtype)
    u = float(info.eps) / 2
    tiny = float(info.smallest_normal) if flush_to_zero else float(info.smallest_subnormal) / 2
    return Arith(u, tiny, float(info.max), k)


def gamma(n: float, u: float) -> float:
    r""":math:`\gamma_n = nu / (1 - nu)`: bounds :math:`|\prod (1+\delta_i)^{\pm 1} - 1|`, n roundings."""
    return n * u / (1.0 - n * u)


def sum_bound(rows_abs_sum: Array, count: Array, u: float) -> Array:
    r"""Error of summing ``count`` rows in any order: :math:`\gamma_{count-1} \sum |g_i|`."""
    n = np.maximum(np.asarray(count, F64) - 1.0, 0.0)
    return n * u / (1.0 - n * u) * np.asarray(rows_abs_sum, F64)


def step_bound(
    w: Array,
    a: Array,
    g: Array,
    lr: float,
    l1: float,
    l2: float,
    *,
    adaptive: bool,
    arith: Arith,
    Ew: Array = 0.0,
    Ea: Array = 0.0,
    Eg: Array = 0.0,
) -> dict[str, Array]:
    """Bound one step; return the real results and their bounds.

    Parameters
    ----------
    w, a, g : array
        Real (float64) parameter, accumulator and gradient.
    lr, l1, l2 : float
        Hyper-parameters (exact numbers of the dtype).
    adaptive : bool
        ``prox_step == "adaptive"``.
    arith : Arith
        The arithmetic allowed.
    Ew, Ea, Eg : array
        Uncertainty of the inputs (0 for exact inputs).

    Returns
    -------
    dict
        ``w_new``, ``a_new`` (real results, float64), ``Bw``, ``Ba`` (bounds, ``inf``
        where the step is not determined to within the dtype, NaN where the real
        result is not finite), and ``a_overflow`` (True where ``a'`` may round to inf).

    """
    u, tiny, k = arith.u, arith.tiny, arith.k
    w, a, g = (np.asarray(x, F64) for x in (w, a, g))
    Ew, Ea, Eg = (np.asarray(x, F64) for x in (Ew, Ea, Eg))
    with np.errstate(all="ignore"):
        # (1) a' = a + g*g: two roundings (or one FMA) on non-negative terms, plus underflow of g*g
        a1 = a + g * g
        g2_err = 2 * np.abs(g) * Eg + Eg * Eg  # |g^2 - g_hat^2|
        EA = Ea + g2_err + gamma(2, u) * (a1 + Ea + g2_err) + 2 * tiny
        delta_a = EA / a1  # relative error of the accumulator the step uses
        # (2) eta = lr / sqrt(a'): sqrt or rsqrt of k ulps (relative 2ku), one division or product
        eta = lr / np.sqrt(a1)
        rho_sqrt = gamma(2 * k, u)
        rho_eta = np.where(delta_a < 1, (1 - delta_a) ** -0.5 * (1 + rho_sqrt) * (1 + u) - 1, np.inf)
        E_eta = rho_eta * eta + tiny
        s, Es = (eta, E_eta) if adaptive else (F64(lr), F64(0.0))
        # (3) v = w - eta*g: one product and one subtraction (or one FMA)
        v = w - eta * g
        Ep = E_eta * (np.abs(g) + Eg) + eta * Eg
        Ep = Ep + u * (eta + E_eta) * (np.abs(g) + Eg) + tiny
        EV = Ew + Ep + u * (np.abs(w) + Ew + eta * np.abs(g) + Ep)
        # (4) threshold t = s*l1 and denominator d = 1 + s*l2
        t = s * l1
        ET = Es * l1 + u * (s + Es) * l1 + tiny
        d = 1 + s * l2
        q = Es * l2 + u * (s + Es) * l2 + tiny
        ED = q + u * (d + q)
        # (5) m = max(|v| - t, 0) (l1 > 0) or m = |v| (l1 == 0); max is 1-Lipschitz, a sign flip
        #     needs |v| <= EV and is covered by the same term
        if l1 > 0:
            m = np.maximum(np.abs(v) - t, 0.0)
            EM = EV + ET + u * (np.abs(v) + EV + t + ET)
        else:
            m = np.abs(v)
            EM = EV
        # (6) w' = sign(v) m / d, one division
        dlow = d - ED
        Bw = (EM + m * ED / d) / dlow + u * (m + EM) / dlow + tiny
        w_new = np.sign(v) * m / d
        Bw = np.where(dlow > 0, Bw, np.inf)
        finite = np.isfinite(w_new) & np.isfinite(a1) & (a1 > 0)
        Bw = np.where(finite, Bw * SAFETY, np.nan)
        Ba = np.where(np.isfinite(a1), EA * SAFETY, np.nan)
        a_overflow = a1 + EA > arith.max_finite
    return {"w_new": w_new, "a_new": a1, "Bw": Bw, "Ba": Ba, "a_overflow": a_overflow}
