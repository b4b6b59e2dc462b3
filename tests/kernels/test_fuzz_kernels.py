"""Property-based fuzzing of the dense and sparse kernels (hypothesis).

Arbitrary shapes (0-d, 0-size, N-d), float16/32/64, values drawn with NaN,
±inf, subnormals and ±0, every profile, prox step and engine, NumPy and
array-api-strict, index patterns with duplicates and empty index lists,
int32/int64, all three duplicate policies. Valid inputs never raise; invalid
ones (duplicates under ``"error"``, a negative accumulator) raise the
documented ValueError and change nothing. The documented special-value
semantics hold per profile:

* exact: IEEE propagation -- a NaN in ``w``, ``a`` or ``g`` gives a NaN ``w'``;
  ``a' = round(a + g*g)`` computed in float64;
* mindspore: where the prox value ``v`` is NaN (``w`` NaN, ``a'`` finite and
  ``> 0``) ``w'`` is ``+0`` when ``l1 > 0`` and NaN when ``l1 == 0``;
* tensorflow: there ``w'`` is NaN whatever ``l1``;
* every profile: ``a' >= a`` unless ``a'`` is NaN (tensorflow: ``a`` with
  subnormals read as zero, FTZ/DAZ); rows a sparse gradient does not touch
  keep every bit.

Run with ``HYPOTHESIS_PROFILE=thorough`` for 3000 examples per test.
"""

from __future__ import annotations

from typing import Any

import array_api_strict as xps
import numpy as np
import pytest
from helpers import bits, engines_for, to_numpy
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from proxadagrad_ref import RowTensor, apply_proximal_adagrad, sparse_apply_proximal_adagrad

# (emulate, dtype, prox_step) the dense kernels define
DENSE_COMBOS = [(None, d, s) for d in ("float16", "float32", "float64") for s in ("adaptive", "fixed")] + [
    ("mindspore", "float16", "adaptive"),
    ("mindspore", "float32", "adaptive"),
    ("tensorflow", "float32", "adaptive"),
    ("tensorflow", "float64", "adaptive"),
]
SPARSE_COMBOS = [c for c in DENSE_COMBOS if c[0] != "mindspore"] + [("mindspore", "float32", "adaptive")]


def values(dtype: str, shape: Any, *, non_negative: bool = False) -> st.SearchStrategy[np.ndarray]:
    """Arrays of `dtype` whose elements include NaN, ±inf, subnormals and ±0 (>= 0 or NaN if asked)."""
    width = np.dtype(dtype).itemsize * 8
    if non_negative:
        elements = st.one_of(
            st.floats(min_value=0.0, width=width, allow_infinity=True, allow_subnormal=True),
            st.sampled_from([float("nan"), -0.0, float("inf")]),
        )
    else:
        elements = st.floats(width=width, allow_nan=True, allow_infinity=True, allow_subnormal=True)
    return hnp.arrays(np.dtype(dtype), shape, elements=elements)


hyper = st.one_of(st.just(0.0), st.floats(0.0, 10.0), st.sampled_from([1e-30, 1e-3, 0.5, 1e3]))


def as_read(emulate: str | None, a: np.ndarray) -> np.ndarray:
    """The accumulator as the kernel reads it: tensorflow (FTZ/DAZ) reads subnormals as zero."""
    if emulate != "tensorflow":
        return a
    return np.where(np.abs(a) < np.finfo(a.dtype).tiny, np.zeros_like(a), a)


def check_accum_and_exact_semantics(
    emulate: str | None,
    w: np.ndarray,
    a: np.ndarray,
    g: np.ndarray,
    w1: np.ndarray,
    a1: np.ndarray,
    l1: float,
) -> None:
    """The special-value semantics every profile documents, elementwise on one update."""
    assert w1.dtype == w.dtype and a1.dtype == a.dtype and w1.shape == w.shape and a1.shape == a.shape
    assert np.all((a1 >= as_read(emulate, a)) | np.isnan(a1)), "an accumulator decreased"
    if emulate is None:
        with np.errstate(all="ignore"):
            want = (a.astype(np.float64) + g.astype(np.float64) ** 2).astype(a.dtype)
        nan = np.isnan(want)
        assert np.array_equal(np.isnan(a1), nan) and np.array_equal(bits(a1)[~nan], bits(want)[~nan])
        assert np.all(np.isnan(w1)[np.isnan(w) | np.isnan(a) | np.isnan(g)]), "NaN did not propagate"
        return
    # the prox value is NaN where w is NaN and the step is finite (a' finite and > 0)
    v_nan = np.isnan(w) & np.isfinite(a1) & (a1 > 0) & np.isfinite(g)
    if emulate == "tensorflow":  # NaN propagates, l1 or not
        assert np.all(np.isnan(w1)[v_nan]), "a NaN prox value must propagate (tensorflow)"
        return
    if np.float32(l1) > 0:  # mindspore
        assert np.all(bits(w1)[v_nan] == 0), "a NaN prox value must become +0 when l1 > 0"
    else:
        assert np.all(np.isnan(w1)[v_nan]), "a NaN prox value must propagate when l1 == 0"


@st.composite
def dense_case(draw: st.DrawFn) -> dict[str, Any]:
    emulate, dtype, step = draw(st.sampled_from(DENSE_COMBOS))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    engines = ["auto", "reference", *engines_for(dtype)]
    return {
        "emulate": emulate,
        "dtype": dtype,
        "step": step,
        "w": draw(values(dtype, shape)),
        "a": draw(values(dtype, shape, non_negative=True)),
        "g": draw(values(dtype, shape)),
        "lr": draw(hyper),
        "l1": draw(hyper),
        "l2": draw(hyper),
        "engine": draw(st.sampled_from(engines)),
        "strict": dtype != "float16" and draw(st.booleans()),
        "inplace": draw(st.booleans()),
    }


@given(case=dense_case())
def test_fuzz_dense_kernel(case: dict[str, Any]) -> None:
    w, a, g = case["w"], case["a"], case["g"]
    kw = {"emulate": case["emulate"], "prox_step": case["step"], "inplace": case["inplace"]}
    if case["strict"]:
        args = [xps.asarray(x.copy()) for x in (w, a, g)]  # asarray may share NumPy's memory
    else:
        args = [x.copy() for x in (w, a, g)]
        kw["engine"] = case["engine"]
    w1, a1 = apply_proximal_adagrad(args[0], args[1], case["lr"], case["l1"], case["l2"], args[2], **kw)
    if case["inplace"]:
        assert w1 is args[0] and a1 is args[1]
    else:
        assert bits(args[0]).tobytes() == bits(w).tobytes()  # functional: inputs untouched
        assert bits(args[1]).tobytes() == bits(a).tobytes()
    check_accum_and_exact_semantics(
        case["emulate"], w, a, g, to_numpy(w1), to_numpy(a1), case["l1"]
    )


@given(case=dense_case(), where=st.integers(0, 10**6))
def test_fuzz_dense_negative_accum_refused_and_nothing_changes(case: dict[str, Any], where: int) -> None:
    a = case["a"].copy()
    assume(a.size > 0)
    a.reshape(-1)[where % a.size] = -1.0
    w, g = case["w"].copy(), case["g"]
    w0, a0 = w.tobytes(), a.tobytes()
    with pytest.raises(ValueError, match="accum"):
        apply_proximal_adagrad(
            w,
            a,
            case["lr"],
            case["l1"],
            case["l2"],
            g,
            emulate=case["emulate"],
            prox_step=case["step"],
            inplace=True,
            engine=case["engine"],
        )
    assert w.tobytes() == w0 and a.tobytes() == a0


@st.composite
def sparse_case(draw: st.DrawFn) -> dict[str, Any]:
    emulate, dtype, step = draw(st.sampled_from(SPARSE_COMBOS))
    n_rows = draw(st.integers(1, 6))
    trailing = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    shape = (n_rows, *trailing)
    k = draw(st.integers(0, 8))
    pattern = draw(st.sampled_from(["random", "all-same", "unique", "sorted"]))
    if pattern == "all-same":
        idx = [draw(st.integers(0, n_rows - 1))] * k
    elif pattern == "unique":
        idx = draw(st.permutations(range(n_rows)))[: min(k, n_rows)]
    else:
        idx = draw(st.lists(st.integers(0, n_rows - 1), min_size=k, max_size=k))
        if pattern == "sorted":
            idx = sorted(idx)
    index_dtype = draw(st.sampled_from([np.int32, np.int64]))
    return {
        "emulate": emulate,
        "dtype": dtype,
        "step": step,
        "w": draw(values(dtype, shape)),
        "a": draw(values(dtype, shape, non_negative=True)),
        "rows": draw(values(dtype, (len(idx), *trailing))),
        "indices": np.array(idx, dtype=index_dtype),
        "lr": draw(hyper),
        "l1": draw(hyper),
        "l2": draw(hyper),
        "duplicates": draw(st.sampled_from(["sum", "sequential", "error"])),
        "form": draw(st.sampled_from(["index-value", "RowTensor"])),
        "strict": dtype != "float16" and draw(st.booleans()),
        "inplace": draw(st.booleans()),
    }


@given(case=sparse_case())
def test_fuzz_sparse_kernel(case: dict[str, Any]) -> None:
    w, a, rows, idx = case["w"], case["a"], case["rows"], case["indices"]
    conv = (lambda x: xps.asarray(x.copy())) if case["strict"] else (lambda x: x.copy())
    var, accum, g, i = (conv(x) for x in (w, a, rows, idx))
    if case["form"] == "RowTensor":
        grad, indices = RowTensor(i, g, tuple(w.shape)), None
    else:
        grad, indices = g, i
    kw = {
        "emulate": case["emulate"],
        "prox_step": case["step"],
        "duplicates": case["duplicates"],
        "inplace": case["inplace"],
    }
    duplicated = len(set(idx.tolist())) < idx.size
    if case["duplicates"] == "error" and duplicated:
        with pytest.raises(ValueError, match="duplicates"):
            sparse_apply_proximal_adagrad(var, accum, case["lr"], case["l1"], case["l2"], grad, indices, **kw)
        assert to_numpy(var).tobytes() == w.tobytes() and to_numpy(accum).tobytes() == a.tobytes()
        return
    w1, a1 = sparse_apply_proximal_adagrad(
        var, accum, case["lr"], case["l1"], case["l2"], grad, indices, **kw
    )
    w1, a1 = to_numpy(w1), to_numpy(a1)
    assert w1.dtype == w.dtype and w1.shape == w.shape and a1.shape == a.shape
    untouched = np.setdiff1d(np.arange(w.shape[0]), idx)
    assert w1[untouched].tobytes() == w[untouched].tobytes(), "an untouched row changed"
    assert a1[untouched].tobytes() == a[untouched].tobytes(), "an untouched accumulator changed"
    assert np.all((a1 >= as_read(case["emulate"], a)) | np.isnan(a1)), "an accumulator decreased"
    if not case["inplace"]:
        assert to_numpy(var).tobytes() == w.tobytes() and to_numpy(accum).tobytes() == a.tobytes()
    if not duplicated:  # one occurrence per row: the elementwise semantics of the sparse formula
        t = np.unique(idx)
        order = np.argsort(idx, kind="stable")
        check_accum_and_exact_semantics(
            case["emulate"], w[t], a[t], rows[order], w1[t], a1[t], case["l1"]
        )


@given(case=sparse_case(), where=st.integers(0, 10**6))
def test_fuzz_sparse_negative_touched_accum_refused_and_nothing_changes(
    case: dict[str, Any], where: int
) -> None:
    a = case["a"].copy()
    idx = case["indices"]
    assume(idx.size > 0 and a[0].size > 0)
    row = int(idx[where % idx.size])
    a[row : row + 1].reshape(-1)[where % a[0].size] = -0.5  # a view: 1-D tables have 0-d rows
    w = case["w"].copy()
    w0, a0 = w.tobytes(), a.tobytes()
    with pytest.raises(ValueError, match=r"accum|duplicates"):  # whichever check comes first
        sparse_apply_proximal_adagrad(
            w,
            a,
            case["lr"],
            case["l1"],
            case["l2"],
            case["rows"],
            idx,
            emulate=case["emulate"],
            prox_step=case["step"],
            duplicates=case["duplicates"],
            inplace=True,
        )
    assert w.tobytes() == w0 and a.tobytes() == a0
