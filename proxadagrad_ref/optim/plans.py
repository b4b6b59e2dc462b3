"""One parameter's kernel call, checked in phase 1 of the step and run in phase 2.

A :class:`Plan` is the kernel call of one parameter after every check the
kernel makes -- the kernels' own checks (:mod:`proxadagrad_ref.kernels`):
dtype and profile, accumulator like the parameter, hyper-parameters,
gradient like the parameter, accumulator ``>= 0`` (for a sparse gradient on
the touched rows). Running it (:func:`execute`) is arithmetic only. The checks
that depend only on the parameter's kind (namespace, dtype, device) -- the
profile, the rounded ``lr``, ``l1``, ``l2`` of a learning rate
(:func:`~proxadagrad_ref.kernels.checks.prepare_kind`) -- are made once per
step by :class:`Kernels` and shared by the parameters of that kind.

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

from ..backends.compat import device
from ..backends.host import Host, is_dask
from ..engines.dispatch import warm_up
from ..kernels.checks import Kind, check_like_var, in_place_refusal, prepare_kind
from ..kernels.dense import DenseStep, apply_proximal_adagrad, prepare_dense, run_dense
from ..kernels.sparse import SparseStep, prepare_sparse, run_sparse, sparse_apply_proximal_adagrad
from .grads import StepGrad
from .parameter import Parameter

__all__ = ["Kernels", "Plan", "execute", "plan_kernel", "run"]

Array = Any
Namespace = Any


class Plan(NamedTuple):
    """Phase 2 of one parameter: run `step` in place, or bind `result` (computed in phase 1).

    `position` is the parameter's place in update order (its accumulator's
    index); exactly one of `step` and `result` is None.
    """

    position: int
    param: Parameter
    step: DenseStep | SparseStep | None
    result: tuple[Array, Array] | None
    host: Host | None = None


def execute(plan: Plan, accums: list[Array]) -> None:
    """Phase 2 of one parameter: arithmetic and binding only, under the parameter's update lock.

    The update lock serializes the writes of concurrent steps (locked or not)
    to one parameter, so each array is always the result of whole updates.
    """
    with plan.param._update_lock:
        if plan.step is not None:
            run(plan.step)
            if plan.host is not None:  # written through NumPy views: what an in-place update records
                plan.host.commit(plan.param.data)
                plan.host.commit(accums[plan.position])
        elif plan.result is not None:
            plan.param.data, accums[plan.position] = plan.result


def run(step: DenseStep | SparseStep) -> tuple[Array, Array]:
    """Evaluate a checked dense or sparse step."""
    return run_dense(step) if isinstance(step, DenseStep) else run_sparse(step)


_WARM: set[tuple[Any, ...]] = set()


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
        self._kinds: dict[Any, Kind] = {}

    @staticmethod
    def key(var: Array) -> Any:
        """A hashable key for the type, dtype and device of `var`; None when they are not hashable."""
        key = (type(var), var.dtype, None if type(var) is np.ndarray else device(var))
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def kind(self, var: Array, lr: float, op: str) -> Kind:
        """The kernel's :func:`~proxadagrad_ref.kernels.checks.prepare_kind` for `var`, `lr` and `op`.

        For a NumPy parameter the numba kernels of the profile are compiled
        here (once per process), so that compilation cannot fail in phase 2.
        """
        key = self.key(var)
        found = self._kinds.get((key, lr, op)) if key is not None else None
        if found is None:
            found = prepare_kind(
                var, lr, self.l1, self.l2, prox_step=self.prox_step, emulate=self.emulate, op=op
            )
            if type(var) is np.ndarray and (self.emulate, self.prox_step, var.dtype) not in _WARM:
                warm_up(self.emulate, var.dtype, self.prox_step)
                _WARM.add((self.emulate, self.prox_step, var.dtype))
            if key is not None:
                self._kinds[(key, lr, op)] = found
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
    position: int,
    param: Parameter,
    var: Array,
    accum: Array,
    grad: StepGrad,
    lr: float,
    kernels: Kernels,
    *,
    alone: bool,
    host: Host | None = None,
) -> Plan:
    """Make every check of the parameter's kernel call; return its :class:`Plan`.

    `var` and `accum` are the parameter's values and accumulator (NumPy views
    of them for a torch or JAX parameter, whose :class:`Host` is `host`).
    `alone`: the parameter's memory overlaps no other parameter's (else the
    plan is computed now and bound in phase 2). The gradient has passed
    :func:`~.grads.as_step_grad` (its form, indices, namespace, device, dtype
    and shape) and :func:`~.grads.sum_duplicates` (distinct indices); the
    kernel's checks run on it as they would in a direct kernel call. A dask
    parameter's step is the kernels' lazy graph, bound in phase 2.
    """
    if is_dask(var):
        return Plan(position, param, None, _lazy(var, accum, grad, lr, kernels))
    kind = kernels.kind(var, lr, "dense" if grad.indices is None else "sparse")
    xp = kind.xp
    check_like_var("accum", accum, var, xp)
    inplace = _in_place(var, accum, xp, alone) and (host is None or host.in_place_refusal("var") is None)
    step: DenseStep | SparseStep
    if grad.indices is None:
        step = prepare_dense(kind, var, accum, grad.values, inplace=inplace, engine="auto")
    else:
        if var.ndim == 0:
            raise ValueError("var must have at least one dimension (rows) for a sparse update")
        step = prepare_sparse(
            kind, var, accum, grad.values, grad.indices, duplicates="sum", inplace=inplace, engine="auto"
        )
    if inplace:
        return Plan(position, param, step, None, host)
    w_new, a_new = run(step)
    if host is not None:
        w_new, a_new = host.back(w_new, param.data), host.back(a_new, param.data)
    return Plan(position, param, None, (w_new, a_new))


def _lazy(var: Array, accum: Array, grad: StepGrad, lr: float, kernels: Kernels) -> tuple[Array, Array]:
    """The dask kernels' lazy step (their checks on values run when it is computed)."""
    step, emulate = kernels.prox_step, kernels.emulate
    if grad.indices is None:
        return apply_proximal_adagrad(
            var, accum, lr, kernels.l1, kernels.l2, grad.values, prox_step=step, emulate=emulate
        )
    return sparse_apply_proximal_adagrad(
        var, accum, lr, kernels.l1, kernels.l2, grad.values, grad.indices, prox_step=step, emulate=emulate
    )
