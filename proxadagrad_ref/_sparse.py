"""Public sparse kernel: a Proximal Adagrad step on the rows a sparse gradient touches.

Gradients come in three forms, all reduced here to ``(indices, rows)``:

* index-value: ``grad`` (one row per index) and ``indices``;
* a :class:`RowTensor` (MindSpore's name), or any object with ``.indices``,
  ``.values`` and ``.dense_shape`` such as TensorFlow's ``IndexedSlices``;
* a scipy.sparse matrix or array (CSR, CSC, COO, ...) for a 2-D NumPy ``var``:
  every row with at least one stored entry is touched, with its dense values.

Duplicate indices are resolved by the ``duplicates`` policy, then the profile's
elementwise update runs on the gathered rows only and the results are scattered
back: the cost is O(touched rows x row size) and untouched rows keep their bits.

Summation order of ``duplicates="sum"``: the rows of one index are added
sequentially in the order they appear in ``indices``, ``((g_a + g_b) + g_c)``;
in float64 for the exact profile, in the parameter dtype for the framework
profiles. The result therefore does not depend on how *other* indices are
ordered, only on the order of a duplicated index's own occurrences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import is_cupy_namespace

from . import _fast
from ._compat import array_namespace, device, scatter_rows
from ._dense import prepare_step
from ._profiles import Formula, Profile
from ._validation import check_like_var, check_non_negative, dtype_name

__all__ = ["RowTensor", "sparse_apply_proximal_adagrad"]

Array = Any
Namespace = Any

DUPLICATE_POLICIES = ("sum", "sequential", "error")


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


def _is_scipy_sparse(x: object) -> bool:
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover - scipy is a runtime dependency
        return False
    return bool(sp.issparse(x))


def _rows_from_scipy(grad: Any, var: Array, xp: Namespace) -> tuple[Array, Array]:
    """Touched rows of a scipy.sparse gradient and their dense values."""
    if var.ndim != 2:
        raise ValueError(f"a scipy.sparse grad needs a 2-D var, got var with shape {tuple(var.shape)}")
    if tuple(grad.shape) != tuple(var.shape):
        raise ValueError(
            f"grad (scipy.sparse) has shape {tuple(grad.shape)} but var has shape {tuple(var.shape)}"
        )
    if not isinstance(var, np.ndarray):
        raise TypeError("a scipy.sparse grad needs a NumPy var (scipy.sparse lives on the CPU)")
    if grad.dtype != var.dtype:
        raise TypeError(
            f"grad (scipy.sparse) has dtype {grad.dtype} but var has dtype {var.dtype}; they must match"
        )
    if grad.format == "coo":
        rows = np.unique(np.asarray(grad.row, dtype=np.int64))
        csr = grad.tocsr()
    else:
        csr = grad.tocsr()
        rows = _fast.csr_touched_rows(csr.indptr)  # rows with stored entries, ascending
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


def _as_index_value(grad: Any, indices: Any, var: Array, xp: Namespace) -> tuple[Array, Array]:
    """Reduce the accepted gradient forms to ``(indices, rows)`` of var's namespace."""
    if _is_scipy_sparse(grad):
        if indices is not None:
            raise TypeError("indices must be None when grad is a scipy.sparse matrix")
        return _rows_from_scipy(grad, var, xp)
    if all(hasattr(grad, attr) for attr in ("indices", "values", "dense_shape")):
        if indices is not None:
            raise TypeError("indices must be None when grad is a RowTensor (it carries its own indices)")
        dense_shape = tuple(int(d) for d in grad.dense_shape)
        if dense_shape != tuple(var.shape):
            raise ValueError(f"grad.dense_shape is {dense_shape} but var has shape {tuple(var.shape)}")
        return grad.indices, grad.values
    if indices is None:
        raise TypeError(
            "indices is required when grad is an array of rows "
            "(or pass a RowTensor or a scipy.sparse matrix as grad)"
        )
    return indices, grad


def _check_indices(indices: Any, n_rows: int, xp: Namespace) -> Array:
    """Indices must be a 1-D int32/int64 array of var's namespace, each in ``[0, n_rows)``."""
    idx_ns = array_namespace("indices", indices)
    if idx_ns is not xp:
        raise TypeError("indices must come from the same array library as var")
    name = dtype_name(xp, indices.dtype)
    if name not in ("int32", "int64"):
        raise TypeError(f"indices must have dtype int32 or int64, got {name}")
    if indices.ndim != 1:
        raise ValueError(f"indices must be 1-D, got shape {tuple(indices.shape)}")
    if indices.shape[0] and (
        bool(xp.any(indices < 0)) or bool(xp.any(indices >= n_rows))
    ):
        low, high = int(xp.min(indices)), int(xp.max(indices))
        raise ValueError(
            f"indices must lie in [0, {n_rows}) (the rows of var); got values from {low} to {high}"
        )
    return xp.astype(indices, xp.int64)


@dataclass(frozen=True)
class _Groups:
    """Occurrences of each distinct index, ordered so that every rank is a prefix.

    ``unique[j]`` is the j-th distinct index; groups are sorted by multiplicity
    (most frequent first), so the groups with more than ``r`` occurrences are
    exactly ``unique[:width[r]]``. ``position(r)`` gives, for those groups, the
    place in ``indices`` of their ``r``-th occurrence (order of appearance).
    """

    unique: Array
    widths: list[int]
    starts: Array
    order: Array

    def position(self, xp: Namespace, rank: int) -> Array:
        return xp.take(self.order, self.starts[: self.widths[rank]] + rank)


def _group(indices: Array, xp: Namespace) -> _Groups:
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
    return _Groups(xp.take(sorted_idx, starts), widths, starts, order)


def sparse_apply_proximal_adagrad(
    var: Array,
    accum: Array,
    lr: float | Array,
    l1: float | Array,
    l2: float | Array,
    grad: Any,
    indices: Array | None = None,
    *,
    duplicates: str = "sum",
    prox_step: str = "adaptive",
    emulate: str | None = None,
    inplace: bool = False,
    engine: str = "auto",
) -> tuple[Array, Array]:
    """One Proximal Adagrad step on the rows touched by a sparse gradient.

    The arithmetic on each touched row is exactly that of
    :func:`apply_proximal_adagrad` for the same profile (the frameworks' fused
    sparse kernels differ, and their profiles say so); rows not touched keep
    their values and accumulators bit for bit.

    Parameters
    ----------
    var, accum : array
        Table of parameters and its accumulators (same shape, dtype and library).
    lr, l1, l2 : float or 0-d array
        As in :func:`apply_proximal_adagrad`.
    grad : array, RowTensor or scipy.sparse matrix
        Rows of the gradient (with `indices`), a :class:`RowTensor` (or any
        object with ``indices``, ``values`` and ``dense_shape``), or a
        scipy.sparse matrix of `var`'s shape (2-D NumPy `var` only).
    indices : array, optional
        1-D int32/int64 row indices into `var`, one per row of `grad`; only
        with an array `grad`.
    duplicates : {"sum", "sequential", "error"}
        ``"sum"`` adds the rows of a repeated index first (in order of
        appearance) and applies one update (MindSpore; TensorFlow's v1
        optimizer). ``"sequential"`` applies one update per occurrence, in
        order (TensorFlow's raw op). ``"error"`` raises ValueError.
    prox_step, emulate, inplace
        As in :func:`apply_proximal_adagrad`.
    engine : {"auto", "numba", "numpy", "reference", "cupy"}
        How the touched rows are evaluated (same bits for every engine).
        ``"auto"``: with numba installed, distinct rows of a contiguous NumPy
        table are updated where they lie in one compiled pass; otherwise the
        rows are gathered, evaluated by the dense engines and scattered back.
        ``"cupy"`` (opt-in, see :mod:`proxadagrad_ref._cupy`): one fused CuPy
        kernel updates the rows in place in the table.

    Returns
    -------
    var_new, accum_new : array
        The updated table and accumulators.

    Examples
    --------
    >>> import numpy as np
    >>> from proxadagrad_ref import sparse_apply_proximal_adagrad
    >>> var, accum = np.ones((4, 2), np.float32), np.full((4, 2), 0.1, np.float32)
    >>> rows = np.array([[0.3, 0.3], [0.1, 0.1]], np.float32)
    >>> v, a = sparse_apply_proximal_adagrad(var, accum, 0.1, 0.05, 0.1, rows, np.array([2, 0]))
    >>> v[:, 0].round(6)  # rows 1 and 3 untouched; row 2 is the worked example of the docs
    array([0.926828, 1.      , 0.899078, 1.      ], dtype=float32)

    """
    xp, profile, (lr_, l1_, l2_) = prepare_step(
        var, accum, lr, l1, l2, prox_step=prox_step, emulate=emulate, inplace=inplace, op="sparse"
    )
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {duplicates!r}")
    if engine not in _fast.ENGINES:
        raise ValueError(f"engine must be one of {_fast.ENGINES}, got {engine!r}")
    if engine == "cupy" and not is_cupy_namespace(xp):
        raise ValueError("engine='cupy' needs CuPy arrays")
    if var.ndim == 0:
        raise ValueError("var must have at least one dimension (rows) for a sparse update")
    raw_indices, rows = _as_index_value(grad, indices, var, xp)
    idx = _check_indices(raw_indices, var.shape[0], xp)
    check_like_var("grad", rows, var, xp, shape=(idx.shape[0], *var.shape[1:]))
    if idx.shape[0] == 0:
        if inplace:
            return var, accum
        return xp.asarray(var, copy=True), xp.asarray(accum, copy=True)

    if _fast.indices_unique(idx):
        # NumPy fast path: every row once, so no grouping and no summation (a sum of one row is
        # that row, and its float64 widening is exact): the same bits as the grouped path.
        return _update_table(profile, xp, var, accum, rows, idx, (lr_, l1_, l2_), prox_step, inplace, engine)

    groups = _group(idx, xp)
    touched = groups.unique
    hyper = (lr_, l1_, l2_)
    if duplicates == "sum" or (duplicates == "error" and len(groups.widths) == 1):
        g = _sum_duplicates(xp, rows, groups, float64=profile.widen)
        return _update_table(profile, xp, var, accum, g, touched, hyper, prox_step, inplace, engine)

    w = xp.take(var, touched, axis=0)
    a = xp.take(accum, touched, axis=0)
    if not _fast.surely_non_negative(xp, a):
        check_non_negative("accum (touched rows)", a, xp)
    if duplicates == "error":
        first = int(touched[0])
        raise ValueError(f"indices contains duplicates (e.g. row {first}) and duplicates='error'")
    for rank, width in enumerate(groups.widths):  # "sequential": one update per occurrence
        g = xp.take(rows, groups.position(xp, rank), axis=0)
        w_r, a_r = _update_rows(profile, xp, w[:width, ...], a[:width, ...], g, hyper, prox_step, engine)
        w[:width, ...] = w_r
        a[:width, ...] = a_r
    var_new = scatter_rows(xp, var, touched, w, inplace=inplace)
    accum_new = scatter_rows(xp, accum, touched, a, inplace=inplace)
    return var_new, accum_new


def _row_formula(profile: Profile, xp: Namespace, var: Array) -> Formula | None:
    """The one formula the profile applies to whole rows of `var`, or None when a row mixes two.

    A kernel may treat rows of one element, or the last ``inner % block``
    elements of each row, with other arithmetic (TensorFlow's plain C++ loop and
    Eigen's scalar tail); the profile says which formula applies where.
    """
    inner = _inner(var)
    if profile.sparse_column is not None and inner == 1:
        return profile.sparse_column
    head = inner - inner % profile.block(dtype_name(xp, var.dtype))
    if profile.sparse_tail is None or head == inner:
        return profile.sparse
    return None


def _inner(x: Array) -> int:
    inner = 1
    for d in x.shape[1:]:
        inner *= int(d)
    return inner


def _update_rows(
    profile: Profile, xp: Namespace, w: Array, a: Array, g: Array, hyper: tuple[Array, Array, Array],
    prox_step: str, engine: str = "auto",
) -> tuple[Array, Array]:
    """Apply the profile's sparse kernel to gathered rows ``(k, ...)`` (see :func:`_row_formula`)."""
    formula = _row_formula(profile, xp, w)
    if formula is not None:
        # w and a are gathered copies: NumPy engines update them in place, blockwise.
        # IEEE special values are documented semantics, not warnings (as in the dense kernel).
        with np.errstate(all="ignore"):
            return _fast.evaluate(
                profile, formula, xp, w, a, g, *hyper, prox_step=prox_step,
                out=(w, a) if isinstance(w, np.ndarray) else None, engine=engine,
            )
    k, inner = w.shape[0], _inner(w)
    head = inner - inner % profile.block(dtype_name(xp, w.dtype))
    assert profile.sparse_tail is not None
    w2, a2, g2 = (xp.reshape(x, (k, inner)) for x in (w, a, g))
    w_head, a_head = profile.evaluate(
        profile.sparse, xp, w2[:, :head], a2[:, :head], g2[:, :head], *hyper, prox_step=prox_step
    )
    w_tail, a_tail = profile.evaluate(
        profile.sparse_tail, xp, w2[:, head:], a2[:, head:], g2[:, head:], *hyper, prox_step=prox_step
    )
    w_new = xp.reshape(xp.concat([w_head, w_tail], axis=1), w.shape)
    a_new = xp.reshape(xp.concat([a_head, a_tail], axis=1), a.shape)
    return w_new, a_new


def _update_table(
    profile: Profile, xp: Namespace, var: Array, accum: Array, g: Array, idx: Array,
    hyper: tuple[Array, Array, Array], prox_step: str, inplace: bool, engine: str,
) -> tuple[Array, Array]:
    """Update the rows `idx` (distinct) of the table with gradient rows `g`; the general path checks accum.

    The fused path (:func:`proxadagrad_ref._fast.update_rows`, numba) updates
    the table's rows where they lie; otherwise the rows are gathered, updated
    by :func:`_update_rows` and scattered back. Same bits either way.
    """
    formula = _row_formula(profile, xp, var)
    if formula is not None and engine == "cupy":
        from . import _cupy

        done = _cupy.update_rows(
            profile, formula, xp, var, accum, g, idx, *hyper, prox_step=prox_step, inplace=inplace
        )
        if done is not None:
            return done
    elif formula is not None and engine in ("auto", "numba"):
        with np.errstate(all="ignore"):
            done = _fast.update_rows(
                profile, formula, xp, var, accum, g, idx, *hyper, prox_step=prox_step, inplace=inplace
            )
        if done is not None:
            return done
    w = xp.take(var, idx, axis=0)
    a = xp.take(accum, idx, axis=0)
    if not _fast.surely_non_negative(xp, a):
        check_non_negative("accum (touched rows)", a, xp)
    w, a = _update_rows(profile, xp, w, a, g, hyper, prox_step, engine)
    return scatter_rows(xp, var, idx, w, inplace=inplace), scatter_rows(xp, accum, idx, a, inplace=inplace)


def _sum_duplicates(xp: Namespace, rows: Array, groups: _Groups, *, float64: bool) -> Array:
    """Sum the rows of each group sequentially in order of appearance.

    With ``float64=True`` (exact profile) the sum is formed in float64 and
    handed to the profile unrounded; otherwise in the rows' dtype.
    """
    total = xp.take(rows, groups.position(xp, 0), axis=0)
    if float64:
        total = xp.astype(total, xp.float64)
    for rank in range(1, len(groups.widths)):
        width = groups.widths[rank]
        extra = xp.take(rows, groups.position(xp, rank), axis=0)
        with np.errstate(all="ignore"):  # inf + -inf, overflow: IEEE results, not warnings
            total[:width, ...] = total[:width, ...] + xp.astype(extra, total.dtype)
    return total
