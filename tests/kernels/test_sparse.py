"""Sparse kernel: agreement with the dense kernel, untouched rows, duplicates, every gradient form."""

from __future__ import annotations

from types import ModuleType
from typing import NamedTuple

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import assert_same_bits, canonical_bits, random_inputs, to_numpy
from hypothesis import given
from hypothesis import strategies as st

from proxadagrad_ref import RowTensor, apply_proximal_adagrad, sparse_apply_proximal_adagrad
from proxadagrad_ref.kernels import grads
from proxadagrad_ref.kernels import sparse as sparse_kernel
from proxadagrad_ref.numerics.profiles import PROFILES as PROFILE_TABLE

PROFILES = [(None, "adaptive"), (None, "fixed"), ("mindspore", "adaptive"), ("tensorflow", "adaptive")]
# Profiles whose sparse kernel runs the dense kernel's arithmetic on each touched row.
# (MindSpore's fused sparse kernel has arithmetic of its own: see test_mindspore_sparse_differs.)
SAME_AS_DENSE = [(None, "adaptive"), (None, "fixed")]


@st.composite
def table_case(draw: st.DrawFn, *, unique: bool) -> dict:
    n_rows = draw(st.integers(1, 9))
    width = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    k = draw(st.integers(0, n_rows if unique else 3 * n_rows))
    if unique:
        idx = rng.permutation(n_rows)[:k]
    else:
        idx = rng.integers(0, n_rows, k)
    return {
        "var": rng.normal(size=(n_rows, width)).astype(np.float32),
        "accum": rng.uniform(0, 2, size=(n_rows, width)).astype(np.float32),
        "rows": rng.normal(size=(k, width)).astype(np.float32),
        "indices": idx.astype(draw(st.sampled_from([np.int32, np.int64]))),
        "lr": draw(st.sampled_from([0.01, 0.1, 1.0])),
        "l1": draw(st.sampled_from([0.0, 0.05, 0.5])),
        "l2": draw(st.sampled_from([0.0, 0.1])),
    }


def sparse_step(xp: ModuleType, case: dict, **kwargs: object) -> tuple[np.ndarray, np.ndarray]:
    args = [xp.asarray(case[k]) for k in ("var", "accum")]
    v, a = sparse_apply_proximal_adagrad(
        *args,
        case["lr"],
        case["l1"],
        case["l2"],
        xp.asarray(case["rows"]),
        xp.asarray(case["indices"]),
        **kwargs,  # type: ignore[arg-type]
    )
    return to_numpy(v), to_numpy(a)


@pytest.mark.parametrize("emulate,form", SAME_AS_DENSE)
@given(case=table_case(unique=True))
def test_unique_rows_equal_dense_update_and_others_keep_bits(
    xp: ModuleType, emulate: str | None, form: str, case: dict
) -> None:
    v, a = sparse_step(xp, case, emulate=emulate, prox_step=form)
    # The dense kernel on a gradient that is the scattered rows, restricted to touched rows:
    idx = case["indices"].astype(np.int64)
    dense_v, dense_a = apply_proximal_adagrad(
        case["var"][idx],
        case["accum"][idx],
        case["lr"],
        case["l1"],
        case["l2"],
        case["rows"],
        emulate=emulate,
        prox_step=form,
    )
    np.testing.assert_array_equal(canonical_bits(v[idx]), canonical_bits(dense_v))
    np.testing.assert_array_equal(canonical_bits(a[idx]), canonical_bits(dense_a))
    untouched = np.setdiff1d(np.arange(case["var"].shape[0]), idx)
    np.testing.assert_array_equal(canonical_bits(v[untouched]), canonical_bits(case["var"][untouched]))
    np.testing.assert_array_equal(canonical_bits(a[untouched]), canonical_bits(case["accum"][untouched]))


@pytest.mark.parametrize("emulate,form", PROFILES)
@given(case=table_case(unique=False))
def test_sum_policy_is_one_update_with_rows_summed_in_order(
    xp: ModuleType, emulate: str | None, form: str, case: dict
) -> None:
    v, a = sparse_step(xp, case, emulate=emulate, prox_step=form, duplicates="sum")
    # Hand-summed rows, sequentially in order of appearance; exact profile sums in float64.
    sum_dtype = np.float64 if emulate is None else np.float32
    summed: dict[int, np.ndarray] = {}
    for i, row in zip(case["indices"].tolist(), case["rows"], strict=True):
        summed[i] = summed[i] + row.astype(sum_dtype) if i in summed else row.astype(sum_dtype)
    var, accum = case["var"].copy(), case["accum"].copy()
    for i, g in summed.items():
        if emulate is None:  # float64 sum goes unrounded into the float64 evaluation
            w1, a1 = apply_proximal_adagrad(
                var[i].astype(np.float64),
                accum[i].astype(np.float64),
                float(np.float32(case["lr"])),
                float(np.float32(case["l1"])),
                float(np.float32(case["l2"])),
                g,
                prox_step=form,
            )
        else:  # the kernel's own arithmetic on one already-summed row
            w1, a1 = (
                x[0]
                for x in sparse_apply_proximal_adagrad(
                    var[i : i + 1], accum[i : i + 1], case["lr"], case["l1"], case["l2"],
                    g[None, :], np.array([0]), emulate=emulate, prox_step=form,
                )
            )
        var[i], accum[i] = w1.astype(np.float32), a1.astype(np.float32)
    np.testing.assert_array_equal(canonical_bits(v), canonical_bits(var))
    np.testing.assert_array_equal(canonical_bits(a), canonical_bits(accum))


@pytest.mark.parametrize("emulate,form", PROFILES)
@given(case=table_case(unique=False))
def test_sequential_policy_applies_one_update_per_occurrence(
    xp: ModuleType, emulate: str | None, form: str, case: dict
) -> None:
    v, a = sparse_step(xp, case, emulate=emulate, prox_step=form, duplicates="sequential")
    var, accum = case["var"].copy(), case["accum"].copy()
    for i, row in zip(case["indices"].tolist(), case["rows"], strict=True):  # one occurrence per call
        v1, a1 = sparse_apply_proximal_adagrad(
            var, accum, case["lr"], case["l1"], case["l2"], row[None, :], np.array([i]),
            emulate=emulate, prox_step=form,
        )
        var, accum = v1, a1
    np.testing.assert_array_equal(canonical_bits(v), canonical_bits(var))
    np.testing.assert_array_equal(canonical_bits(a), canonical_bits(accum))


@given(case=table_case(unique=False))
def test_sum_does_not_depend_on_the_order_of_other_indices(case: dict) -> None:
    """Permuting occurrences while keeping each index's own occurrence order keeps the bits."""
    idx = case["indices"]
    rng = np.random.default_rng(len(idx))
    keys = rng.permutation(len(idx))
    # stable sort by a random key of the *index value*: occurrences of one index keep their order
    value_key = {i: k for k, i in zip(keys, np.unique(idx).tolist(), strict=False)}
    perm = np.argsort(np.array([value_key[i] for i in idx.tolist()], dtype=np.int64), kind="stable")
    shuffled = {**case, "indices": idx[perm], "rows": case["rows"][perm]}
    v1, a1 = sparse_step(np, case)
    v2, a2 = sparse_step(np, shuffled)
    np.testing.assert_array_equal(canonical_bits(v1), canonical_bits(v2))
    np.testing.assert_array_equal(canonical_bits(a1), canonical_bits(a2))


def test_error_policy_refuses_duplicates_and_changes_nothing() -> None:
    var, accum = np.ones((3, 2), np.float32), np.ones((3, 2), np.float32)
    before = var.copy(), accum.copy()
    with pytest.raises(ValueError, match="duplicates"):
        sparse_apply_proximal_adagrad(
            var,
            accum,
            0.1,
            0.0,
            0.0,
            np.ones((2, 2), np.float32),
            np.array([1, 1]),
            duplicates="error",
            inplace=True,
        )
    np.testing.assert_array_equal(var, before[0])
    np.testing.assert_array_equal(accum, before[1])


class IndexedSlicesLike(NamedTuple):
    """Stand-in for TensorFlow's IndexedSlices: only the three attributes matter."""

    values: np.ndarray
    indices: np.ndarray
    dense_shape: tuple[int, ...]


def gradient_forms(var: np.ndarray, rows: np.ndarray, idx: np.ndarray) -> dict[str, tuple[object, object]]:
    dense = np.zeros_like(var)
    dense[idx] = rows
    return {
        "index-value": (rows, idx),
        "RowTensor": (RowTensor(idx, rows, var.shape), None),
        "IndexedSlices-like": (IndexedSlicesLike(rows, idx, var.shape), None),
        "csr": (sp.csr_array(dense), None),
        "csc": (sp.csc_matrix(dense), None),
        "coo": (sp.coo_array(dense), None),
    }


@pytest.mark.parametrize("form", ["index-value", "RowTensor", "IndexedSlices-like", "csr", "csc", "coo"])
def test_every_gradient_form_gives_the_same_bits(form: str) -> None:
    rng = np.random.default_rng(3)
    var = rng.normal(size=(6, 3)).astype(np.float32)
    accum = rng.uniform(0.1, 1, size=(6, 3)).astype(np.float32)
    idx = np.array([4, 1, 5])
    rows = rng.normal(size=(3, 3)).astype(np.float32)  # no zero entries: all forms touch rows 1, 4, 5
    grad, indices = gradient_forms(var, rows, idx)[form]
    v, a = sparse_apply_proximal_adagrad(var, accum, 0.1, 0.05, 0.1, grad, indices)
    ref_v, ref_a = sparse_apply_proximal_adagrad(var, accum, 0.1, 0.05, 0.1, rows, idx)
    np.testing.assert_array_equal(canonical_bits(v), canonical_bits(ref_v))
    np.testing.assert_array_equal(canonical_bits(a), canonical_bits(ref_a))


def test_scipy_rows_with_a_stored_entry_are_touched_even_if_zero() -> None:
    var = np.ones((4, 2), np.float32)
    accum = np.full((4, 2), 0.5, np.float32)
    grad = sp.csr_array((np.array([0.0], np.float32), (np.array([2]), np.array([1]))), shape=(4, 2))
    v, a = sparse_apply_proximal_adagrad(var, accum, 0.1, 0.1, 0.0, grad)
    assert np.all(v[[0, 1, 3]] == 1) and np.all(v[2] < 1)  # the prox shrinks the touched row
    np.testing.assert_array_equal(a, accum)  # zero gradient: accumulators unchanged


def test_empty_indices_change_nothing(xp: ModuleType) -> None:
    var = xp.ones((3, 2), dtype=xp.float32)
    accum = xp.ones((3, 2), dtype=xp.float32)
    rows = xp.zeros((0, 2), dtype=xp.float32)
    idx = xp.zeros((0,), dtype=xp.int64)
    v, _ = sparse_apply_proximal_adagrad(var, accum, 0.1, 0.0, 0.0, rows, idx)
    assert v is not var
    np.testing.assert_array_equal(to_numpy(v), np.ones((3, 2), np.float32))


@pytest.mark.parametrize("duplicates", ["sum", "sequential"])
def test_sparse_inplace_equals_functional(xp: ModuleType, duplicates: str) -> None:
    rng = np.random.default_rng(11)
    var = rng.normal(size=(7, 3)).astype(np.float32)
    accum = rng.uniform(0, 1, size=(7, 3)).astype(np.float32)
    rows = rng.normal(size=(5, 3)).astype(np.float32)
    idx = np.array([6, 0, 6, 3, 0])
    v_f, a_f = sparse_apply_proximal_adagrad(
        xp.asarray(var),
        xp.asarray(accum),
        0.1,
        0.01,
        0.01,
        xp.asarray(rows),
        xp.asarray(idx),
        duplicates=duplicates,
    )
    v_i, a_i = xp.asarray(var.copy()), xp.asarray(accum.copy())
    out = sparse_apply_proximal_adagrad(
        v_i, a_i, 0.1, 0.01, 0.01, xp.asarray(rows), xp.asarray(idx), duplicates=duplicates, inplace=True
    )
    assert out[0] is v_i and out[1] is a_i
    np.testing.assert_array_equal(canonical_bits(v_i), canonical_bits(v_f))
    np.testing.assert_array_equal(canonical_bits(a_i), canonical_bits(a_f))


def test_mindspore_sparse_differs_from_its_dense_kernel() -> None:
    """FusedSparseProximalAdagrad computes lr * (1/sqrt(a)) without FMA; the dense kernel fuses.

    On enough random rows the two arithmetic paths must disagree somewhere,
    which proves the profile does not silently reuse the dense formula.
    """
    rng = np.random.default_rng(5)
    var = rng.normal(size=(512, 8)).astype(np.float32)
    accum = rng.uniform(0, 2, size=(512, 8)).astype(np.float32)
    rows = rng.normal(size=(512, 8)).astype(np.float32)
    idx = np.arange(512)
    sparse_v, _ = sparse_apply_proximal_adagrad(var, accum, 0.1, 0.01, 0.1, rows, idx, emulate="mindspore")
    dense_v, _ = apply_proximal_adagrad(var, accum, 0.1, 0.01, 0.1, rows, emulate="mindspore")
    differ = np.count_nonzero(canonical_bits(sparse_v) != canonical_bits(dense_v))
    assert 0 < differ < sparse_v.size // 2  # different roundings, same mathematics


SPARSE_CASES = [
    (name, dtype)
    for name, profile in sorted(PROFILE_TABLE.items())
    for dtype in (profile.sparse_dtypes or profile.dtypes)
]


@pytest.mark.parametrize(("name", "dtype"), SPARSE_CASES)
@pytest.mark.parametrize("order", ["increasing", "shuffled", "duplicates"])
@pytest.mark.parametrize("width", [1, 13, 64])
def test_sparse_numpy_fast_paths_match_array_api_strict(
    name: str, dtype: str, order: str, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unique indices skip grouping (NumPy); the bits are those of the grouped, standard-only path."""
    import array_api_strict as xps

    from proxadagrad_ref import sparse_apply_proximal_adagrad

    rng = np.random.default_rng(width)
    n_rows, k = 300, 120
    var, acc, _ = random_inputs(dtype, n_rows * width, seed=width)
    var, acc = var.reshape(n_rows, width), np.abs(acc).reshape(n_rows, width)
    idx = rng.choice(n_rows, k, replace=False)
    if order == "increasing":
        idx = np.sort(idx)
    elif order == "duplicates":
        idx = np.concatenate([idx[: k // 2], idx[: k // 4]])
        rng.shuffle(idx)
    rows = random_inputs(dtype, idx.size * width, seed=k)[2].reshape(idx.size, width)
    assert grads.indices_unique(idx) == (order != "duplicates")
    emulate = None if name == "exact" else name
    with np.errstate(all="ignore"):
        got = sparse_apply_proximal_adagrad(var, acc, 0.1, 0.05, 0.1, rows, idx, emulate=emulate)
        if dtype != "float16":  # array-api-strict has no float16
            want = sparse_apply_proximal_adagrad(
                *(xps.asarray(x) for x in (var, acc)), 0.1, 0.05, 0.1, xps.asarray(rows), xps.asarray(idx),
                emulate=emulate,
            )
            assert_same_bits(got, tuple(np.asarray(x) for x in want))
        with monkeypatch.context() as patch:  # the grouped path, on NumPy arrays
            patch.setattr(sparse_kernel, "indices_unique", lambda idx: False)
            grouped = sparse_apply_proximal_adagrad(var, acc, 0.1, 0.05, 0.1, rows, idx, emulate=emulate)
        assert_same_bits(got, grouped)
        v2, a2 = var.copy(), acc.copy()
        out = sparse_apply_proximal_adagrad(v2, a2, 0.1, 0.05, 0.1, rows, idx, emulate=emulate, inplace=True)
    assert out[0] is v2 and out[1] is a2
    assert_same_bits((v2, a2), got)
