"""Public dense kernel: one Proximal Adagrad step on whole arrays, checked first, then evaluated.

:func:`apply_proximal_adagrad` is a pipeline of checks, then arithmetic:
:func:`~.checks.check_common` and :func:`~.checks.prepare_kind` (the checks that depend
only on the parameter's kind and the profile), :func:`prepare_dense` (the
per-array checks, giving a :class:`DenseStep`), :func:`run_dense`. A prepared
step performs only arithmetic: with the fast engines it cannot raise for
inputs that passed the checks. The optimizer prepares every parameter's step
before it runs any (:mod:`proxadagrad_ref.optim.pipeline`), making the kind
checks once per kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends.compat import dtype_name
from ..engines.dispatch import check_engine, evaluate
from ..numerics.profiles import Profile
from . import backends
from .checks import (
    KernelStep,
    Kind,
    check_accum,
    check_common,
    check_in_place,
    check_like_var,
    prepare_kind,
)

__all__ = ["DenseStep", "apply_proximal_adagrad", "prepare_dense", "run_dense"]

Array = Any
Namespace = Any


@dataclass(frozen=True, slots=True)
class DenseStep(KernelStep):
    """A dense step that passed every check of the kernel: what :func:`run_dense` evaluates.

    The fields of :class:`~.checks.KernelStep` and ``grad``, the gradient
    (same namespace, device, dtype and shape as `var`).
    """

    grad: Array


def prepare_dense(
    kind: Kind, var: Array, accum: Array, grad: Array, *, inplace: bool, engine: str
) -> DenseStep:
    """The per-array checks of a dense step of a checked :class:`~.checks.Kind`; the step to run.

    With :func:`~.checks.check_common` and :func:`~.checks.prepare_kind` before it, every
    check of :func:`apply_proximal_adagrad`; it raises what that function raises.
    """
    xp = kind.xp
    check_engine(engine, xp)
    if inplace:
        check_in_place(var, accum, xp)
    check_like_var("grad", grad, var, xp)
    check_accum(accum, xp)
    return DenseStep(kind, var, accum, inplace, engine, grad)


def run_dense(step: DenseStep) -> tuple[Array, Array]:
    """Evaluate a prepared step: ``(var_new, accum_new)``, written into var and accum when in place.

    Only arithmetic: no argument is checked again. With ``engine="auto"`` a
    step from :func:`prepare_dense` does not raise (memory and a failing numba
    compilation aside); an `engine` that does not apply to the arrays raises
    here, before anything is written.
    """
    profile, var, accum, grad = step.kind.profile, step.var, step.accum, step.grad
    out = (var, accum) if step.inplace else None
    with np.errstate(all="ignore"):  # IEEE special values are documented semantics, not warnings
        head = _head(profile, step.kind.xp, var)
        if head is None:
            # Elementwise: the fast engines write each block's results straight into the
            # outputs (var/accum themselves when inplace), with the formula's bits.
            return evaluate(step.task(profile.dense, var, accum, grad), out=out, engine=step.engine)
        return _with_tail(step, head)


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
    (the formula their documentation prints); each profile's arithmetic is
    written in :mod:`proxadagrad_ref.numerics.profiles`.

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
        ``"auto"`` uses numba where it imports (a dependency where it has
        wheels), else cache-sized NumPy blocks; ``"reference"`` evaluates whole arrays (every
        namespace). For CuPy arrays, ``"cupy"`` runs one fused kernel
        generated from the profile's formula (float32/float64, a formula with
        a C++ form: exact and MindSpore); ``"auto"`` runs it where it applies
        and the NumPy engines on host copies elsewhere (TensorFlow, float16),
        as ``"reference"`` does always: CuPy's own operations flush float32
        subnormals, so none of them computes a step. ``"auto"`` uses
        ``"reference"`` for other namespaces. See ``docs/performance.md``.

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
    options = {"prox_step": prox_step, "emulate": emulate, "inplace": inplace, "engine": engine}
    if type(var) is not np.ndarray:  # torch, JAX, Dask: see .backends
        routed = backends.dense(apply_proximal_adagrad, var, accum, lr, l1, l2, grad, **options)
        if routed is not None:
            return routed
    check_common(var, accum, inplace)
    kind = prepare_kind(var, lr, l1, l2, prox_step=prox_step, emulate=emulate, op="dense")
    return run_dense(prepare_dense(kind, var, accum, grad, inplace=inplace, engine=engine))


def _size(x: Array) -> int:
    n = 1
    for d in x.shape:
        n *= int(d)
    return n


def _head(profile: Profile, xp: Namespace, var: Array) -> int | None:
    """Where the scalar tail of the profile's SIMD kernel starts in flattened `var`; None without a tail."""
    if profile.tail is None:
        return None
    n = _size(var)
    tail = n % profile.block(dtype_name(xp, var.dtype))
    return n - tail if tail else None


def _with_tail(step: DenseStep, head: int) -> tuple[Array, Array]:
    """Evaluate a SIMD kernel whose last ``n % block`` elements (flattened) take a scalar path.

    This is the single-task launch (one thread); see the semantics reference
    for how MindSpore's auto-tuned thread split moves the tail. The head and the
    tail are written into the outputs' flat views where the arrays have them.
    """
    profile, xp = step.kind.profile, step.kind.xp
    var, accum, grad = step.var, step.accum, step.grad
    assert profile.tail is not None
    n = _size(var)
    w, a, g = (xp.reshape(x, (n,)) for x in (var, accum, grad))
    if step.inplace and type(var) is np.ndarray and var.flags.c_contiguous and accum.flags.c_contiguous:
        # flat C-order views of var and accum themselves: each part is written where it lies
        for formula, part, engine in (
            (profile.dense, slice(0, head), step.engine),
            (profile.tail, slice(head, n), "reference"),
        ):
            w_part, a_part = w[part], a[part]
            evaluate(step.task(formula, w_part, a_part, g[part]), out=(w_part, a_part), engine=engine)
        return var, accum
    w_head, a_head = evaluate(step.task(profile.dense, w[:head], a[:head], g[:head]), engine=step.engine)
    w_tail, a_tail = evaluate(step.task(profile.tail, w[head:], a[head:], g[head:]), engine="reference")
    w_new = xp.reshape(xp.concat([w_head, w_tail]), var.shape)
    a_new = xp.reshape(xp.concat([a_head, a_tail]), var.shape)
    if step.inplace:
        var[...] = w_new
        accum[...] = a_new
        return var, accum
    return w_new, a_new
