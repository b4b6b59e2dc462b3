"""Public sparse kernel: a Proximal Adagrad step on the rows a sparse gradient touches.

Like the dense kernel, a pipeline of checks, then arithmetic: the kind checks
(:func:`~.checks.prepare_kind`), the gradient's form and indices
(:mod:`.grads`), :func:`prepare_sparse` (the rows, the touched accumulators,
giving a :class:`SparseStep`), :func:`run_sparse`.
Gradient forms and the summation order of duplicates: :mod:`.grads`.

Duplicate indices are resolved by the ``duplicates`` policy, then the profile's
elementwise update runs on the touched rows only: in one fused pass where
they lie (numba, CuPy), else gathered, evaluated by the dense engines and
scattered back. The cost is O(touched rows x row size) and untouched rows keep
their bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends.compat import dtype_name, scatter_rows
from ..engines.dispatch import check_engine, evaluate, rows_non_negative, update_rows
from ..numerics.profiles import Formula
from . import backends
from .checks import KernelStep, Kind, check_accum, check_common, check_in_place, check_like_var, prepare_kind
from .grads import Groups, RowTensor, check_indices, group, indices_unique, split_sparse, sum_duplicates

__all__ = [
    "DUPLICATE_POLICIES",
    "RowTensor",
    "SparseStep",
    "prepare_sparse",
    "run_sparse",
    "sparse_apply_proximal_adagrad",
]

Array = Any
Namespace = Any

DUPLICATE_POLICIES = ("sum", "sequential", "error")


@dataclass(frozen=True, slots=True)
class SparseStep(KernelStep):
    """A sparse step that passed every check of the kernel: what :func:`run_sparse` computes.

    The fields of :class:`~.checks.KernelStep` (``var``, ``accum``: the table)
    and the gradient:

    Attributes
    ----------
    rows : array
        Gradient rows, one per index, checked like `var`'s rows.
    idx : array
        int64 row indices, in range.
    groups : Groups or None
        The occurrences of each index; None when the indices are known distinct
        (NumPy's fast check), so no grouping is needed.
    duplicates : str
        ``"sum"`` or ``"sequential"`` (``"error"`` has raised in the checks when it applied).
    clean : bool
        True: every touched accumulator is ``>= 0`` (no NaN), so a fused row update applies.

    """

    rows: Array
    idx: Array
    groups: Groups | None
    duplicates: str
    clean: bool


def prepare_sparse(
    kind: Kind,
    var: Array,
    accum: Array,
    rows: Array,
    idx: Array,
    *,
    duplicates: str,
    inplace: bool,
    engine: str,
) -> SparseStep:
    """The per-array checks of a sparse step of a checked :class:`~.checks.Kind` and indices; the step.

    `rows` must match `var`'s rows, one per index; the touched accumulators
    must be ``>= 0`` (NaN allowed); ``duplicates="error"`` refuses a repeated
    index. It raises what :func:`sparse_apply_proximal_adagrad` raises.
    """
    xp = kind.xp
    check_like_var("grad", rows, var, xp, shape=(idx.shape[0], *var.shape[1:]))
    groups = None if not idx.shape[0] or indices_unique(idx) else group(idx, xp)
    touched = idx if groups is None else groups.unique
    clean = bool(idx.shape[0]) and rows_non_negative(xp, accum, touched)
    if idx.shape[0] and not clean:
        check_accum(xp.take(accum, touched, axis=0), xp, "accum (touched rows)")
    if groups is not None and groups.repeated and duplicates == "error":
        raise ValueError(
            f"indices contains duplicates (e.g. row {int(groups.unique[0])}) and duplicates='error'"
        )
    return SparseStep(kind, var, accum, inplace, engine, rows, idx, groups, duplicates, clean)


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
        For CuPy tables ``"cupy"`` and ``"auto"`` update the rows in place in
        the table with one fused kernel where it applies (see
        :mod:`proxadagrad_ref.engines.cupy`; ``"auto"`` falls back to the host
        engines, ``"cupy"`` raises), after summing duplicates with a generated
        kernel.

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
    if type(var) is not np.ndarray:  # torch, JAX, Dask: see .backends
        options = {"duplicates": duplicates, "prox_step": prox_step, "emulate": emulate, "inplace": inplace}
        routed = backends.sparse(
            sparse_apply_proximal_adagrad, var, accum, lr, l1, l2, grad, indices, engine=engine, **options
        )
        if routed is not None:
            return routed
    xp = check_common(var, accum, inplace)
    kind = prepare_kind(var, lr, l1, l2, prox_step=prox_step, emulate=emulate, op="sparse")
    if inplace:
        check_in_place(var, accum, xp)
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {duplicates!r}")
    check_engine(engine, xp)
    if var.ndim == 0:
        raise ValueError("var must have at least one dimension (rows) for a sparse update")
    parts = split_sparse(grad, indices, var, xp)
    if parts is None:
        raise TypeError(
            "indices is required when grad is an array of rows "
            "(or pass a RowTensor or a scipy.sparse matrix as grad)"
        )
    idx = check_indices(parts[0], var.shape[0], xp)
    step = prepare_sparse(
        kind, var, accum, parts[1], idx, duplicates=duplicates, inplace=inplace, engine=engine
    )
    return run_sparse(step)


def run_sparse(step: SparseStep) -> tuple[Array, Array]:
    """Compute a prepared sparse step: ``(var_new, accum_new)``, the table itself when in place.

    Only arithmetic: no argument is checked again.
    """
    xp, var, accum = step.kind.xp, step.var, step.accum
    if step.idx.shape[0] == 0:
        if step.inplace:
            return var, accum
        return xp.asarray(var, copy=True), xp.asarray(accum, copy=True)
    with np.errstate(all="ignore"):  # IEEE special values are documented semantics, not warnings
        if step.groups is None:
            return _update_table(step, step.rows, step.idx)
        if step.duplicates != "sequential" or not step.groups.repeated:
            wide = xp.float64 if step.kind.profile.widen else None
            touched, g = sum_duplicates(step.rows, step.idx, xp, groups=step.groups, dtype=wide)
            return _update_table(step, g, touched)
        return _sequential(step, step.groups)


def _sequential(step: SparseStep, groups: Groups) -> tuple[Array, Array]:
    """One update per occurrence of each index, in order of appearance (rank by rank)."""
    xp = step.kind.xp
    touched = groups.unique
    w = xp.take(step.var, touched, axis=0)
    a = xp.take(step.accum, touched, axis=0)
    for rank, width in enumerate(groups.widths):
        g = xp.take(step.rows, groups.position(xp, rank), axis=0)
        w_r, a_r = _update_rows(step, w[:width, ...], a[:width, ...], g)
        w[:width, ...] = w_r
        a[:width, ...] = a_r
    var_new = scatter_rows(xp, step.var, touched, w, inplace=step.inplace)
    accum_new = scatter_rows(xp, step.accum, touched, a, inplace=step.inplace)
    return var_new, accum_new


def _inner(x: Array) -> int:
    inner = 1
    for d in x.shape[1:]:
        inner *= int(d)
    return inner


def _row_formula(step: SparseStep, var: Array) -> Formula | None:
    """The one formula the profile applies to whole rows of `var`, or None when a row mixes two.

    A kernel may treat rows of one element, or the last ``inner % block``
    elements of each row, with other arithmetic (TensorFlow's plain C++ loop and
    Eigen's scalar tail); the profile says which formula applies where.
    """
    profile = step.kind.profile
    inner = _inner(var)
    if profile.sparse_column is not None and inner == 1:
        return profile.sparse_column
    head = inner - inner % profile.block(dtype_name(step.kind.xp, var.dtype))
    if profile.sparse_tail is None or head == inner:
        return profile.sparse
    return None


def _update_rows(step: SparseStep, w: Array, a: Array, g: Array) -> tuple[Array, Array]:
    """Apply the profile's sparse kernel to gathered rows ``(k, ...)`` (see :func:`_row_formula`)."""
    xp, profile = step.kind.xp, step.kind.profile
    formula = _row_formula(step, w)
    if formula is not None:
        # w and a are gathered copies: NumPy engines update them in place, blockwise.
        out = (w, a) if isinstance(w, np.ndarray) else None
        return evaluate(step.task(formula, w, a, g), out=out, engine=step.engine)
    k, inner = w.shape[0], _inner(w)
    head = inner - inner % profile.block(dtype_name(xp, w.dtype))
    assert profile.sparse_tail is not None
    w2, a2, g2 = (xp.reshape(x, (k, inner)) for x in (w, a, g))
    w_head, a_head = evaluate(
        step.task(profile.sparse, w2[:, :head], a2[:, :head], g2[:, :head]), engine="reference"
    )
    w_tail, a_tail = evaluate(
        step.task(profile.sparse_tail, w2[:, head:], a2[:, head:], g2[:, head:]), engine="reference"
    )
    w_new = xp.reshape(xp.concat([w_head, w_tail], axis=1), w.shape)
    a_new = xp.reshape(xp.concat([a_head, a_tail], axis=1), a.shape)
    return w_new, a_new


def _update_table(step: SparseStep, g: Array, idx: Array) -> tuple[Array, Array]:
    """Update the rows `idx` (distinct) of the table with gradient rows `g`.

    A fused engine (:func:`proxadagrad_ref.engines.dispatch.update_rows`)
    updates the table's rows where they lie; otherwise the rows are gathered,
    updated by :func:`_update_rows` and scattered back. Same bits either way.
    """
    xp = step.kind.xp
    formula = _row_formula(step, step.var)
    if formula is not None and step.clean:
        task = step.task(formula, step.var, step.accum, g).at_rows(idx, checked=True)
        done = update_rows(task, inplace=step.inplace, engine=step.engine)
        if done is not None:
            return done
    w = xp.take(step.var, idx, axis=0)
    a = xp.take(step.accum, idx, axis=0)
    w, a = _update_rows(step, w, a, g)
    return (
        scatter_rows(xp, step.var, idx, w, inplace=step.inplace),
        scatter_rows(xp, step.accum, idx, a, inplace=step.inplace),
    )
