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

from .._compat import array_namespace, device, is_array, namespace_name, scatter_rows
from .._validation import dtype_name
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


def _is_scipy_sparse(x: object) -> bool:
    import scipy.sparse as sp

    return bool(sp.issparse(x))


def _from_scipy(grad: Any, data: Array) -> tuple[Array, Array]:
    if not isinstance(data, np.ndarray) or data.ndim != 2:
        raise TypeError("a scipy.sparse gradient needs a 2-D NumPy parameter")
    if tuple(grad.shape) != tuple(data.shape):
        raise ValueError(
            f"the gradient has shape {tuple(grad.shape)} (scipy.sparse) "
            f"but the parameter has shape {data.shape}"
        )
    if grad.dtype != data.dtype:
        raise TypeError(
            f"the gradient has dtype {grad.dtype} (scipy.sparse) but the parameter has dtype {data.dtype}"
        )
    csr = grad.tocsr()
    rows = np.flatnonzero(np.diff(csr.indptr)).astype(np.int64)
    return rows, np.asarray(csr[rows].toarray(), dtype=data.dtype)


def _split(grad: object, data: Array) -> tuple[Array | None, object]:
    """``(indices, values)`` of any accepted form; indices None for a dense gradient."""
    if _is_scipy_sparse(grad):
        return _from_scipy(grad, data)
    if all(hasattr(grad, a) for a in ("indices", "values", "dense_shape")):
        dense_shape = tuple(int(d) for d in grad.dense_shape)  # type: ignore[attr-defined]
        if dense_shape != tuple(data.shape):
            raise ValueError(
                f"the gradient has dense_shape {dense_shape} but the parameter has shape {tuple(data.shape)}"
            )
        return grad.indices, grad.values  # type: ignore[attr-defined]
    if isinstance(grad, tuple):
        if len(grad) != 2:
            raise TypeError(
                f"the gradient is a tuple of {len(grad)} items; a sparse gradient tuple is (indices, values)"
            )
        return grad[0], grad[1]
    return None, grad


def _check_indices(indices: object, n_rows: int, xp: Any) -> Array:
    if not is_array(indices) or array_namespace("indices", indices) is not xp:
        raise TypeError(f"indices must be an array of the parameter's library ({namespace_name(xp)})")
    name = dtype_name(xp, indices.dtype)  # type: ignore[attr-defined]
    if name not in ("int32", "int64"):
        raise TypeError(f"indices must have dtype int32 or int64, got {name}")
    if indices.ndim != 1:  # type: ignore[attr-defined]
        raise ValueError(f"indices must be 1-D, got shape {tuple(indices.shape)}")  # type: ignore[attr-defined]
    if indices.shape[0] and (bool(xp.any(indices < 0)) or bool(xp.any(indices >= n_rows))):  # type: ignore
        low, high = int(xp.min(indices)), int(xp.max(indices))
        raise ValueError(
            f"indices must lie in [0, {n_rows}) (the parameter's rows), got values from {low} to {high}"
        )
    return xp.astype(indices, xp.int64)


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
    indices, values = _split(grad, data)
    if indices is None:
        want = tuple(data.shape)
    else:
        if data.ndim == 0:
            raise ValueError("the gradient is sparse but the parameter is 0-d; sparse gradients need rows")
        indices = _check_indices(indices, data.shape[0], xp)
        want = (indices.shape[0], *data.shape[1:])
    if not is_array(values):
        raise TypeError(
            f"the gradient must be an array, a RowTensor, an (indices, values) tuple "
            f"or a scipy.sparse matrix, "
            f"got {type(values).__name__}"
        )
    if array_namespace("grad", values) is not xp:
        raise TypeError(
            f"the gradient is a {namespace_name(array_namespace('grad', values))} array "
            f"but the parameter is a "
            f"{namespace_name(xp)} array"
        )
    if values.dtype != data.dtype:  # type: ignore[attr-defined]
        raise TypeError(
            f"the gradient has dtype {dtype_name(xp, values.dtype)} but the parameter has dtype "  # type: ignore
            f"{dtype_name(xp, data.dtype)}"
        )
    if tuple(values.shape) != want:  # type: ignore[attr-defined]
        raise ValueError(f"the gradient has shape {tuple(values.shape)} but must have shape {want}")  # type: ignore
    if device(values) != device(data):
        raise ValueError(
            f"the gradient is on device {device(values)} but the parameter is on device {device(data)}"
        )
    # No stage writes into the values, so the caller's array is used as it is when no conversion is due.
    work = numerics.work_dtype(xp, data.dtype) if stages or indices is not None else data.dtype
    return StepGrad(xp.astype(values, work, copy=False), indices)


def sum_duplicates(grad: StepGrad) -> StepGrad:
    """Sum the rows of each repeated index, in order of appearance, in the work dtype.

    The result has unique indices, in order of first appearance. The rows of one
    index are added left to right, ``((g_a + g_b) + g_c)``, as MindSpore's CPU
    sparse kernel does (measured: its bucketed reduction keeps the order of
    appearance; the recorded sparse-embedding run replays bit for bit). Dense
    gradients pass through.
    """
    if grad.indices is None or grad.indices.shape[0] < 2:
        return grad
    xp = array_namespace("indices", grad.indices)
    idx, values = grad.indices, grad.values
    k = idx.shape[0]
    order = xp.argsort(idx, stable=True)
    sorted_idx = xp.take(idx, order)
    first = xp.concat([xp.ones((1,), dtype=xp.bool, device=device(idx)), sorted_idx[1:] != sorted_idx[:-1]])
    if bool(xp.all(first)):
        return grad
    group = xp.cumulative_sum(xp.astype(first, xp.int64)) - 1  # group number of each sorted occurrence
    starts = xp.nonzero(first)[0]
    rank = xp.arange(k, dtype=xp.int64, device=device(idx)) - xp.take(starts, group)  # occurrence number
    # Groups are numbered by sorted index; renumber them by first appearance.
    first_pos = xp.take(order, starts)
    by_appearance = xp.argsort(first_pos, stable=True)
    new_number = xp.argsort(by_appearance, stable=True)
    slot = xp.take(new_number, group)  # output row of each sorted occurrence
    n_unique = int(starts.shape[0])
    total = xp.zeros((n_unique, *values.shape[1:]), dtype=values.dtype, device=device(values))
    for r in range(int(xp.max(rank)) + 1):
        at = xp.nonzero(rank == r)[0]
        rows = xp.take(values, xp.take(order, at), axis=0)
        targets = xp.take(slot, at)
        if r > 0:
            rows = xp.take(total, targets, axis=0) + rows
        total = scatter_rows(xp, total, targets, rows, inplace=False)
    unique = xp.take(idx, xp.take(first_pos, by_appearance))
    return StepGrad(total, unique)


def to_param_dtype(grad: StepGrad, data: Array) -> StepGrad:
    """Round the values once to the parameter dtype (a no-op when they already are).

    NumPy arithmetic on 0-d arrays returns scalars (``np.float64`` even counts as
    a Python float); the kernel is handed a 0-d array again.
    """
    values = grad.values
    if type(values) is np.ndarray and values.dtype == data.dtype:
        return grad
    xp = array_namespace("parameter", data)
    if values.dtype != data.dtype:
        values = xp.astype(values, data.dtype)
    if isinstance(values, np.generic):
        values = np.asarray(values)
    return grad if values is grad.values else grad.replace(values)
