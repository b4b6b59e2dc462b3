"""One parameter's kernel call, checked in phase 1 of the step and run in phase 2.

A :class:`Plan` is the kernel call of one parameter after every check the
kernel makes (:mod:`proxadagrad_ref._dense`: dtype and profile, accumulator
like the parameter, hyper-parameters, writability, gradient like the
parameter, accumulator ``>= 0``; for a sparse gradient the same on the touched
rows). Running it (:func:`execute`) is arithmetic only. The checks that depend
only on the parameter's kind (namespace, dtype, device) -- the profile, the
rounded ``lr``, ``l1``, ``l2`` of a learning rate -- are made once per step
by :class:`Kernels` and shared by the parameters of that kind.

A plan updates the parameter's own array and its accumulator **in place**
(``inplace=True``), except when that is impossible or unsafe: arrays that
cannot be written (a read-only NumPy array, a JAX array) or a parameter whose
memory overlaps another parameter's. Then the kernel runs functionally in
phase 1 and the plan holds the new arrays, which phase 2 binds (the
parameter's ``data`` and the accumulator are replaced, as every step did
before the in-place update).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._compat import device
from .._dense import (
    DenseStep,
    apply_proximal_adagrad,
    check_accum,
    prepare_hyper,
    run_dense,
    tail_split,
)
from .._profiles import Profile, get_profile
from .._sparse import sparse_apply_proximal_adagrad
from .._validation import check_floating_var, check_like_var, in_place_refusal
from .grads import StepGrad
from .parameter import Parameter

__all__ = ["Kernels", "Plan", "SparseStep", "execute", "plan_kernel", "run", "run_sparse"]

Array = Any
Namespace = Any


class SparseStep(NamedTuple):
    """A checked sparse kernel call: rows ``indices`` (distinct, in range) of `var` and `accum`."""

    var: Array
    accum: Array
    hyper: tuple[Array, Array, Array]
    values: Array
    indices: Array
    prox_step: str
    emulate: str | None
    inplace: bool


def run_sparse(step: SparseStep) -> tuple[Array, Array]:
    """Run a checked sparse step with :func:`~proxadagrad_ref.sparse_apply_proximal_adagrad`.

    Its own checks run again inside and pass: the plan made the same ones.
    """
    return sparse_apply_proximal_adagrad(
        step.var,
        step.accum,
        *step.hyper,
        step.values,
        step.indices,
        duplicates="sum",
        prox_step=step.prox_step,
        emulate=step.emulate,
        inplace=step.inplace,
    )


class Plan(NamedTuple):
    """Phase 2 of one parameter: run `step` in place, or bind `result` (computed in phase 1).

    `position` is the parameter's place in update order (its accumulator's
    index); exactly one of `step` and `result` is None.
    """

    position: int
    param: Parameter
    step: DenseStep | SparseStep | None
    result: tuple[Array, Array] | None


def execute(plan: Plan, accums: list[Array]) -> None:
    """Phase 2 of one parameter: arithmetic and binding only, under the parameter's update lock.

    The update lock serializes the writes of concurrent steps (locked or not)
    to one parameter, so each array is always the result of whole updates.
    """
    with plan.param._update_lock:
        if plan.step is not None:
            run(plan.step)
        elif plan.result is not None:
            plan.param.data, accums[plan.position] = plan.result


def run(step: DenseStep | SparseStep) -> tuple[Array, Array]:
    """Evaluate a checked dense or sparse step."""
    return run_dense(step) if isinstance(step, DenseStep) else run_sparse(step)


_PRIMED: set[tuple[Any, ...]] = set()


def _prime(emulate: str | None, prox_step: str, dtype: np.dtype[Any], op: str) -> None:
    """Run the in-place kernel `op` once on scratch arrays of `dtype` (once per process).

    Compiles what a first in-place call compiles (numba), so that this can
    fail in phase 1 rather than between two parameters' writes.
    """
    key = (emulate, prox_step, dtype, op)
    if key in _PRIMED:
        return
    w, a, g = np.ones((1, 8), dtype), np.ones((1, 8), dtype), np.ones((1, 8), dtype)
    if op == "dense":
        apply_proximal_adagrad(w, a, 0.5, 0.5, 0.5, g, prox_step=prox_step, emulate=emulate, inplace=True)
    else:
        sparse_apply_proximal_adagrad(
            w, a, 0.5, 0.5, 0.5, g, np.zeros(1, np.int64), prox_step=prox_step, emulate=emulate, inplace=True
        )
    _PRIMED.add(key)


class Kernels:
    """The parameter-independent kernel checks of one step, each made once and shared.

    Parameters
    ----------
    emulate, prox_step : str or None, str
        The optimizer's profile.
    l1, l2 : float
        The regularization strengths as the optimizer stores them.

    """

    def __init__(self, emulate: str | None, prox_step: str, l1: float, l2: float) -> None:
        self.emulate, self.prox_step, self.l1, self.l2 = emulate, prox_step, l1, l2
        self._profiles: dict[Any, Profile] = {}
        self._hyper: dict[Any, tuple[Array, Array, Array]] = {}

    @staticmethod
    def kind(var: Array, xp: Namespace) -> Any:
        """A hashable key for the namespace, dtype and device of `var`; None when they are not hashable."""
        key = (id(xp), var.dtype, None if type(var) is np.ndarray else device(var))
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def profile(self, kind: Any, var: Array, xp: Namespace, op: str) -> Profile:
        """The profile of the `op` kernel for `var` (``get_profile``'s checks); `kind` is :meth:`kind`'s."""
        found = self._profiles.get((kind, op)) if kind is not None else None
        if found is None:
            found = get_profile(self.emulate, self.prox_step, xp, var.dtype, op)
            if type(var) is np.ndarray:
                _prime(self.emulate, self.prox_step, var.dtype, op)
            if kind is not None:
                self._profiles[(kind, op)] = found
        return found

    def hyper(self, kind: Any, lr: float, var: Array, xp: Namespace) -> tuple[Array, Array, Array]:
        """``lr``, ``l1``, ``l2`` checked and rounded for `var` (``_dense.prepare_hyper``)."""
        found = self._hyper.get((kind, lr)) if kind is not None else None
        if found is None:
            found = prepare_hyper(lr, self.l1, self.l2, var, xp)
            if kind is not None:
                self._hyper[(kind, lr)] = found
        return found


def _in_place(var: Array, accum: Array, xp: Namespace, alone: bool) -> bool:
    """Whether the kernel may write `var` and `accum` themselves (``check_in_place`` would pass)."""
    return (
        alone
        and var is not accum
        and in_place_refusal("var", var, xp) is None
        and in_place_refusal("accum", accum, xp) is None
    )


def plan_kernel(
    position: int, param: Parameter, accum: Array, grad: StepGrad, lr: float, kernels: Kernels, *, alone: bool
) -> Plan:
    """Make every check of the parameter's kernel call; return its :class:`Plan`.

    `alone`: the parameter's memory overlaps no other parameter's (else the
    plan is computed now and bound in phase 2). The gradient has passed
    :func:`~.grads.as_step_grad` (its form, indices, namespace, device, dtype
    and shape); its values are checked again here as the kernel checks them.
    """
    var = param.data
    xp = check_floating_var(var)
    check_like_var("accum", accum, var, xp)
    kind = kernels.kind(var, xp)
    profile = kernels.profile(kind, var, xp, "dense" if grad.indices is None else "sparse")
    hyper = kernels.hyper(kind, lr, var, xp)
    inplace = _in_place(var, accum, xp, alone)
    values, indices, prox_step = grad.values, grad.indices, kernels.prox_step
    step: DenseStep | SparseStep
    if indices is None:
        check_like_var("grad", values, var, xp)
        check_accum(accum, xp)
        tail = tail_split(profile, xp, var)
        step = DenseStep(xp, profile, var, accum, values, hyper, prox_step, inplace, "auto", tail)
    else:
        if var.ndim == 0:
            raise ValueError("var must have at least one dimension (rows) for a sparse update")
        check_like_var("grad", values, var, xp, shape=(indices.shape[0], *var.shape[1:]))
        check_accum(xp.take(accum, indices, axis=0), xp, "accum (touched rows)")
        step = SparseStep(var, accum, hyper, values, indices, prox_step, kernels.emulate, inplace)
    return Plan(position, param, step, None) if inplace else Plan(position, param, None, run(step))
