"""Gradients as the pipeline sees them: accepted forms, checks, and the duplicate-summing stage.

A gradient for one parameter is either dense (an array of the parameter's
shape and dtype) or sparse, in one of three forms:

* a :class:`~proxadagrad_ref.RowTensor` (or any object with ``indices``,
  ``values`` and ``dense_shape``);
* a tuple ``(indices, values)``;
* a scipy.sparse matrix of a 2-D NumPy parameter's shape (every row with a
  stored entry is touched, with its dense values).

All are reduced to a :class:`StepGrad` whose values are in the pipeline's work
dtype (float64 for the exact profile, the parameter dtype otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..backends.compat import array_namespace, is_array, numpy_namespace, to_numpy
from ..backends.host import is_dask
from ..kernels.checks import check_like_var
from ..kernels.grads import check_indices, split_sparse
from ..kernels.grads import sum_duplicates as sum_rows
from .numerics import PipelineNumerics

__all__ = ["StepGrad", "as_step_grad", "sum_duplicates", "to_param_dtype"]

Array = Any


@dataclass(frozen=True)
class StepGrad:
    """A gradient in flight: dense values (``indices is None``) or rows at ``indices`` (1-D int64)."""

    values: Array
    indices: Array | None = None

    def replace(self, values: Array) -> StepGrad:
        """The same gradient with new values."""
        return replace(self, values=values)


def as_step_grad(grad: object, data: Array, numerics: PipelineNumerics, *, stages: bool = True) -> StepGrad:
    """Check `grad` against the parameter values `data` and convert it to a :class:`StepGrad`.

    With ``stages=False`` (no decay, centralization or loss scale to apply) a
    dense gradient stays in the parameter dtype: widening it to the work dtype
    and rounding it back would give the same bits. The caller prefixes messages
    with which gradient they are about.

    A dense NumPy gradient of a NumPy parameter with its dtype and shape is
    recognised first (NumPy arrays are all on the CPU); anything else, valid or
    not, takes every check below.
    """
    if not stages and type(grad) is np.ndarray and type(data) is np.ndarray:
        if grad.dtype == data.dtype and grad.shape == data.shape:
            return StepGrad(grad)
    xp = array_namespace("parameter", data)
    parts = split_sparse(grad, None, data, xp, grad_name="the gradient", var_name="the parameter")
    indices, values = (None, grad) if parts is None else parts
    like = data
    if parts is not None and is_dask(data):  # a dask parameter's sparse rows are small: computed now
        indices, values = (to_numpy(x) if is_array(x) else x for x in parts)
        xp, like = numpy_namespace(), np.empty((0, *data.shape[1:]), data.dtype)
    if indices is None:
        want = tuple(data.shape)
    else:
        if data.ndim == 0:
            raise ValueError("the gradient is sparse but the parameter is 0-d; sparse gradients need rows")
        indices = check_indices(indices, data.shape[0], xp, rows_of="the parameter")
        want = (indices.shape[0], *data.shape[1:])
    if not is_array(values):
        raise TypeError(
            "the gradient must be an array, a RowTensor, an (indices, values) tuple "
            "or a scipy.sparse matrix, "
            f"got {type(values).__name__}"
        )
    check_like_var("the gradient", values, like, xp, shape=want, var_name="the parameter")
    # No stage writes into the values, so the caller's array is used as it is when no conversion is due.
    work = numerics.work_dtype(xp, data.dtype) if stages or indices is not None else data.dtype
    return StepGrad(xp.astype(values, work, copy=False), indices)


def sum_duplicates(grad: StepGrad) -> StepGrad:
    """Sum the rows of each repeated index, in order of appearance, in the work dtype.

    The result has unique indices (:func:`proxadagrad_ref.kernels.grads.sum_duplicates`,
    the kernels' own summing). Dense gradients pass through.
    """
    if grad.indices is None:
        return grad
    xp = array_namespace("indices", grad.indices)
    unique, total = sum_rows(grad.values, grad.indices, xp)
    return grad if unique is grad.indices else StepGrad(total, unique)


def to_param_dtype(grad: StepGrad, data: Array) -> StepGrad:
    """Round the values once to the parameter dtype (a no-op when they already are).

    NumPy arithmetic on 0-d arrays returns scalars (``np.float64`` even counts as
    a Python float); the kernel is handed a 0-d array again.
    """
    values = grad.values
    if type(values) is np.ndarray and values.dtype == data.dtype:
        return grad
    if isinstance(values, np.generic):
        values = np.asarray(values)
    xp = array_namespace("gradient", values)
    if values.dtype != data.dtype:
        values = xp.astype(values, data.dtype)
    if isinstance(values, np.generic):
        values = np.asarray(values)
    return grad if values is grad.values else grad.replace(values)
