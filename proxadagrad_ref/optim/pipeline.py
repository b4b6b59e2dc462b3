"""The optimizer step in two phases: check and prepare every parameter, then update every parameter in place.

**Phase 1** (:func:`plan_step`) runs every stage that can fail, for every
parameter, in update order, and writes nothing. Per parameter, in MindSpore's
order (``ProximalAdagrad.construct``):

1. :func:`~.grads.as_step_grad` -- check the gradient, convert to the work dtype;
2. :func:`~.weight_decay.apply_weight_decay` -- ``w * wd * loss_scale + g``;
3. :func:`~.centralization.centralize` -- gradient centralization;
4. :func:`~.loss_scale.scale_grad` -- times ``1/loss_scale``;
5. :func:`~.grads.sum_duplicates` -- sparse rows of one index summed;
6. :func:`~.grads.to_param_dtype` -- the one rounding of the exact profile;
7. :func:`detach` -- a gradient sharing memory with a parameter is copied
   (phase 2 writes parameters before it reads later gradients);
8. :func:`~.plans.plan_kernel` -- every check of the kernel (dtype and
   profile, accumulator, hyper-parameters, gradient, accumulator ``>= 0``),
   giving a :class:`~.plans.Plan`.

The learning rate of the step is read for every parameter first
(:func:`learning_rates`); weight-decay factors, profiles and the rounded
``lr``/``l1``/``l2`` are computed once per step for all the parameters that
share them (:class:`DecayFactors`, :class:`~.plans.Kernels`).

**Phase 2** (:func:`run_step`) executes the plans: each kernel writes the
parameter's own array and its accumulator (``inplace=True``), so
``Parameter.data`` keeps its identity from step to step, as a MindSpore
Parameter does. Phase 2 is arithmetic only: for inputs that passed phase 1
the kernels do not raise. A failure anywhere in phase 1 therefore leaves every
parameter, accumulator and the global step untouched (bit for bit, and not
rebound). Outside that guarantee: an interruption (``KeyboardInterrupt``) or
running out of memory during phase 2 can leave a step applied to some
parameters only.

Arrays that cannot be written in place (read-only NumPy arrays, JAX arrays)
and parameters whose memory overlaps another parameter's are updated
functionally in phase 1 and rebound in phase 2 (see :mod:`.plans`).
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

try:
    from numpy.lib.array_utils import byte_bounds as _byte_bounds  # NumPy 2
except ImportError:  # pragma: no cover - NumPy 1.26
    from numpy import byte_bounds as _byte_bounds  # type: ignore[attr-defined,no-redef]

from ..backends.compat import array_namespace, device, is_array, is_cupy_namespace, to_numpy
from ..backends.host import Host, host_of, is_tracer, library_name
from ..kernels.grads import RowTensor, is_row_tensor
from .centralization import centralization_applies, centralize
from .grads import StepGrad, as_step_grad, sum_duplicates, to_param_dtype
from .groups import ParamConfig
from .loss_scale import scale_grad
from .numerics import PipelineNumerics
from .plans import Kernels, Plan, execute, plan_kernel
from .validation import check_float, check_loss_scale
from .weight_decay import apply_weight_decay, decay_factor

__all__ = [
    "DecayFactors",
    "Hyper",
    "Layout",
    "byte_span",
    "detach",
    "effective_grad",
    "host_arrays",
    "host_grad",
    "learning_rates",
    "plan_step",
    "run_step",
]

Array = Any


@dataclass(frozen=True)
class Hyper:
    """The optimizer's scalar settings."""

    l1: float
    l2: float
    loss_scale: float
    emulate: str | None
    prox_step: str
    numerics: PipelineNumerics

    @classmethod
    def checked(
        cls,
        l1: object,
        l2: object,
        loss_scale: object,
        emulate: str | None,
        prox_step: str,
        numerics: PipelineNumerics,
    ) -> Hyper:
        """The settings after the optimizer's checks of `l1`, `l2` and `loss_scale` (naming them)."""
        return cls(
            check_float("l1", l1),
            check_float("l2", l2),
            check_loss_scale(loss_scale),
            emulate,
            prox_step,
            numerics,
        )


def _label(i: int, config: ParamConfig) -> str:
    return f"grads[{i}] (parameter {config.param.name!r})"


def learning_rates(configs: list[ParamConfig], step: int, numerics: PipelineNumerics) -> list[float]:
    """The learning rate of every parameter at `step`; each distinct source is read once."""
    cache: dict[int, float] = {}
    rates = []
    for config in configs:
        key = id(config.lr)
        if key not in cache:
            cache[key] = config.lr.at(step, numerics)
        rates.append(cache[key])
    return rates


class DecayFactors:
    """The weight-decay factors of one step: each source read once, by the first parameter using it.

    Parameters
    ----------
    step : int
        The global step.
    hyper : Hyper
        The optimizer's settings (loss scale, numerics).

    """

    def __init__(self, step: int, hyper: Hyper) -> None:
        self.step, self.hyper = step, hyper
        self._factors: dict[int, float] = {}

    def __call__(self, config: ParamConfig) -> float:
        """The factor ``wd * loss_scale`` of `config`'s weight decay at this step."""
        key = id(config.weight_decay)
        found = self._factors.get(key)
        if found is None:
            found = self._factors[key] = decay_factor(
                config.weight_decay,
                self.step,
                self.hyper.loss_scale,
                self.hyper.numerics,
                f"weight_decay of parameter {config.param.name!r}",
            )
        return found


def effective_grad(
    grad: object, config: ParamConfig, data: Array, hyper: Hyper, factors: DecayFactors
) -> StepGrad:
    """Stages 1-6: the gradient the kernel receives, for the parameter values `data`."""
    centralize_now = config.centralize and centralization_applies(tuple(data.shape))
    stages = config.decay or centralize_now or hyper.loss_scale != 1
    if is_cupy_namespace(array_namespace("parameter", data)):
        return _effective_grad_on_host(grad, data, _Stages(config, hyper, factors, stages, centralize_now))
    return _stages(grad, data, _Stages(config, hyper, factors, stages, centralize_now))


class _Stages(NamedTuple):
    """The stages of one parameter's gradient this step: its configuration, and which stages apply."""

    config: ParamConfig
    hyper: Hyper
    factors: DecayFactors
    any: bool  # some stage applies (decay, centralization, a loss scale)
    centralize: bool


def _stages(grad: object, data: Array, todo: _Stages) -> StepGrad:
    config, hyper = todo.config, todo.hyper
    numerics = hyper.numerics
    g = as_step_grad(grad, data, numerics, stages=todo.any)
    if config.decay:
        g = apply_weight_decay(g, data, todo.factors(config))
    if todo.centralize:
        g = centralize(g, numerics)
    g = scale_grad(g, hyper.loss_scale, numerics)
    g = sum_duplicates(g)
    return to_param_dtype(g, data)


def _effective_grad_on_host(grad: object, data: Array, todo: _Stages) -> StepGrad:
    """Stages 1-6 of a CuPy parameter: checked on the device, computed on NumPy copies, copied back.

    CuPy's own float operations flush float32 subnormals (see
    :mod:`proxadagrad_ref.engines.cupy`), and the stages are CuPy operations
    on CuPy arrays: the decay, centralization, loss scale, widening to float64,
    rounding back. They run on the host instead, with NumPy's bits; a dense
    gradient with no stage to apply stays on the device untouched. The
    parameter is copied to the host only for weight decay.
    """
    xp = array_namespace("parameter", data)
    # Every check, and no arithmetic: the values stay in the parameter dtype.
    checked = as_step_grad(grad, data, replace(todo.hyper.numerics, wide=False), stages=False)
    if checked.indices is None and not todo.any:
        return checked
    host_data = to_numpy(data) if todo.config.decay else np.broadcast_to(np.zeros((), data.dtype), data.shape)
    values = to_numpy(checked.values)
    host_grad = values if checked.indices is None else (to_numpy(checked.indices), values)
    g = _stages(host_grad, host_data, todo)
    where = device(data)
    indices = None if g.indices is None else xp.asarray(g.indices, device=where)
    return StepGrad(xp.asarray(g.values, device=where), indices)


def byte_span(x: object) -> tuple[int, int] | None:
    """The addresses ``[low, high)`` a NumPy array's elements lie in; None for other arrays and empty ones.

    Read off the memory itself, not the ``base`` chain: a torch tensor's or a
    JAX array's NumPy view (:mod:`proxadagrad_ref.backends.host`) has the
    tensor as its base, so two views of one storage have different bases.
    """
    if not isinstance(x, np.ndarray) or x.size == 0:
        return None
    low, high = _byte_bounds(x)
    return int(low), int(high)


@dataclass(frozen=True)
class Layout:
    """Where the parameters' memory lies, for one step (NumPy arrays, torch and JAX views).

    Attributes
    ----------
    lows : tuple of int
        The parameters' lowest addresses (:func:`byte_span`), sorted.
    reach : tuple of int
        ``reach[k]``: the highest end of the spans ``0..k`` in that order.
    shared : frozenset of int
        Positions of the parameters whose span overlaps another parameter's
        (they may share memory: ``numpy.may_share_memory``'s own test).

    """

    lows: tuple[int, ...]
    reach: tuple[int, ...]
    shared: frozenset[int]

    @classmethod
    def of(cls, datas: list[Array]) -> Layout:
        """The layout of the parameters' arrays: one sweep over their spans sorted by address."""
        spans = sorted((s, i) for i, s in enumerate(map(byte_span, datas)) if s is not None)
        shared: set[int] = set()
        open_: list[tuple[int, int]] = []  # (high, position) of the spans that reach the current one
        for (low, high), i in spans:
            open_ = [(h, j) for h, j in open_ if h > low]
            if open_:
                shared.update((i, *(j for _, j in open_)))
            open_.append((high, i))
        reach = itertools.accumulate((high for (_, high), _ in spans), max)
        return cls(tuple(low for (low, _), _ in spans), tuple(reach), frozenset(shared))

    def overlaps(self, x: object) -> bool:
        """True when array `x` may share memory with a parameter (a binary search: O(log parameters))."""
        span = byte_span(x)
        if span is None:
            return False
        before = bisect.bisect_left(self.lows, span[1])  # the spans that start below x's end
        return before > 0 and self.reach[before - 1] > span[0]


def detach(grad: StepGrad, layout: Layout) -> StepGrad:
    """Stage 7: copy gradient values that share memory with a parameter (they may *be* a parameter's array).

    Phase 2 writes the parameters one after the other; a later parameter's
    gradient must still hold the values it had when the step was called.
    """
    if layout.overlaps(grad.values):
        return grad.replace(grad.values.copy(order="K"))
    return grad


def plan_step(
    configs: list[ParamConfig], accums: list[Array], grads: object, step: int, hyper: Hyper
) -> list[Plan]:
    """Phase 1: every stage and every kernel check for every parameter; raises before anything is written.

    Errors raised for one parameter are re-raised with the same class and a
    message that starts with the gradient and parameter concerned.
    """
    if not isinstance(grads, (tuple, list)):
        raise TypeError(f"grads must be a tuple with one gradient per parameter, got {type(grads).__name__}")
    if len(grads) != len(configs):
        raise ValueError(f"grads has {len(grads)} gradients but the optimizer has {len(configs)} parameters")
    rates = learning_rates(configs, step, hyper.numerics)
    numerics = hyper.numerics
    kernels = Kernels(hyper.emulate, hyper.prox_step, numerics.scalar(hyper.l1), numerics.scalar(hyper.l2))
    factors = DecayFactors(step, hyper)
    arrays = [host_arrays(config.param.data, accum) for config, accum in zip(configs, accums, strict=True)]
    layout = Layout.of([data for _, data, _ in arrays])
    plans = []
    with np.errstate(all="ignore"):  # IEEE special values are documented semantics, not warnings
        for i, (config, (host, data, accum), grad, lr) in enumerate(
            zip(configs, arrays, grads, rates, strict=True)
        ):
            try:
                g = effective_grad(host_grad(host, grad, config.param.data), config, data, hyper, factors)
                alone = i not in layout.shared
                plans.append(
                    plan_kernel(
                        i, config.param, data, accum, detach(g, layout), lr, kernels, alone=alone, host=host
                    )
                )
            except (TypeError, ValueError, IndexError) as exc:
                raise _with_prefix(exc, _label(i, config)) from exc
    return plans


def host_arrays(data: Array, accum: Array) -> tuple[Host | None, Array, Array]:
    """A torch or JAX parameter's values and accumulator as NumPy views (see backends.host).

    Their libraries' arithmetic is not used (``proxadagrad_ref.kernels.backends``
    says why): the stages and the kernel run on the views, a torch parameter is
    updated through them in place. Other arrays come back as they are.
    """
    host = host_of(data)
    if host is None:
        return None, data, accum
    if is_tracer(data):
        raise TypeError("the optimizer steps concrete arrays; it cannot run inside jax.jit")
    host.check("the parameter", data)
    return host, host.view(data), host.view(accum)


def host_grad(host: Host | None, grad: object, data: Array) -> object:
    """`grad` with the arrays inside it (dense, RowTensor, ``(indices, values)``) as NumPy views."""
    if host is None:
        return grad

    def view(x: Any) -> Any:
        if not is_array(x):
            return x
        if not host.owns(x):
            raise TypeError(
                f"the gradient is a {library_name(x)} array but the parameter is a {host.library} array"
            )
        host.check("the gradient", x)
        return host.view(x)

    if isinstance(grad, tuple):
        return tuple(view(x) for x in grad)
    if is_row_tensor(grad):
        return RowTensor(view(grad.indices), view(grad.values), tuple(grad.dense_shape))  # type: ignore[attr-defined]
    return view(grad)


def _with_prefix(exc: Exception, prefix: str) -> Exception:
    """The same error class (or its builtin base) with `prefix` in front of the message."""
    builtins = (TypeError, ValueError, IndexError)
    cls = type(exc) if type(exc) in builtins else next(c for c in builtins if isinstance(exc, c))
    return cls(f"{prefix}: {exc}")


def run_step(plans: list[Plan], accums: list[Array]) -> None:
    """Phase 2: execute every plan (kernels in place, or the rebinding of arrays computed in phase 1)."""
    for plan in plans:
        execute(plan, accums)
