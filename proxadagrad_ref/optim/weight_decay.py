r"""Weight decay: which parameters it touches, its factor at a step, and the decayed gradient.

MindSpore (``Optimizer.decay_weight`` / ``_apply_decay``) stores the factor
already multiplied by the loss scale, ``wd_s = wd * loss_scale``, and adds it
to the *unscaled* gradient; the later loss-scale stage divides the sum again:

.. math:: g \leftarrow w \cdot wd_s + g

For a sparse gradient the rows of ``w`` at the gradient's indices are decayed,
one per occurrence, *before* duplicates are summed: a row that appears twice
in the indices is decayed twice (MindSpore does exactly this).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..backends.compat import array_namespace, device, to_numpy
from ..backends.host import is_dask
from .grads import StepGrad
from .numerics import PipelineNumerics, to_float32
from .validation import check_rate

__all__ = [
    "FixedDecay",
    "ScheduledDecay",
    "WeightDecay",
    "apply_weight_decay",
    "decay_factor",
    "decays_by_name",
    "resolve_weight_decay",
]

Array = Any


@dataclass(frozen=True)
class FixedDecay:
    """A constant weight decay ``>= 0``."""

    value: float
    dynamic = False

    @property
    def active(self) -> bool:
        """Whether the decay is applied (``value > 0``)."""
        return self.value > 0


@dataclass(frozen=True)
class ScheduledDecay:
    """A weight decay computed from the global step (MindSpore's Cell form)."""

    schedule: Callable[[int], object]
    dynamic = True
    active = True


WeightDecay = FixedDecay | ScheduledDecay


def decays_by_name(name: str) -> bool:
    """MindSpore's default filter: ungrouped weight decay skips names containing ``beta`` or ``gamma``."""
    return "beta" not in name and "gamma" not in name


def resolve_weight_decay(value: object, name: str) -> WeightDecay:
    """Check a ``weight_decay`` argument: a float or int ``>= 0``, or a callable of the global step."""
    decay = check_rate(name, value, "a float, an int or a callable of the global step")
    if decay is not None:
        return FixedDecay(decay)
    if callable(value):
        return ScheduledDecay(value)
    raise TypeError(
        f"{name} must be a float, an int or a callable of the global step, got {type(value).__name__}"
    )


def decay_factor(
    decay: WeightDecay, step: int, loss_scale: float, numerics: PipelineNumerics, name: str
) -> float:
    """The factor ``wd * loss_scale`` at `step`, stored as MindSpore stores it.

    Fixed: ``Tensor(wd * loss_scale, float32)`` (product in float64, then
    float32). Scheduled (``_WrappedWeightDecay``): ``wd(step) * Tensor(loss_scale, float32)``
    in float32.
    """
    if isinstance(decay, FixedDecay):
        return numerics.scalar(decay.value * loss_scale)
    out = decay.schedule(step)
    if isinstance(out, bool) or not isinstance(out, numbers.Real):
        try:
            out = float(out)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise TypeError(f"{name} (schedule output at step {step}) must be a real number") from None
    value = float(out)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} (schedule output at step {step}) must be finite and >= 0, got {value!r}")
    if numerics.float32_scalars:
        return to_float32(to_float32(value) * to_float32(loss_scale))
    return value * loss_scale


def apply_weight_decay(grad: StepGrad, weight: Array, factor: float) -> StepGrad:
    """``w * factor + g`` (rows of ``w`` at the indices for a sparse gradient), in the gradient's work dtype.

    The factor is cast to the work dtype first (MindSpore: ``F.cast(weight_decay, F.dtype(weight))``).
    """
    xp = array_namespace("weight", weight)
    values = grad.values
    rows = weight if grad.indices is None else xp.take(weight, grad.indices, axis=0)
    if is_dask(rows) and not is_dask(values):  # a dask parameter's touched rows, for NumPy gradient rows
        rows, xp = to_numpy(rows), array_namespace("gradient", values)
    rows = xp.astype(rows, values.dtype)
    wd = xp.asarray(factor, dtype=values.dtype, device=device(values))
    return grad.replace(rows * wd + values)
