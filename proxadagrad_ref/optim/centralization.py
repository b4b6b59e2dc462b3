"""Gradient centralization: subtract from a gradient its mean over every axis but the first.

MindSpore's rule (``_apply_grad_centralization``): only for parameters whose
group sets ``grad_centralization=True``, and only when the gradient has more
than one axis and ``shape[1] % 16 == 0``. For a sparse gradient the rows
(values) are centralized. MindSpore's ``Centralization`` op has no CPU kernel;
here it runs everywhere.
"""

from __future__ import annotations

from ..backends.compat import array_namespace
from ..backends.host import is_dask
from .grads import StepGrad
from .numerics import PipelineNumerics

__all__ = ["centralization_applies", "centralize"]


def centralization_applies(shape: tuple[int, ...]) -> bool:
    """MindSpore's condition on the parameter shape: ``ndim > 1`` and ``shape[1] % 16 == 0``."""
    return len(shape) > 1 and shape[1] % 16 == 0


def centralize(grad: StepGrad, numerics: PipelineNumerics) -> StepGrad:
    """``g - mean(g, axis=(1, ..., ndim-1))``; the mean is formed as `numerics` says."""
    values = grad.values
    if 0 in tuple(values.shape):  # nothing to centralize (and no mean of an empty slice)
        return grad
    xp = array_namespace("grad", values)
    axes = tuple(range(1, values.ndim))
    if is_dask(values):  # each row's mean from one chunk: NumPy's summation order, not a tree of partials
        values = values.rechunk({axis: -1 for axis in axes})
    if numerics.centralize_mean_wide:
        mean = xp.astype(xp.mean(xp.astype(values, xp.float64), axis=axes, keepdims=True), values.dtype)
    else:  # pragma: no cover - kept for when recorded runs show a float32 mean
        mean = xp.mean(values, axis=axes, keepdims=True)
    return grad.replace(values - mean)
