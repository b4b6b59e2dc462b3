"""Loss-scale stage: undo a fixed loss scale on the gradient (MindSpore's ``Optimizer.scale_grad``)."""

from __future__ import annotations

from ..backends.compat import array_namespace, device
from .grads import StepGrad
from .numerics import PipelineNumerics

__all__ = ["scale_grad"]


def scale_grad(grad: StepGrad, loss_scale: float, numerics: PipelineNumerics) -> StepGrad:
    """Multiply by ``1/loss_scale``: MindSpore's ``Tensor(1.0 / loss_scale, float32)`` cast to the grad dtype.

    Skipped when ``loss_scale == 1``. The exact profile divides by `loss_scale` in float64.
    """
    if loss_scale == 1.0:
        return grad
    values = grad.values
    if numerics.wide:
        return grad.replace(values / loss_scale)
    xp = array_namespace("grad", values)
    reciprocal = xp.asarray(numerics.scalar(1.0 / loss_scale), dtype=values.dtype, device=device(values))
    return grad.replace(values * reciprocal)
