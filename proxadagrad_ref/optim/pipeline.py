"""The optimizer step as a pipeline of small stages, computed for every parameter before anything is written.

Per parameter, in MindSpore's order (``ProximalAdagrad.construct``):

1. :func:`~.grads.as_step_grad` -- check the gradient, convert to the work dtype;
2. :func:`~.weight_decay.apply_weight_decay` -- ``w * wd * loss_scale + g``;
3. :func:`~.centralization.centralize` -- gradient centralization;
4. :func:`~.loss_scale.scale_grad` -- times ``1/loss_scale``;
5. :func:`~.grads.sum_duplicates` -- sparse rows of one index summed;
6. :func:`~.grads.to_param_dtype` -- the one rounding of the exact profile;
7. the kernel (:func:`~proxadagrad_ref.apply_proximal_adagrad` or
   :func:`~proxadagrad_ref.sparse_apply_proximal_adagrad`, ``inplace=False``)
   with the learning rate of the current step.

:func:`compute_step` runs all of it and returns the new arrays; :func:`commit`
writes them. A failure anywhere in :func:`compute_step` therefore leaves every
parameter, accumulator and the global step untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._dense import apply_proximal_adagrad
from .._sparse import sparse_apply_proximal_adagrad
from .centralization import centralization_applies, centralize
from .grads import StepGrad, as_step_grad, sum_duplicates, to_param_dtype
from .groups import ParamConfig
from .loss_scale import scale_grad
from .numerics import PipelineNumerics
from .weight_decay import apply_weight_decay, decay_factor

__all__ = ["Hyper", "commit", "compute_step", "learning_rates"]

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


def effective_grad(grad: object, config: ParamConfig, step: int, hyper: Hyper) -> StepGrad:
    """Stages 1-6: the gradient the kernel receives."""
    data = config.param.data
    numerics = hyper.numerics
    centralize_now = config.centralize and centralization_applies(tuple(data.shape))
    stages = config.decay or centralize_now or hyper.loss_scale != 1
    g = as_step_grad(grad, data, numerics, stages=stages)
    if config.decay:
        factor = decay_factor(
            config.weight_decay,
            step,
            hyper.loss_scale,
            numerics,
            f"weight_decay of parameter {config.param.name!r}",
        )
        g = apply_weight_decay(g, data, factor)
    if centralize_now:
        g = centralize(g, numerics)
    g = scale_grad(g, hyper.loss_scale, numerics)
    g = sum_duplicates(g)
    return to_param_dtype(g, data)


def run_kernel(data: Array, accum: Array, grad: StepGrad, lr: float, hyper: Hyper) -> tuple[Array, Array]:
    """Stage 7: one kernel call with ``inplace=False``."""
    l1, l2 = hyper.numerics.scalar(hyper.l1), hyper.numerics.scalar(hyper.l2)
    if grad.indices is None:
        return apply_proximal_adagrad(
            data,
            accum,
            lr,
            l1,
            l2,
            grad.values,
            prox_step=hyper.prox_step,
            emulate=hyper.emulate,
            inplace=False,
        )
    return sparse_apply_proximal_adagrad(
        data,
        accum,
        lr,
        l1,
        l2,
        grad.values,
        grad.indices,
        duplicates="sum",
        prox_step=hyper.prox_step,
        emulate=hyper.emulate,
        inplace=False,
    )


def compute_step(
    configs: list[ParamConfig], accums: list[Array], grads: object, step: int, hyper: Hyper
) -> list[tuple[Array, Array]]:
    """New ``(param, accum)`` arrays for every parameter; raises before anything is written.

    Errors raised by a stage are re-raised with the same class and a message
    that starts with the gradient and parameter concerned.
    """
    if not isinstance(grads, (tuple, list)):
        raise TypeError(f"grads must be a tuple with one gradient per parameter, got {type(grads).__name__}")
    if len(grads) != len(configs):
        raise ValueError(f"grads has {len(grads)} gradients but the optimizer has {len(configs)} parameters")
    rates = learning_rates(configs, step, hyper.numerics)
    results = []
    for i, (config, accum, grad, lr) in enumerate(zip(configs, accums, grads, rates, strict=True)):
        try:
            with np.errstate(all="ignore"):  # IEEE special values are documented semantics, not warnings
                g = effective_grad(grad, config, step, hyper)
            results.append(run_kernel(config.param.data, accum, g, lr, hyper))
        except (TypeError, ValueError, IndexError) as exc:
            raise _with_prefix(exc, _label(i, config)) from exc
    return results


def _with_prefix(exc: Exception, prefix: str) -> Exception:
    """The same error class (or its builtin base) with `prefix` in front of the message."""
    builtins = (TypeError, ValueError, IndexError)
    cls = type(exc) if type(exc) in builtins else next(c for c in builtins if isinstance(exc, c))
    return cls(f"{prefix}: {exc}")


def commit(configs: list[ParamConfig], accums: list[Array], results: list[tuple[Array, Array]]) -> None:
    """Write the new arrays: rebinds each ``Parameter.data`` and accumulator (cannot fail)."""
    for i, (config, (new_param, new_accum)) in enumerate(zip(configs, results, strict=True)):
        config.param.data = new_param
        accums[i] = new_accum
