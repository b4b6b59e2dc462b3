"""Sparse gradients (``kernels.grads``): the unique-index test, scipy.sparse forms, the CSR row finders."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import HAS_NUMBA, assert_same_bits

from proxadagrad_ref.kernels import grads


def test_indices_unique() -> None:
    assert grads.indices_unique(np.array([], np.int64)) and grads.indices_unique(np.array([3]))
    assert grads.indices_unique(np.array([1, 5, 9])) and grads.indices_unique(np.array([9, 1, 5]))
    assert not grads.indices_unique(np.array([1, 5, 1])) and not grads.indices_unique(np.array([2, 2]))
    assert not grads.indices_unique([1, 2])  # not a NumPy array: the caller groups


@pytest.mark.parametrize("form", ["csr", "csr-unsorted", "csr-repeated", "coo", "csc"])
def test_scipy_sparse_gradient_matches_index_value_form(form: str) -> None:
    """The direct CSR scatter (canonical matrices) gives the rows scipy's toarray gives."""
    import scipy.sparse as sp

    from proxadagrad_ref import sparse_apply_proximal_adagrad

    rng = np.random.default_rng(4)
    n_rows, width = 50, 7
    var = rng.standard_normal((n_rows, width)).astype(np.float32)
    acc = rng.random((n_rows, width)).astype(np.float32)
    dense = rng.standard_normal((n_rows, width)).astype(np.float32)
    dense[rng.random(n_rows) < 0.6] = 0.0  # untouched rows
    dense[rng.random((n_rows, width)) < 0.3] = 0.0  # sparse within rows
    build = {"coo": sp.coo_matrix, "csc": sp.csc_matrix}.get(form, sp.csr_matrix)
    matrix: Any = build(dense)
    if form == "csr-unsorted":  # same entries, the columns of each row reversed
        for r in range(n_rows):
            lo, hi = matrix.indptr[r], matrix.indptr[r + 1]
            matrix.indices[lo:hi] = matrix.indices[lo:hi][::-1].copy()
            matrix.data[lo:hi] = matrix.data[lo:hi][::-1].copy()
        matrix.has_sorted_indices = False
    if form == "csr-repeated":  # one entry split in two stored halves: scipy sums them
        coo = sp.coo_matrix(dense)
        half = (coo.data / 2).astype(np.float32)
        matrix = sp.csr_matrix((np.concatenate([half, coo.data - half]),
                                (np.concatenate([coo.row, coo.row]), np.concatenate([coo.col, coo.col]))),
                               shape=dense.shape)
        matrix.has_canonical_format = False
    touched = np.flatnonzero(np.any(dense != 0, axis=1))
    want = sparse_apply_proximal_adagrad(var, acc, 0.1, 0.05, 0.1, dense[touched], touched)
    got = sparse_apply_proximal_adagrad(var, acc, 0.1, 0.05, 0.1, matrix)
    if form == "csr-repeated":
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    else:
        assert_same_bits(got, want)


FINDERS = ["csr_touched_rows", "_csr_scan"] + (["_csr_walk"] if HAS_NUMBA else [])


@pytest.mark.parametrize("finder", FINDERS)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_csr_touched_rows_equal_a_scan_of_indptr(finder: str, index_dtype: type) -> None:
    """The walk, the scan and the choice between them all find the rows a plain comparison finds."""
    find = getattr(grads, finder)
    rng = np.random.default_rng(4)
    cases = [np.zeros(1), np.zeros(6), np.arange(6), np.array([0, 0, 0, 5]), np.array([0, 5, 5, 5])]
    for _ in range(200):
        n = int(rng.integers(1, 3000))
        density = rng.random() ** 3
        cases.append(np.concatenate([[0], np.cumsum(rng.integers(1, 4, n) * (rng.random(n) < density))]))
    for indptr in cases:
        indptr = indptr.astype(index_dtype)
        want = [r for r in range(indptr.size - 1) if indptr[r + 1] > indptr[r]]
        got = find(indptr)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)
