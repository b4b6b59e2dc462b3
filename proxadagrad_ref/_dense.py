"""Public dense kernel: one Proximal Adagrad step on whole arrays, checked first, then evaluated.

The kernel is two functions: :func:`prepare_dense` runs every check and
returns a :class:`DenseStep`; :func:`run_dense` evaluates it. A prepared step
performs only arithmetic: with the fast engines it cannot raise for inputs
that passed the checks. :func:`apply_proximal_adagrad` is the two in a row;
the optimizer prepares every parameter's step before it runs any
(:mod:`proxadagrad_ref.optim.pipeline`). :func:`prepare_step` holds the checks
the dense and sparse kernels share.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import _fast
from ._profiles import Profile, get_profile
from ._validation import (
    check_floating_var,
    check_hyperparameter,
    check_like_var,
    check_non_negative,
    check_writable,
    dtype_name,
)

__all__ = [
    "DenseStep",
    "apply_proximal_adagrad",
    "check_accum",
    "check_in_place",
    "prepare_dense",
    "prepare_hyper",
    "prepare_step",
    "run_dense",
    "tail_split",
]

Array = Any
Namespace = Any


class DenseStep(NamedTuple):
    """A dense step that passed every check of the kernel: what :func:`run_dense` evaluates.

    Attributes
    ----------
    xp : namespace
        The arrays' array-API namespace.
    profile : Profile
        The numerics profile (already checked to define the dtype and `prox_step`).
    var, accum, grad : array
        The checked arrays (same namespace, device, dtype and shape).
    hyper : tuple of 3 arrays
        ``lr``, ``l1``, ``l2`` as 0-d arrays of the hyper-parameter dtype, checked.
    prox_step : str
        ``"adaptive"`` or ``"fixed"``.
    inplace : bool
        True: the results are written into `var` and `accum`.
    engine : str
        A name of :data:`proxadagrad_ref._fast.ENGINES`.
    tail : bool
        True: the profile's SIMD kernel leaves a scalar tail on these arrays
        (see :func:`tail_split`).

    """

    xp: Namespace
    profile: Profile
    var: Array
    accum: Array
    grad: Array
    hyper: tuple[Array, Array, Array]
    prox_step: str
    inplace: bool
    engine: str
    tail: bool


def prepare_hyper(
    lr: object, l1: object, l2: object, var: Array, xp: Namespace
) -> tuple[Array, Array, Array]:
    """``lr``, ``l1`` and ``l2`` checked and rounded for parameters like `var` (dtype, device).

    They depend on `var` only through its namespace, dtype and device, so a
    caller with many parameters of one kind may check them once.
    """
    return (
        check_hyperparameter("lr", lr, var, xp),
        check_hyperparameter("l1", l1, var, xp),
        check_hyperparameter("l2", l2, var, xp),
    )


def check_in_place(var: Array, accum: Array, xp: Namespace) -> None:
    """For ``inplace=True``: both arrays writable, and two distinct arrays."""
    check_writable("var", var, xp)
    check_writable("accum", accum, xp)
    if var is accum:
        raise ValueError("var and accum are the same array; inplace=True needs two distinct arrays")


def check_accum(accum: Array, xp: Namespace, name: str = "accum") -> None:
    """Refuse negative accumulators (one pass without a temporary for NumPy arrays)."""
    if not _fast.surely_non_negative(xp, accum):
        check_non_negative(name, accum, xp)


def tail_split(profile: Profile, xp: Namespace, var: Array) -> bool:
    """True when the profile's SIMD kernel gives the last ``size % block`` elements of `var` a scalar path."""
    return profile.tail is not None and bool(_size(var) % profile.block(dtype_name(xp, var.dtype)))


def prepare_step(
    var: object,
    accum: object,
    lr: object,
    l1: object,
    l2: object,
    *,
    prox_step: str,
    emulate: str | None,
    inplace: bool,
    op: str = "dense",
) -> tuple[Namespace, Profile, tuple[Array, Array, Array]]:
    """Run the checks shared by both kernels; return namespace, profile and rounded hyper-parameters."""
    xp = check_floating_var(var)
    check_like_var("accum", accum, var, xp)
    if not isinstance(inplace, bool):
        raise TypeError(f"inplace must be a bool, got {type(inplace).__name__}")
    profile = get_profile(emulate, prox_step, xp, var.dtype, op)  # type: ignore[attr-defined]
    hyper = prepare_hyper(lr, l1, l2, var, xp)
    if inplace:
        check_in_place(var, accum, xp)
    return xp, profile, hyper


def prepare_dense(
    var: Array,
    accum: Array,
    lr: float | Array,
    l1: float | Array,
    l2: float | Array,
    grad: Array,
    *,
    prox_step: str = "adaptive",
    emulate: str | None = None,
    inplace: bool = False,
    engine: str = "auto",
) -> DenseStep:
    """Every check of :func:`apply_proximal_adagrad` (same arguments); return the step to evaluate.

    Raises what :func:`apply_proximal_adagrad` raises for bad arguments; the
    returned step is evaluated by :func:`run_dense`.
    """
    xp, profile, hyper = prepare_step(
        var, accum, lr, l1, l2, prox_step=prox_step, emulate=emulate, inplace=inplace
    )
    check_like_var("grad", grad, var, xp)
    check_accum(accum, xp)
    return DenseStep(
        xp, profile, var, accum, grad, hyper, prox_step, inplace, engine, tail_split(profile, xp, var)
    )


def run_dense(step: DenseStep) -> tuple[Array, Array]:
    """Evaluate a prepared step: ``(var_new, accum_new)``, written into var and accum when in place.

    Only arithmetic: no argument is checked again. With ``engine="auto"`` a
    step from :func:`prepare_dense` does not raise (memory and a failing numba
    compilation aside); an `engine` name that is unknown or does not apply to
    the arrays raises here, before anything is written.
    """
    xp, profile, var, accum, grad, (lr, l1, l2), prox_step, inplace, engine, tail = step
    # IEEE special values are documented semantics, not warnings.
    with np.errstate(all="ignore"):
        if tail:
            return _with_tail(profile, xp, var, accum, grad, lr, l1, l2, prox_step, inplace, engine)
        # Elementwise: the fast engines write each block's results straight into the
        # outputs (var/accum themselves when inplace), with the formula's bits.
        return _fast.evaluate(
            profile, profile.dense, xp, var, accum, grad, lr, l1, l2, prox_step=prox_step,
            out=(var, accum) if inplace else None, engine=engine,
        )


def apply_proximal_adagrad(
    var: Array,
    accum: Array,
    lr: float | Array,
    l1: float | Array,
    l2: float | Array,
    grad: Array,
    *,
    prox_step: str = "adaptive",
    emulate: str | None = None,
    inplace: bool = False,
    engine: str = "auto",
) -> tuple[Array, Array]:
    r"""One Proximal Adagrad (FOBOS) step on dense arrays.

    .. math::

        a_{t+1} = a_t + g^2, \qquad
        \eta = \frac{lr}{\sqrt{a_{t+1}}}, \qquad
        v = w_t - \eta\, g, \qquad
        w_{t+1} = \frac{\operatorname{sign}(v)\,\max(|v| - s\,l_1,\ 0)}{1 + s\,l_2}

    where :math:`s = \eta` for ``prox_step="adaptive"`` (what the MindSpore and
    TensorFlow kernels compute) and :math:`s = lr` for ``prox_step="fixed"``
    (the formula their documentation prints).

    Parameters
    ----------
    var : array
        Parameters :math:`w_t`, float16, float32 or float64, any shape.
    accum : array
        Accumulators :math:`a_t`, same shape, dtype and library as `var`, ``>= 0``.
    lr, l1, l2 : float or 0-d array
        Learning rate and the l1/l2 regularization strengths, finite and ``>= 0``.
        They are rounded to `var`'s dtype first, as a framework kernel receives them.
    grad : array
        Gradient :math:`g`, same shape, dtype and library as `var`.
    prox_step : {"adaptive", "fixed"}
        Which step the proximal operator uses (see above).
    emulate : {None, "mindspore", "tensorflow"}
        ``None`` is the exact profile: evaluated in float64 and rounded once to
        `var`'s dtype. ``"mindspore"`` / ``"tensorflow"`` reproduce those
        frameworks' CPU kernels bit for bit (see the semantics reference).
    inplace : bool
        ``False`` returns new arrays and leaves the inputs untouched; ``True``
        writes the results into `var` and `accum` and returns them.
    engine : {"auto", "numba", "numpy", "reference", "cupy"}
        How the arrays are evaluated; never changes a bit. For NumPy arrays
        ``"auto"`` uses numba when installed (the ``fast`` extra), else
        cache-sized NumPy blocks; ``"reference"`` evaluates whole arrays (every
        namespace). ``"cupy"`` (CuPy arrays, opt-in) runs one fused kernel
        generated from the profile's formula; ``"auto"`` uses ``"reference"``
        for CuPy and other namespaces. See ``docs/performance.md``.

    Returns
    -------
    var_new, accum_new : array
        :math:`w_{t+1}` and :math:`a_{t+1}`, in `var`'s library, device and dtype.

    Raises
    ------
    TypeError
        Non-arrays, arrays of another library, non-floating or mismatched dtypes,
        a dtype the chosen profile does not define.
    ValueError
        Shape mismatch, negative or non-finite hyper-parameters, negative
        accumulators, unknown `emulate` / `prox_step`.

    Examples
    --------
    >>> import numpy as np
    >>> from proxadagrad_ref import apply_proximal_adagrad
    >>> w, a = np.array([1.0]), np.array([0.1])
    >>> apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, np.array([0.3]))[0].round(6)
    array([0.899078])
    >>> apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, np.array([0.3]), prox_step="fixed")[0].round(6)
    array([0.917005])

    """
    return run_dense(
        prepare_dense(
            var, accum, lr, l1, l2, grad, prox_step=prox_step, emulate=emulate, inplace=inplace, engine=engine
        )
    )


def _size(x: Array) -> int:
    n = 1
    for d in x.shape:
        n *= int(d)
    return n


def _with_tail(
    profile: Profile, xp: Namespace, var: Array, accum: Array, grad: Array,
    lr: Array, l1: Array, l2: Array, prox_step: str, inplace: bool, engine: str,
) -> tuple[Array, Array]:
    """Evaluate a SIMD kernel whose last ``n % block`` elements (flattened) take a scalar path.

    This is the single-task launch (one thread); see the semantics reference
    for how MindSpore's auto-tuned thread split moves the tail.
    """
    n = _size(var)
    head = n - n % profile.block(dtype_name(xp, var.dtype))
    w, a, g = (xp.reshape(x, (n,)) for x in (var, accum, grad))
    w_head, a_head = _fast.evaluate(
        profile, profile.dense, xp, w[:head], a[:head], g[:head], lr, l1, l2,
        prox_step=prox_step, engine=engine,
    )
    assert profile.tail is not None
    w_tail, a_tail = profile.evaluate(
        profile.tail, xp, w[head:], a[head:], g[head:], lr, l1, l2, prox_step=prox_step
    )
    w_new = xp.reshape(xp.concat([w_head, w_tail]), var.shape)
    a_new = xp.reshape(xp.concat([a_head, a_tail]), var.shape)
    if inplace:
        var[...] = w_new
        accum[...] = a_new
        return var, accum
    return w_new, a_new
