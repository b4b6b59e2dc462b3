"""Sparse gradients: the one parser of their forms, the one index check, the one duplicate summing.

A sparse gradient touches some rows of a table. It comes in one of these forms,
all reduced here to ``(indices, rows)``:

* index-value: rows of the gradient (one per index) and ``indices``;
* a :class:`RowTensor` (MindSpore's name), or any object with ``.indices``,
  ``.values`` and ``.dense_shape`` such as TensorFlow's ``IndexedSlices``;
* a tuple ``(indices, values)`` (the optimizer's form);
* a scipy.sparse matrix or array (CSR, CSC, COO, ...) for a 2-D NumPy table:
  every row with at least one stored entry is touched, with its dense values.

Summation order of duplicate indices (:func:`sum_duplicates`): the rows of one
index are added sequentially in the order they appear in ``indices``,
``((g_a + g_b) + g_c)``. The result therefore does not depend on how *other*
indices are ordered, only on the order of a duplicated index's own
occurrences (MindSpore's CPU sparse kernel keeps that order too: measured,
the recorded sparse-embedding run replays bit for bit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends.compat import array_namespace, device, dtype_name, is_array, is_cupy_namespace, namespace_name

__all__ = [
    "Groups",
    "RowTensor",
    "SparseFormError",
    "check_indices",
    "csr_touched_rows",
    "group",
    "indices_unique",
    "is_row_tensor",
    "is_scipy_sparse",
    "split_sparse",
    "sum_duplicates",
]

Array = Any
Namespace = Any


@dataclass(frozen=True)
class RowTensor:
    """A gradient that is non-zero on a few rows of a dense tensor.

    Parameters
    ----------
    indices : array
        1-D integer array of row indices into the dense tensor.
    values : array
        The rows, shape ``(len(indices),) + dense_shape[1:]``.
    dense_shape : tuple of int
        Shape of the dense tensor the rows belong to.

    """

    indices: Array
    values: Array
    dense_shape: tuple[int, ...]


class SparseFormError(TypeError, ValueError):
    """A scipy.sparse gradient for a parameter it cannot describe (not 2-D): a type and a shape error."""


def is_scipy_sparse(x: object) -> bool:
    """True for a scipy.sparse matrix or array."""
    import scipy.sparse as sp

    return bool(sp.issparse(x))


def is_row_tensor(x: object) -> bool:
    """True for a row-tensor gradient: an object with ``indices``, ``values`` and ``dense_shape``."""
    return all(hasattr(x, attr) for attr in ("indices", "values", "dense_shape"))


def split_sparse(
    grad: Any, indices: Any, var: Array, xp: Namespace, *, grad_name: str = "grad", var_name: str = "var"
) -> tuple[Array, Any] | None:
    """``(indices, rows)`` of a sparse gradient form; None when `grad` is an array without `indices`.

    `indices` is the separate index argument of the index-value form (None
    otherwise). A tuple ``(indices, values)`` is the optimizer's form. The
    indices are returned unchecked (see :func:`check_indices`); the names
    label the messages.
    """
    if is_scipy_sparse(grad):
        if indices is not None:
            raise TypeError("indices must be None when grad is a scipy.sparse matrix")
        return _rows_from_scipy(grad, var, xp, grad_name, var_name)
    if is_row_tensor(grad):
        if indices is not None:
            raise TypeError("indices must be None when grad is a RowTensor (it carries its own indices)")
        dense_shape = tuple(int(d) for d in grad.dense_shape)
        if dense_shape != tuple(var.shape):
            raise ValueError(
                f"{grad_name} has dense_shape {dense_shape} but {var_name} has shape {tuple(var.shape)}"
            )
        return grad.indices, grad.values
    if isinstance(grad, tuple):
        if len(grad) != 2:
            raise TypeError(
                f"{grad_name} is a tuple of {len(grad)} items; a sparse gradient tuple is (indices, values)"
            )
        return grad[0], grad[1]
    if indices is None:
        return None
    return indices, grad


def _rows_from_scipy(
    grad: Any, var: Array, xp: Namespace, grad_name: str, var_name: str
) -> tuple[Array, Array]:
    """Touched rows of a scipy.sparse gradient and their dense values."""
    if var.ndim != 2:
        raise SparseFormError(
            f"{grad_name} (scipy.sparse) needs {var_name} to be 2-D, got shape {tuple(var.shape)}"
        )
    if tuple(grad.shape) != tuple(var.shape):
        raise ValueError(
            f"{grad_name} (scipy.sparse) has shape {tuple(grad.shape)} "
            f"but {var_name} has shape {tuple(var.shape)}"
        )
    if not isinstance(var, np.ndarray):
        raise TypeError(
            f"{grad_name} (scipy.sparse) needs {var_name} to be a NumPy array (scipy.sparse lives on the "
            f"CPU), got a {namespace_name(xp)} array"
        )
    if grad.dtype != var.dtype:
        raise TypeError(
            f"{grad_name} (scipy.sparse) has dtype {grad.dtype} but {var_name} has dtype {var.dtype}; "
            "they must match"
        )
    if grad.format == "coo":
        rows = np.unique(np.asarray(grad.row, dtype=np.int64))
        csr = grad.tocsr()
    else:
        csr = grad.tocsr()
        rows = csr_touched_rows(csr.indptr)  # rows with stored entries, ascending
    width = var.shape[1]
    if csr.has_canonical_format:
        # No repeated (row, column) entry and sorted columns: the stored values land in place,
        # row after row (the entries of the touched rows are all of csr.data, in order).
        if csr.nnz == rows.shape[0] * width:  # every touched row full: csr.data is the rows
            values = np.asarray(csr.data, dtype=var.dtype).reshape(rows.shape[0], width)
        else:
            values = np.zeros((rows.shape[0], width), dtype=var.dtype)
            counts = csr.indptr[rows + 1] - csr.indptr[rows]
            flat = np.repeat(np.arange(rows.shape[0], dtype=np.int64) * width, counts) + csr.indices
            values.reshape(-1)[flat] = csr.data
    else:  # repeated entries are summed by scipy
        values = np.asarray(csr[rows].toarray(), dtype=var.dtype)
    return xp.asarray(rows), xp.asarray(values)


_WALK_BELOW = 1 / 256
"""Walk ``indptr`` (numba) when it holds fewer than this many stored entries per row, else scan it.

Measured (1 Mi-row ``indptr``, between sparse steps that evict it from the caches): the walk
costs ~0.3 µs per touched row (dependent cache misses), the NumPy scan ~0.8 ns per row."""


def csr_touched_rows(indptr: np.ndarray) -> np.ndarray:
    """Rows of a CSR matrix that hold at least one stored entry, ascending (int64).

    A very sparse matrix (fewer than :data:`_WALK_BELOW` entries per row) is
    walked from one non-empty row to the next (numba, O(touched rows x log
    gap)); otherwise ``indptr`` is scanned with one NumPy comparison (O(rows),
    but at memory speed).
    """
    from ..engines.dispatch import numba_available

    rows = indptr.shape[0] - 1
    if numba_available() and rows > 0 and indptr.dtype in (np.int32, np.int64):
        if int(indptr[-1]) - int(indptr[0]) < rows * _WALK_BELOW:
            return _csr_walk(indptr)
    return _csr_scan(indptr)


def _csr_walk(indptr: np.ndarray) -> np.ndarray:
    from ..engines.numba import csr_touched_rows as walk

    return np.asarray(walk(indptr))


def _csr_scan(indptr: np.ndarray) -> np.ndarray:
    return np.flatnonzero(indptr[1:] != indptr[:-1]).astype(np.int64)


def check_indices(indices: object, n_rows: int, xp: Namespace, *, rows_of: str = "var") -> Array:
    """Indices must be a 1-D int32/int64 array of `xp`, each in ``[0, n_rows)``; return them as int64."""
    if not is_array(indices) or array_namespace("indices", indices) is not xp:
        what = (
            namespace_name(array_namespace("indices", indices)) + " array"
            if is_array(indices)
            else (type(indices).__name__)
        )
        raise TypeError(f"indices must be an array of {rows_of}'s library ({namespace_name(xp)}), got {what}")
    name = dtype_name(xp, indices.dtype)  # type: ignore[attr-defined]
    if name not in ("int32", "int64"):
        raise TypeError(f"indices must have dtype int32 or int64, got {name}")
    if indices.ndim != 1:  # type: ignore[attr-defined]
        raise ValueError(f"indices must be 1-D, got shape {tuple(indices.shape)}")  # type: ignore[attr-defined]
    if indices.shape[0] and (  # type: ignore[attr-defined]
        bool(xp.any(indices < 0)) or bool(xp.any(indices >= n_rows))  # type: ignore[operator]
    ):
        low, high = int(xp.min(indices)), int(xp.max(indices))
        raise ValueError(
            f"indices must lie in [0, {n_rows}) (the rows of {rows_of}); got values from {low} to {high}"
        )
    return xp.astype(indices, xp.int64)


def indices_unique(idx: Array) -> bool:
    """True when `idx` is a NumPy array with no repeated value (False means "group them").

    Increasing indices are recognised in one pass; others are sorted once.
    """
    if type(idx) is not np.ndarray or idx.ndim != 1:
        return False
    if idx.shape[0] < 2 or bool(np.all(idx[1:] > idx[:-1])):
        return True
    ordered = np.sort(idx)
    return not bool(np.any(ordered[1:] == ordered[:-1]))


@dataclass(frozen=True)
class Groups:
    """Occurrences of each distinct index, ordered so that every rank is a prefix.

    ``unique[j]`` is the j-th distinct index; groups are sorted by multiplicity
    (most frequent first), so the groups with more than ``r`` occurrences are
    exactly ``unique[:widths[r]]``. :meth:`position` gives, for those groups,
    the place in ``indices`` of their ``r``-th occurrence (order of appearance).
    """

    unique: Array
    widths: list[int]
    starts: Array
    order: Array

    def position(self, xp: Namespace, rank: int) -> Array:
        """Where in ``indices`` the `rank`-th occurrence of each of the first ``widths[rank]`` groups is."""
        return xp.take(self.order, self.starts[: self.widths[rank]] + rank)

    @property
    def repeated(self) -> bool:
        """True when some index occurs more than once."""
        return len(self.widths) > 1


def group(indices: Array, xp: Namespace) -> Groups:
    """The :class:`Groups` of a non-empty 1-D index array."""
    k = indices.shape[0]
    order = xp.argsort(indices, stable=True)
    sorted_idx = xp.take(indices, order)
    is_start = xp.concat(
        [xp.ones((1,), dtype=xp.bool, device=device(indices)), sorted_idx[1:] != sorted_idx[:-1]]
    )
    starts = xp.nonzero(is_start)[0]
    ends = xp.concat([starts[1:], xp.asarray([k], dtype=starts.dtype, device=device(indices))])
    counts = ends - starts
    by_count = xp.argsort(counts, descending=True, stable=True)
    starts = xp.take(starts, by_count)
    counts = xp.take(counts, by_count)
    max_count = int(counts[0])
    # widths[r] = number of groups with more than r occurrences (counts is descending)
    widths = [int(xp.sum(xp.astype(counts > r, xp.int64))) for r in range(max_count)]
    return Groups(xp.take(sorted_idx, starts), widths, starts, order)


def sum_duplicates(
    rows: Array, indices: Array, xp: Namespace, *, groups: Groups | None = None, dtype: Any = None
) -> tuple[Array, Array]:
    """``(unique indices, summed rows)``: the rows of each index added in order of appearance.

    The sum is formed in `dtype` (default: the rows' dtype; the exact profile
    passes float64 and hands the kernel the unrounded sum). Without `groups`,
    indices found distinct come back as they are, with the rows unchanged.
    """
    on_cupy = is_cupy_namespace(xp)  # CuPy's additions and astype flush float32 subnormals
    if groups is None:
        if not indices.shape[0] or (not on_cupy and (indices.shape[0] < 2 or indices_unique(indices))):
            return indices, rows if dtype is None else xp.astype(rows, dtype)
        groups = group(indices, xp)
    if on_cupy:  # a generated kernel adds them in the same order, with IEEE additions
        from ..engines.cupy import sum_duplicates as sum_on_device

        return sum_on_device(rows, groups, xp, dtype)
    total = xp.take(rows, groups.position(xp, 0), axis=0)
    if dtype is not None:
        total = xp.astype(total, dtype)
    for rank in range(1, len(groups.widths)):
        width = groups.widths[rank]
        extra = xp.take(rows, groups.position(xp, rank), axis=0)
        with np.errstate(all="ignore"):  # inf + -inf, overflow: IEEE results, not warnings
            total[:width, ...] = total[:width, ...] + xp.astype(extra, total.dtype)
    return groups.unique, total
