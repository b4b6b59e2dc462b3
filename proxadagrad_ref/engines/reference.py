"""The reference engine: a formula evaluated on whole arrays of any array-API namespace.

It defines the results every other engine must reproduce bit for bit. It
allocates O(N) temporaries (one array per operation of the formula).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .step import Elementwise

__all__ = ["evaluate", "widened"]

Array = Any


def widened(task: Elementwise) -> tuple[list[Array], Any] | None:
    """The six inputs converted to the profile's compute dtype, and that dtype; None when none needs it.

    The exact profile runs in float64, float16 parameters of the framework
    profiles in float32 (:meth:`~proxadagrad_ref.numerics.profiles.Profile.compute_dtype`).
    """
    xp = task.xp
    compute = task.profile.compute_dtype(xp, task.var.dtype)
    inputs = (task.var, task.accum, task.grad, *task.hyper)
    if all(x.dtype == compute for x in inputs):
        return None
    return [xp.astype(x, compute) for x in inputs], compute


def evaluate(task: Elementwise) -> tuple[Array, Array]:
    """``(var_new, accum_new)`` of `task`, in `var`'s dtype (one rounding from the compute dtype).

    IEEE special values are part of the documented semantics, so NumPy's
    floating-point warnings (used underneath by NumPy and array-api-strict)
    are silenced here.
    """
    xp = task.xp
    with np.errstate(all="ignore"):
        wide = widened(task)
        if wide is None:
            w_new, a_new = task.formula(task.var, task.accum, task.grad, *task.hyper, task.adaptive)
        else:
            w_new, a_new = task.formula(*wide[0], task.adaptive)
            w_new, a_new = xp.astype(w_new, task.var.dtype), xp.astype(a_new, task.var.dtype)
    if isinstance(w_new, np.generic):  # NumPy arithmetic on 0-d arrays returns scalars
        return np.asarray(w_new), np.asarray(a_new)
    return w_new, a_new
