"""Bad inputs to the kernels: each raises the documented class, names the argument, changes nothing.

The kernels' whole catalogue of bad inputs (``tests/reliability/test_catalogue.py`` counts it):
dense and sparse arguments, mixed namespaces, odd hyper-parameters and indices, RowTensor and
scipy.sparse gradients that do not fit, engines; every failed call is tried with ``inplace``
False and True and must leave every input bit as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import array_api_strict as xps
import numpy as np
import pytest
import scipy.sparse as sp
from helpers import assert_failed_kernel_call_changes_nothing, bytes_of

from proxadagrad_ref import RowTensor, apply_proximal_adagrad, sparse_apply_proximal_adagrad

F32 = np.float32
NAN, INF = float("nan"), float("inf")


def fresh() -> dict[str, Any]:
    """A valid call's arguments (2-D float32 table with 4 rows)."""
    return {
        "var": np.ones((4, 3), F32),
        "accum": np.full((4, 3), 0.1, F32),
        "lr": 0.1,
        "l1": 0.01,
        "l2": 0.01,
        "grad": np.full((4, 3), 0.5, F32),
    }


def half_call(accum_bits: int) -> dict[str, Any]:
    """A float16 call whose accum has one element of the given bits (its check reads float16 bits)."""
    accum = np.full((4, 3), 0.5, np.float16)
    accum.view(np.uint16)[2, 1] = accum_bits
    return {"var": np.ones((4, 3), np.float16), "accum": accum, "grad": np.ones((4, 3), np.float16)}


def sparse_fresh() -> dict[str, Any]:
    args = fresh()
    args["grad"] = np.full((2, 3), 0.5, F32)
    args["indices"] = np.array([3, 1])
    return args


# (id, which kernel, change to a valid call, exception, words the message must contain)
DENSE_CASES: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("var-list", {"var": [[1.0]]}, TypeError, "var"),
    ("var-int", {"var": np.ones((4, 3), np.int32)}, TypeError, "var"),
    ("var-complex", {"var": np.ones((4, 3), np.complex64)}, TypeError, "var"),
    ("accum-dtype", {"accum": np.full((4, 3), 0.1, np.float64)}, TypeError, "accum"),
    ("accum-shape", {"accum": np.full((4, 2), 0.1, F32)}, ValueError, "accum"),
    ("accum-negative", {"accum": np.full((4, 3), -0.1, F32)}, ValueError, "accum"),
    ("accum-negative-float16-subnormal", half_call(0x8001), ValueError, "accum"),
    ("accum-list", {"accum": [0.1]}, TypeError, "accum"),
    ("grad-dtype", {"grad": np.ones((4, 3), np.float64)}, TypeError, "grad"),
    ("grad-shape", {"grad": np.ones((3, 3), F32)}, ValueError, "grad"),
    (
        "grad-namespace",
        {"grad": xps.ones((4, 3), dtype=xps.float32)},
        TypeError,
        "grad",
    ),
    ("lr-negative", {"lr": -0.1}, ValueError, "lr"),
    ("lr-nan", {"lr": float("nan")}, ValueError, "lr"),
    ("lr-inf", {"lr": float("inf")}, ValueError, "lr"),
    (
        "lr-overflows-float32-hyper-of-float16",
        {
            "var": np.ones(3, np.float16),
            "accum": np.ones(3, np.float16),
            "grad": np.ones(3, np.float16),
            "lr": 1e39,
        },
        ValueError,
        "lr",
    ),
    ("lr-string", {"lr": "0.1"}, TypeError, "lr"),
    ("lr-bool", {"lr": True}, TypeError, "lr"),
    ("lr-vector", {"lr": np.array([0.1, 0.2], F32)}, ValueError, "lr"),
    ("lr-int-array", {"lr": np.array(1)}, TypeError, "lr"),
    ("l1-negative", {"l1": -1e-3}, ValueError, "l1"),
    ("l1-none", {"l1": None}, TypeError, "l1"),
    ("l2-negative", {"l2": -2.0}, ValueError, "l2"),
    ("l2-nan-array", {"l2": np.array(np.nan, F32)}, ValueError, "l2"),
    ("emulate-unknown", {"emulate": "pytorch"}, ValueError, "emulate"),
    ("prox-step-unknown", {"prox_step": "printed"}, ValueError, "prox_step"),
    ("fixed-with-emulation", {"prox_step": "fixed", "emulate": "mindspore"}, ValueError, "prox_step"),
    (
        "profile-dtype",
        {"var": np.ones(3), "accum": np.ones(3), "grad": np.ones(3), "emulate": "mindspore"},
        TypeError,
        "dtype",
    ),
    ("inplace-not-bool", {"inplace": 1}, TypeError, "inplace"),
]

SPARSE_CASES: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("indices-missing", {"indices": None}, TypeError, "indices"),
    ("indices-float", {"indices": np.array([1.0, 2.0])}, TypeError, "indices"),
    ("indices-2d", {"indices": np.array([[1], [2]])}, ValueError, "indices"),
    ("indices-negative", {"indices": np.array([-1, 2])}, ValueError, "indices"),
    ("indices-out-of-range", {"indices": np.array([1, 4])}, ValueError, "indices"),
    ("indices-int8", {"indices": np.array([1, 2], np.int8)}, TypeError, "indices"),
    ("values-rows-mismatch", {"grad": np.ones((3, 3), F32)}, ValueError, "grad"),
    ("values-width", {"grad": np.ones((2, 2), F32)}, ValueError, "grad"),
    ("values-dtype", {"grad": np.ones((2, 3), np.float64)}, TypeError, "grad"),
    ("duplicates-unknown", {"duplicates": "mean"}, ValueError, "duplicates"),
    (
        "rowtensor-with-indices",
        {"grad": RowTensor(np.array([1]), np.ones((1, 3), F32), (4, 3))},
        TypeError,
        "indices",
    ),
    (
        "rowtensor-shape",
        {"grad": RowTensor(np.array([1]), np.ones((1, 3), F32), (5, 3)), "indices": None},
        ValueError,
        "dense_shape",
    ),
    (
        "rowtensor-parts",
        {"grad": RowTensor(np.array([1, 2]), np.ones((1, 3), F32), (4, 3)), "indices": None},
        ValueError,
        "grad",
    ),
    ("scipy-shape", {"grad": sp.csr_array(np.ones((5, 3), F32)), "indices": None}, ValueError, "grad"),
    ("scipy-dtype", {"grad": sp.csr_array(np.ones((4, 3))), "indices": None}, TypeError, "grad"),
    ("scipy-with-indices", {"grad": sp.csr_array(np.ones((4, 3), F32))}, TypeError, "indices"),
    (
        "accum-negative-touched",
        {"accum": np.r_[np.full((3, 3), 0.1, F32), -np.ones((1, 3), F32)]},
        ValueError,
        "accum",
    ),
]


@pytest.mark.parametrize("change,exc,word", [c[1:] for c in DENSE_CASES], ids=[c[0] for c in DENSE_CASES])
def test_dense_bad_input(change: dict[str, Any], exc: type[Exception], word: str) -> None:
    assert_failed_kernel_call_changes_nothing(apply_proximal_adagrad, {**fresh(), **change}, exc, word)


@pytest.mark.parametrize("change,exc,word", [c[1:] for c in SPARSE_CASES], ids=[c[0] for c in SPARSE_CASES])
def test_sparse_bad_input(change: dict[str, Any], exc: type[Exception], word: str) -> None:
    args = {**sparse_fresh(), **change}
    assert_failed_kernel_call_changes_nothing(sparse_apply_proximal_adagrad, args, exc, word)


def test_read_only_var_is_refused_for_inplace() -> None:
    args = fresh()
    args["var"].flags.writeable = False
    with pytest.raises(ValueError, match="var"):
        apply_proximal_adagrad(**args, inplace=True)
    np.testing.assert_array_equal(args["accum"], np.full((4, 3), 0.1, F32))


def test_same_array_for_var_and_accum_is_refused_for_inplace() -> None:
    x = np.ones(3, F32)
    with pytest.raises(ValueError, match="accum"):
        apply_proximal_adagrad(x, x, 0.1, 0.0, 0.0, np.ones(3, F32), inplace=True)


# --- mixed namespaces, odd hyper-parameters and indices, RowTensor and scipy.sparse misfits, engines ---


def strict_args() -> dict[str, Any]:
    return {
        "var": xps.ones((4, 3), dtype=xps.float32),
        "accum": xps.full((4, 3), 0.1, dtype=xps.float32),
        "lr": 0.1,
        "l1": 0.01,
        "l2": 0.01,
        "grad": xps.full((2, 3), 0.5, dtype=xps.float32),
        "indices": xps.asarray([3, 1]),
    }


def rt(indices: Any, values: Any, shape: tuple[int, ...] = (4, 3)) -> RowTensor:
    return RowTensor(indices, values, shape)


# (id, base args, change, exception, word the message must name)
KERNEL_CASES: list[tuple[str, Callable[[], dict[str, Any]], dict[str, Any], type[Exception], str]] = [
    # dense: mixed namespaces, odd hyper-parameters
    ("d-accum-strict", fresh, {"accum": xps.ones((4, 3), dtype=xps.float32)}, TypeError, "accum"),
    ("d-lr-strict-0d", fresh, {"lr": xps.asarray(0.1, dtype=xps.float32)}, TypeError, "lr"),
    ("d-lr-np-nan", fresh, {"lr": np.float64("nan")}, ValueError, "lr"),
    ("d-lr-minus-inf", fresh, {"lr": -INF}, ValueError, "lr"),
    ("d-l1-nan", fresh, {"l1": NAN}, ValueError, "l1"),
    ("d-l1-inf", fresh, {"l1": INF}, ValueError, "l1"),
    ("d-l2-inf", fresh, {"l2": INF}, ValueError, "l2"),
    ("d-l2-inf-array", fresh, {"l2": np.array(np.inf, F32)}, ValueError, "l2"),
    ("d-l1-overflows-float32", fresh, {"l1": 1e300}, ValueError, "l1"),
    ("d-lr-complex", fresh, {"lr": 1j}, TypeError, "lr"),
    ("d-lr-int-beyond-float64", fresh, {"lr": 10**400}, ValueError, "lr"),
    ("d-lr-list", fresh, {"lr": [0.1]}, TypeError, "lr"),
    ("d-lr-0d-int-strict", strict_args, {"lr": xps.asarray(1)}, TypeError, "lr"),
    ("d-grad-list", fresh, {"grad": [[0.5] * 3] * 4}, TypeError, "grad"),
    ("d-grad-scipy", fresh, {"grad": sp.csr_array(np.ones((4, 3), F32))}, TypeError, "grad"),
    ("d-grad-0d", fresh, {"grad": np.array(0.5, F32)}, ValueError, "grad"),
    ("d-var-bool", fresh, {"var": np.ones((4, 3), bool)}, TypeError, "var"),
    ("d-var-none", fresh, {"var": None}, TypeError, "var"),
    ("d-emulate-int", fresh, {"emulate": 1}, ValueError, "emulate"),
    ("d-engine-unknown", fresh, {"engine": "cuda"}, ValueError, "engine"),
    # numba evaluates float16 since the compiled half loads and stores: a numba call it cannot take instead
    ("d-engine-numba-strict", strict_args, {"engine": "numba"}, ValueError, "engine"),
    # sparse: indices
    ("s-indices-float32", sparse_fresh, {"indices": np.array([3.0, 1.0], F32)}, TypeError, "indices"),
    ("s-indices-bool", sparse_fresh, {"indices": np.array([True, False])}, TypeError, "indices"),
    ("s-indices-uint64", sparse_fresh, {"indices": np.array([3, 1], np.uint64)}, TypeError, "indices"),
    ("s-indices-list", sparse_fresh, {"indices": [3, 1]}, TypeError, "indices"),
    ("s-indices-strict", sparse_fresh, {"indices": xps.asarray([3, 1])}, TypeError, "indices"),
    ("s-indices-0d", sparse_fresh, {"indices": np.array(3)}, ValueError, "indices"),
    ("s-indices-int64-max", sparse_fresh, {"indices": np.array([3, 2**63 - 1])}, ValueError, "indices"),
    (
        "s-indices-int32-min",
        sparse_fresh,
        {"indices": np.array([3, -(2**31)], np.int32)},
        ValueError,
        "indices",
    ),
    ("s-grad-strict-rows", sparse_fresh, {"grad": xps.ones((2, 3), dtype=xps.float32)}, TypeError, "grad"),
    ("s-grad-1d-rows", sparse_fresh, {"grad": np.ones(2, F32)}, ValueError, "grad"),
    ("s-var-0d", sparse_fresh, {"var": np.array(1.0, F32), "accum": np.array(0.1, F32)}, ValueError, "var"),
    ("s-duplicates-none", sparse_fresh, {"duplicates": None}, ValueError, "duplicates"),
    ("s-engine-unknown", sparse_fresh, {"engine": "cuda"}, ValueError, "engine"),
    ("s-engine-cupy-numpy-arrays", sparse_fresh, {"engine": "cupy"}, ValueError, "engine"),
    ("d-engine-cupy-numpy-arrays", fresh, {"engine": "cupy"}, ValueError, "engine"),
    ("s-lr-nan", sparse_fresh, {"lr": NAN}, ValueError, "lr"),
    ("s-l2-inf", sparse_fresh, {"l2": INF}, ValueError, "l2"),
    (
        "s-mindspore-float16",
        lambda: {
            k: (v.astype(np.float16) if isinstance(v, np.ndarray) and v.dtype == F32 else v)
            for k, v in sparse_fresh().items()
        },
        {"emulate": "mindspore"},
        TypeError,
        "dtype",
    ),
    # sparse: RowTensor parts that do not fit together
    (
        "rt-values-fewer-rows",
        sparse_fresh,
        {"indices": None, "grad": rt(np.array([0, 1, 2]), np.ones((2, 3), F32))},
        ValueError,
        "grad",
    ),
    (
        "rt-values-narrow",
        sparse_fresh,
        {"indices": None, "grad": rt(np.array([0]), np.ones((1, 2), F32))},
        ValueError,
        "grad",
    ),
    (
        "rt-values-1d",
        sparse_fresh,
        {"indices": None, "grad": rt(np.array([0]), np.ones(3, F32))},
        ValueError,
        "grad",
    ),
    (
        "rt-dense-shape-rank",
        sparse_fresh,
        {"indices": None, "grad": rt(np.array([0]), np.ones((1, 3), F32), (4,))},
        ValueError,
        "dense_shape",
    ),
    (
        "rt-float-indices",
        sparse_fresh,
        {"indices": None, "grad": rt(np.array([0.0]), np.ones((1, 3), F32))},
        TypeError,
        "indices",
    ),
    (
        "rt-2d-indices",
        sparse_fresh,
        {"indices": None, "grad": rt(np.array([[0]]), np.ones((1, 3), F32))},
        ValueError,
        "indices",
    ),
    (
        "rt-index-out-of-range",
        sparse_fresh,
        {"indices": None, "grad": rt(np.array([4]), np.ones((1, 3), F32))},
        ValueError,
        "indices",
    ),
    (
        "rt-values-dtype",
        sparse_fresh,
        {"indices": None, "grad": rt(np.array([0]), np.ones((1, 3)))},
        TypeError,
        "grad",
    ),
    (
        "rt-values-strict",
        sparse_fresh,
        {"indices": None, "grad": rt(np.array([0]), xps.ones((1, 3), dtype=xps.float32))},
        TypeError,
        "grad",
    ),
    (
        "rt-indices-list",
        sparse_fresh,
        {"indices": None, "grad": rt([0], np.ones((1, 3), F32))},
        TypeError,
        "indices",
    ),
    # sparse: scipy.sparse
    (
        "sp-fewer-cols",
        sparse_fresh,
        {"indices": None, "grad": sp.csr_array(np.ones((4, 2), F32))},
        ValueError,
        "shape",
    ),
    (
        "sp-transposed",
        sparse_fresh,
        {"indices": None, "grad": sp.coo_array(np.ones((3, 4), F32))},
        ValueError,
        "shape",
    ),
    (
        "sp-1d-var",
        lambda: {**sparse_fresh(), "var": np.ones(4, F32), "accum": np.ones(4, F32)},
        {"indices": None, "grad": sp.csr_array(np.ones((4, 1), F32))},
        ValueError,
        "var",
    ),
    (
        "sp-strict-var",
        strict_args,
        {"indices": None, "grad": sp.csr_array(np.ones((4, 3), F32))},
        TypeError,
        "NumPy",
    ),
    (
        "sp-int-dtype",
        sparse_fresh,
        {"indices": None, "grad": sp.csr_array(np.ones((4, 3), np.int32))},
        TypeError,
        "dtype",
    ),
    # array-api-strict (no fancy assignment: the merge path)
    ("strict-indices-out-of-range", strict_args, {"indices": xps.asarray([0, 4])}, ValueError, "indices"),
    ("strict-indices-numpy", strict_args, {"indices": np.array([0, 1])}, TypeError, "indices"),
    (
        "strict-duplicates-error",
        strict_args,
        {"indices": xps.asarray([1, 1]), "duplicates": "error"},
        ValueError,
        "duplicates",
    ),
]


@pytest.mark.parametrize(
    ("base", "change", "exc", "word"), [c[1:] for c in KERNEL_CASES], ids=[c[0] for c in KERNEL_CASES]
)
def test_kernel_bad_input_raises_and_changes_nothing(
    base: Callable[[], dict[str, Any]], change: dict[str, Any], exc: type[Exception], word: str
) -> None:
    args = {**base(), **change}
    kernel = sparse_apply_proximal_adagrad if "indices" in args else apply_proximal_adagrad
    assert_failed_kernel_call_changes_nothing(kernel, args, exc, word)


def test_fraction_hyperparameter_is_a_real_number() -> None:
    """numbers.Real values (Fraction) are accepted and rounded like floats -- not an error."""
    args = fresh()
    got = apply_proximal_adagrad(**{**args, "lr": Fraction(1, 10)})
    want = apply_proximal_adagrad(**args)
    assert bytes_of(*got) == bytes_of(*want)


def test_bad_input_catalogue_size() -> None:
    # The catalogue itself is data the reliability page reports; keep it from shrinking unnoticed.
    assert len(DENSE_CASES) + len(SPARSE_CASES) >= 40


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_hyperparameter_fast_path_matches_full_path(dtype: type) -> None:
    """Python numbers on NumPy parameters take a shortcut; it gives the full check's value, dtype and bits."""
    import array_api_compat

    from proxadagrad_ref.kernels.checks import check_hyperparameter

    var = np.ones(3, dtype)
    xp = array_api_compat.array_namespace(var)
    values: list[float | int] = [0, 1, 7, 2**60 + 2**36 + 1, 10**30, 0.0, -0.0, 0.1, 1e-45, 1e-320, 2.9e38,
                                 3.0e38, 3.3e38, 3.4028235e38, 1e300, 1.7e308]

    def outcome(v: object) -> tuple[str, bytes] | str:
        try:
            r = check_hyperparameter("lr", v, var, xp)
        except ValueError as exc:
            assert "lr" in str(exc)
            return "ValueError"
        assert type(r) is np.ndarray and r.shape == ()
        return r.dtype.name, r.tobytes()

    for v in [*values, -1, -1e-30, float("nan"), float("inf"), -float("inf"), 1e39]:
        # np.float64(v) is not a Python number: it takes the full path
        assert outcome(v) == outcome(np.float64(v)), v
    assert outcome(10**400) == "ValueError"  # beyond float64: refused, naming the argument
    assert outcome(1e39) == ("ValueError" if dtype != np.float64 else ("float64", np.float64(1e39).tobytes()))


def test_float16_accumulator_shortcut_on_every_half() -> None:
    """The float16 accum shortcut reads bits: True exactly for +0 ... +inf; the rest take the full check."""
    from proxadagrad_ref.kernels.checks import surely_non_negative

    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    got = np.array([surely_non_negative(every[i : i + 1]) for i in range(every.size)])
    with np.errstate(invalid="ignore"):
        want = (every >= 0) & ~np.signbit(every)  # NaN and -0.0: False (the full check decides)
    np.testing.assert_array_equal(got, want)
    assert surely_non_negative(every[every.view(np.uint16) <= 0x7C00].reshape(-1, 1)[::3])  # strided, 2-D


@pytest.mark.parametrize("bits", [0x8000, 0x7E00, 0xFE00])
def test_float16_accumulator_full_check_allows_negative_zero_and_nan(bits: int) -> None:
    """-0.0 and NaN (either sign) fail the float16 shortcut; the full check then lets them through."""
    args = {**fresh(), **half_call(bits)}
    apply_proximal_adagrad(**args, inplace=True)  # no error
