"""Bad inputs the other catalogues do not cover: kernels, optimizer calls, schedules, the CLI.

Every row is one bad input. Each is checked for the documented exception
class, a message that names the argument, and -- wherever there is state --
that every parameter, accumulator and the global step are bit-identical
after the error (``inplace=True`` and ``False`` for the kernels).
The catalogues of ``test_kernel_errors.py``, ``test_optimizer_errors.py``,
``test_schedules.py``, ``test_state.py`` and ``test_vectors_*.py`` are not
repeated; ``test_reliability_catalogue.py`` counts them all.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import array_api_strict as xps
import numpy as np
import pytest
import scipy.sparse as sp
from test_kernel_errors import fresh, sparse_fresh

from proxadagrad_ref import (
    Parameter,
    ProximalAdagrad,
    RowTensor,
    apply_proximal_adagrad,
    sparse_apply_proximal_adagrad,
)
from proxadagrad_ref import schedules as S
from proxadagrad_ref.cli import main

F32 = np.float32
NAN, INF = float("nan"), float("inf")


def bits(x: Any) -> bytes:
    """The raw bytes of an array of any backend (NaN-safe, -0-safe comparison)."""
    if isinstance(x, np.ndarray):
        return x.tobytes()
    return np.from_dlpack(x).tobytes()


def _arrays_in(value: Any) -> list[Any]:
    if isinstance(value, np.ndarray) or type(value).__module__.startswith("array_api_strict"):
        return [value]
    if isinstance(value, RowTensor):
        return [*_arrays_in(value.indices), *_arrays_in(value.values)]
    if sp.issparse(value):
        return [value.data]
    return []


# --- kernels --------------------------------------------------------------------------------------


dense_args = fresh  # a valid dense call's arguments (the kernel catalogue's)
sparse_args = sparse_fresh  # ... and a valid sparse call's (rows 3 and 1)


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
    ("d-accum-strict", dense_args, {"accum": xps.ones((4, 3), dtype=xps.float32)}, TypeError, "accum"),
    ("d-lr-strict-0d", dense_args, {"lr": xps.asarray(0.1, dtype=xps.float32)}, TypeError, "lr"),
    ("d-lr-np-nan", dense_args, {"lr": np.float64("nan")}, ValueError, "lr"),
    ("d-lr-minus-inf", dense_args, {"lr": -INF}, ValueError, "lr"),
    ("d-l1-nan", dense_args, {"l1": NAN}, ValueError, "l1"),
    ("d-l1-inf", dense_args, {"l1": INF}, ValueError, "l1"),
    ("d-l2-inf", dense_args, {"l2": INF}, ValueError, "l2"),
    ("d-l2-inf-array", dense_args, {"l2": np.array(np.inf, F32)}, ValueError, "l2"),
    ("d-l1-overflows-float32", dense_args, {"l1": 1e300}, ValueError, "l1"),
    ("d-lr-complex", dense_args, {"lr": 1j}, TypeError, "lr"),
    ("d-lr-int-beyond-float64", dense_args, {"lr": 10**400}, ValueError, "lr"),
    ("d-lr-list", dense_args, {"lr": [0.1]}, TypeError, "lr"),
    ("d-lr-0d-int-strict", strict_args, {"lr": xps.asarray(1)}, TypeError, "lr"),
    ("d-grad-list", dense_args, {"grad": [[0.5] * 3] * 4}, TypeError, "grad"),
    ("d-grad-scipy", dense_args, {"grad": sp.csr_array(np.ones((4, 3), F32))}, TypeError, "grad"),
    ("d-grad-0d", dense_args, {"grad": np.array(0.5, F32)}, ValueError, "grad"),
    ("d-var-bool", dense_args, {"var": np.ones((4, 3), bool)}, TypeError, "var"),
    ("d-var-none", dense_args, {"var": None}, TypeError, "var"),
    ("d-emulate-int", dense_args, {"emulate": 1}, ValueError, "emulate"),
    ("d-engine-unknown", dense_args, {"engine": "cuda"}, ValueError, "engine"),
    (
        "d-engine-numba-f16",
        lambda: {
            k: (v.astype(np.float16) if isinstance(v, np.ndarray) else v) for k, v in dense_args().items()
        },
        {"engine": "numba"},
        TypeError,
        "numba",
    ),
    # sparse: indices
    ("s-indices-float32", sparse_args, {"indices": np.array([3.0, 1.0], F32)}, TypeError, "indices"),
    ("s-indices-bool", sparse_args, {"indices": np.array([True, False])}, TypeError, "indices"),
    ("s-indices-uint64", sparse_args, {"indices": np.array([3, 1], np.uint64)}, TypeError, "indices"),
    ("s-indices-list", sparse_args, {"indices": [3, 1]}, TypeError, "indices"),
    ("s-indices-strict", sparse_args, {"indices": xps.asarray([3, 1])}, TypeError, "indices"),
    ("s-indices-0d", sparse_args, {"indices": np.array(3)}, ValueError, "indices"),
    ("s-indices-int64-max", sparse_args, {"indices": np.array([3, 2**63 - 1])}, ValueError, "indices"),
    (
        "s-indices-int32-min",
        sparse_args,
        {"indices": np.array([3, -(2**31)], np.int32)},
        ValueError,
        "indices",
    ),
    ("s-grad-strict-rows", sparse_args, {"grad": xps.ones((2, 3), dtype=xps.float32)}, TypeError, "grad"),
    ("s-grad-1d-rows", sparse_args, {"grad": np.ones(2, F32)}, ValueError, "grad"),
    ("s-var-0d", sparse_args, {"var": np.array(1.0, F32), "accum": np.array(0.1, F32)}, ValueError, "var"),
    ("s-duplicates-none", sparse_args, {"duplicates": None}, ValueError, "duplicates"),
    ("s-engine-unknown", sparse_args, {"engine": "cuda"}, ValueError, "engine"),
    ("s-engine-cupy-numpy-arrays", sparse_args, {"engine": "cupy"}, ValueError, "engine"),
    ("d-engine-cupy-numpy-arrays", dense_args, {"engine": "cupy"}, ValueError, "engine"),
    ("s-lr-nan", sparse_args, {"lr": NAN}, ValueError, "lr"),
    ("s-l2-inf", sparse_args, {"l2": INF}, ValueError, "l2"),
    (
        "s-mindspore-float16",
        lambda: {
            k: (v.astype(np.float16) if isinstance(v, np.ndarray) and v.dtype == F32 else v)
            for k, v in sparse_args().items()
        },
        {"emulate": "mindspore"},
        TypeError,
        "dtype",
    ),
    # sparse: RowTensor parts that do not fit together
    (
        "rt-values-fewer-rows",
        sparse_args,
        {"indices": None, "grad": rt(np.array([0, 1, 2]), np.ones((2, 3), F32))},
        ValueError,
        "grad",
    ),
    (
        "rt-values-narrow",
        sparse_args,
        {"indices": None, "grad": rt(np.array([0]), np.ones((1, 2), F32))},
        ValueError,
        "grad",
    ),
    (
        "rt-values-1d",
        sparse_args,
        {"indices": None, "grad": rt(np.array([0]), np.ones(3, F32))},
        ValueError,
        "grad",
    ),
    (
        "rt-dense-shape-rank",
        sparse_args,
        {"indices": None, "grad": rt(np.array([0]), np.ones((1, 3), F32), (4,))},
        ValueError,
        "dense_shape",
    ),
    (
        "rt-float-indices",
        sparse_args,
        {"indices": None, "grad": rt(np.array([0.0]), np.ones((1, 3), F32))},
        TypeError,
        "indices",
    ),
    (
        "rt-2d-indices",
        sparse_args,
        {"indices": None, "grad": rt(np.array([[0]]), np.ones((1, 3), F32))},
        ValueError,
        "indices",
    ),
    (
        "rt-index-out-of-range",
        sparse_args,
        {"indices": None, "grad": rt(np.array([4]), np.ones((1, 3), F32))},
        ValueError,
        "indices",
    ),
    (
        "rt-values-dtype",
        sparse_args,
        {"indices": None, "grad": rt(np.array([0]), np.ones((1, 3)))},
        TypeError,
        "grad",
    ),
    (
        "rt-values-strict",
        sparse_args,
        {"indices": None, "grad": rt(np.array([0]), xps.ones((1, 3), dtype=xps.float32))},
        TypeError,
        "grad",
    ),
    (
        "rt-indices-list",
        sparse_args,
        {"indices": None, "grad": rt([0], np.ones((1, 3), F32))},
        TypeError,
        "indices",
    ),
    # sparse: scipy.sparse
    (
        "sp-fewer-cols",
        sparse_args,
        {"indices": None, "grad": sp.csr_array(np.ones((4, 2), F32))},
        ValueError,
        "shape",
    ),
    (
        "sp-transposed",
        sparse_args,
        {"indices": None, "grad": sp.coo_array(np.ones((3, 4), F32))},
        ValueError,
        "shape",
    ),
    (
        "sp-1d-var",
        lambda: {**sparse_args(), "var": np.ones(4, F32), "accum": np.ones(4, F32)},
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
        sparse_args,
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
    before = {k: [bits(a) for a in _arrays_in(v)] for k, v in args.items()}
    for inplace in (False, True):
        with pytest.raises(exc) as info:
            kernel(**args, inplace=inplace)
        assert word in str(info.value), str(info.value)
        after = {k: [bits(a) for a in _arrays_in(v)] for k, v in args.items()}
        assert after == before, f"an input changed after a failed call (inplace={inplace})"


# --- optimizer calls ------------------------------------------------------------------------------


def _params() -> list[Parameter]:
    return [
        Parameter(np.linspace(-1, 1, 12).reshape(4, 3), name="table"),
        Parameter(np.arange(3.0), name="bias"),
        Parameter(np.array(0.5), name="scalar"),
    ]


GOOD = (np.ones((4, 3)), np.ones(3), np.array(1.0))


def _nan_schedule() -> S.LearningRateSchedule:
    class NanAfterFirst(S.LearningRateSchedule):
        def rate(self, step: int) -> float:
            return NAN if step else 0.1

    return NanAfterFirst()


# (id, optimizer kwargs, grads of the failing call, exception, words the message must name)
STEP_CASES: list[tuple[str, dict[str, Any], Any, type[Exception], list[str]]] = [
    ("grads-none", {}, None, TypeError, ["grads"]),
    ("grads-dict", {}, {"table": GOOD[0]}, TypeError, ["grads"]),
    ("grads-generator", {}, (g for g in GOOD), TypeError, ["grads"]),
    ("grads-empty", {}, (), ValueError, ["grads", "3"]),
    ("grads-one-short", {}, GOOD[:2], ValueError, ["grads", "2"]),
    ("grad-none", {}, (GOOD[0], None, GOOD[2]), TypeError, ["grads[1]", "'bias'"]),
    (
        "grad-strict-dense",
        {},
        (GOOD[0], xps.ones(3, dtype=xps.float64), GOOD[2]),
        TypeError,
        ["grads[1]", "array_api_strict"],
    ),
    (
        "grad-strict-sparse-values",
        {},
        ((np.array([0]), xps.ones((1, 3), dtype=xps.float64)), *GOOD[1:]),
        TypeError,
        ["grads[0]"],
    ),
    (
        "grad-strict-sparse-indices",
        {},
        ((xps.asarray([0]), np.ones((1, 3))), *GOOD[1:]),
        TypeError,
        ["grads[0]", "indices"],
    ),
    ("grad-float16", {}, (GOOD[0], np.ones(3, np.float16), GOOD[2]), TypeError, ["grads[1]", "dtype"]),
    ("grad-0d-for-vector", {}, (GOOD[0], np.array(1.0), GOOD[2]), ValueError, ["grads[1]", "shape"]),
    ("sparse-for-0d", {}, (*GOOD[:2], (np.array([0]), np.ones(1))), ValueError, ["grads[2]", "0-d"]),
    (
        "rowtensor-parts",
        {},
        (RowTensor(np.array([0, 1]), np.ones((1, 3)), (4, 3)), *GOOD[1:]),
        ValueError,
        ["grads[0]", "shape"],
    ),
    (
        "rowtensor-float-indices",
        {},
        (RowTensor(np.array([0.0]), np.ones((1, 3)), (4, 3)), *GOOD[1:]),
        TypeError,
        ["grads[0]", "indices"],
    ),
    (
        "rowtensor-uint-indices",
        {},
        (RowTensor(np.array([0], np.uint32), np.ones((1, 3)), (4, 3)), *GOOD[1:]),
        TypeError,
        ["grads[0]", "indices"],
    ),
    (
        "rowtensor-2d-indices",
        {},
        (RowTensor(np.array([[0]]), np.ones((1, 3)), (4, 3)), *GOOD[1:]),
        ValueError,
        ["grads[0]", "indices"],
    ),
    (
        "tuple-float-indices",
        {},
        ((np.array([1.5]), np.ones((1, 3))), *GOOD[1:]),
        TypeError,
        ["grads[0]", "indices"],
    ),
    ("tuple-one-item", {}, ((np.array([1]),), *GOOD[1:]), TypeError, ["grads[0]", "tuple"]),
    ("scipy-wrong-shape", {}, (sp.csr_array(np.ones((5, 3))), *GOOD[1:]), ValueError, ["grads[0]", "shape"]),
    (
        "scipy-wrong-dtype",
        {},
        (sp.csr_array(np.ones((4, 3), F32)), *GOOD[1:]),
        TypeError,
        ["grads[0]", "dtype"],
    ),
    ("scipy-for-1d", {}, (GOOD[0], sp.csr_array(np.ones((1, 3))), GOOD[2]), TypeError, ["grads[1]", "2-D"]),
    ("lr-schedule-nan", {"learning_rate": _nan_schedule()}, GOOD, ValueError, ["learning_rate"]),
    (
        "wd-callable-inf",
        {"weight_decay": lambda step: INF if step else 0.0},
        GOOD,
        ValueError,
        ["weight_decay"],
    ),
    (
        "wd-callable-none",
        {"weight_decay": lambda step: None if step else 0.0},
        GOOD,
        TypeError,
        ["weight_decay"],
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "grads", "exc", "words"), [c[1:] for c in STEP_CASES], ids=[c[0] for c in STEP_CASES]
)
def test_optimizer_bad_call_raises_and_changes_nothing(
    kwargs: dict[str, Any], grads: Any, exc: type[Exception], words: list[str]
) -> None:
    params = _params()
    opt = ProximalAdagrad(params, **{"learning_rate": 0.1, "l1": 0.01, **kwargs})
    opt(GOOD)  # accumulators and step away from their initial values
    before = [bits(p.data) for p in params], [bits(a) for a in opt.accum], opt.global_step
    ids = [id(p.data) for p in params], [id(a) for a in opt.accum]
    with pytest.raises(exc) as info:
        opt(grads)
    for word in words:
        assert word in str(info.value), str(info.value)
    assert ([bits(p.data) for p in params], [bits(a) for a in opt.accum], opt.global_step) == before
    assert ([id(p.data) for p in params], [id(a) for a in opt.accum]) == ids


def test_mixed_namespace_parameters_refuse_a_swapped_gradient() -> None:
    """A NumPy and an array-api-strict parameter in one optimizer: swapping their gradients is refused."""
    p_np = Parameter(np.ones(3), name="np")
    p_st = Parameter(xps.ones(3, dtype=xps.float64), name="strict")
    opt = ProximalAdagrad([p_np, p_st], learning_rate=0.1)
    opt((np.ones(3), xps.ones(3, dtype=xps.float64)))
    before = bits(p_np.data), bits(p_st.data), [bits(a) for a in opt.accum], opt.global_step
    with pytest.raises(TypeError, match=r"grads\[0\].*'np'"):
        opt((xps.ones(3, dtype=xps.float64), np.ones(3)))
    assert (bits(p_np.data), bits(p_st.data), [bits(a) for a in opt.accum], opt.global_step) == before


# --- optimizer construction: NaN / inf / odd number types not in test_optimizer_errors -------------


def _p() -> list[Parameter]:
    return [Parameter(np.ones(3), name="w")]


CONSTRUCT_CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    *[
        (f"{n}-nan", lambda n=n: ProximalAdagrad(_p(), **{n: NAN}), ValueError, n)
        for n in ("accum", "l1", "l2")
    ],
    *[
        (f"{n}-np-float32", lambda n=n: ProximalAdagrad(_p(), **{n: np.float32(0.1)}), TypeError, n)
        for n in ("accum", "l1", "l2")
    ],
    ("lr-inf", lambda: ProximalAdagrad(_p(), learning_rate=INF), ValueError, "learning_rate"),
    ("lr-list-nan", lambda: ProximalAdagrad(_p(), learning_rate=[0.1, NAN]), ValueError, "learning_rate"),
    (
        "lr-array-inf",
        lambda: ProximalAdagrad(_p(), learning_rate=np.array([0.1, np.inf])),
        ValueError,
        "learning_rate",
    ),
    ("lr-0d-nan", lambda: ProximalAdagrad(_p(), learning_rate=np.array(np.nan)), ValueError, "learning_rate"),
    ("loss-scale-nan", lambda: ProximalAdagrad(_p(), loss_scale=NAN), ValueError, "loss_scale"),
    ("loss-scale-inf", lambda: ProximalAdagrad(_p(), loss_scale=INF), ValueError, "loss_scale"),
    ("loss-scale-bool", lambda: ProximalAdagrad(_p(), loss_scale=True), TypeError, "loss_scale"),
    ("wd-nan", lambda: ProximalAdagrad(_p(), weight_decay=NAN), ValueError, "weight_decay"),
    ("wd-inf", lambda: ProximalAdagrad(_p(), weight_decay=INF), ValueError, "weight_decay"),
    ("group-lr-nan", lambda: ProximalAdagrad([{"params": _p(), "lr": NAN}]), ValueError, "lr"),
    (
        "group-wd-inf",
        lambda: ProximalAdagrad([{"params": _p(), "weight_decay": INF}]),
        ValueError,
        "weight_decay",
    ),
    ("use-locking-none", lambda: ProximalAdagrad(_p(), use_locking=None), TypeError, "use_locking"),
    ("emulate-tensorflow", lambda: ProximalAdagrad(_p(), emulate="tensorflow"), ValueError, "emulate"),
    ("parameter-name-int", lambda: Parameter(np.ones(2), name=3), TypeError, "name"),  # type: ignore[arg-type]
    ("parameter-data-scipy", lambda: Parameter(sp.csr_array(np.ones((2, 2))), name="w"), TypeError, "data"),
]


@pytest.mark.parametrize(
    ("build", "exc", "word"), [c[1:] for c in CONSTRUCT_CASES], ids=[c[0] for c in CONSTRUCT_CASES]
)
def test_optimizer_construction_bad_input(build: Callable[[], Any], exc: type[Exception], word: str) -> None:
    with pytest.raises(exc) as info:
        build()
    assert word in str(info.value), str(info.value)


# --- schedules and list builders: NaN, inf, NumPy scalars (test_schedules covers ints, signs, zero) ---

SCHEDULE_CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("exp-lr-nan", lambda: S.ExponentialDecayLR(NAN, 0.9, 4), ValueError, "learning_rate"),
    ("exp-lr-inf", lambda: S.ExponentialDecayLR(INF, 0.9, 4), ValueError, "learning_rate"),
    ("exp-rate-nan", lambda: S.ExponentialDecayLR(0.1, NAN, 4), ValueError, "decay_rate"),
    ("exp-lr-np-float32", lambda: S.ExponentialDecayLR(np.float32(0.1), 0.9, 4), TypeError, "learning_rate"),
    ("exp-steps-np-float", lambda: S.ExponentialDecayLR(0.1, 0.9, 4.0), TypeError, "decay_steps"),
    ("exp-emulate-bad", lambda: S.ExponentialDecayLR(0.1, 0.9, 4, emulate="tf"), ValueError, "emulate"),
    ("nat-rate-inf", lambda: S.NaturalExpDecayLR(0.1, INF, 4), ValueError, "decay_rate"),
    ("nat-steps-negative", lambda: S.NaturalExpDecayLR(0.1, 0.9, -4), ValueError, "decay_steps"),
    ("inv-lr-minus-inf", lambda: S.InverseDecayLR(-INF, 0.9, 4), ValueError, "learning_rate"),
    ("inv-stair-str", lambda: S.InverseDecayLR(0.1, 0.9, 4, "True"), TypeError, "is_stair"),
    ("cos-min-nan", lambda: S.CosineDecayLR(NAN, 0.1, 4), ValueError, "min_lr"),
    ("cos-max-inf", lambda: S.CosineDecayLR(0.0, INF, 4), ValueError, "max_lr"),
    ("cos-steps-zero", lambda: S.CosineDecayLR(0.0, 0.1, 0), ValueError, "decay_steps"),
    ("cos-emulate-none-str", lambda: S.CosineDecayLR(0.0, 0.1, 4, emulate="None"), ValueError, "emulate"),
    ("poly-lr-nan", lambda: S.PolynomialDecayLR(NAN, 0.01, 4, 0.5), ValueError, "learning_rate"),
    ("poly-end-inf", lambda: S.PolynomialDecayLR(0.1, INF, 4, 0.5), ValueError, "end_learning_rate"),
    ("poly-power-nan", lambda: S.PolynomialDecayLR(0.1, 0.01, 4, NAN), ValueError, "power"),
    ("poly-steps-bool", lambda: S.PolynomialDecayLR(0.1, 0.01, True, 0.5), TypeError, "decay_steps"),
    ("warm-lr-nan", lambda: S.WarmUpLR(NAN, 2), ValueError, "learning_rate"),
    ("warm-lr-negative", lambda: S.WarmUpLR(-0.1, 2), ValueError, "learning_rate"),
    ("warm-steps-float", lambda: S.WarmUpLR(0.1, 2.0), TypeError, "warmup_steps"),
    ("call-step-bool", lambda: S.WarmUpLR(0.1, 2)(True), TypeError, "global_step"),
    ("call-step-str", lambda: S.CosineDecayLR(0.0, 0.1, 4)("1"), TypeError, "global_step"),
    ("call-step-np-negative", lambda: S.InverseDecayLR(0.1, 0.9, 4)(np.int64(-1)), ValueError, "global_step"),
    (
        "pw-rate-nan-type",
        lambda: S.piecewise_constant_lr([1], [np.float32(0.1)]),
        TypeError,
        "learning_rates",
    ),
    ("pw-milestone-float", lambda: S.piecewise_constant_lr([1.0], [0.1]), TypeError, "milestone"),
    ("exp-list-rate-nan", lambda: S.exponential_decay_lr(0.1, NAN, 4, 1, 1), ValueError, "decay_rate"),
    ("nat-list-lr-inf", lambda: S.natural_exp_decay_lr(INF, 0.9, 4, 1, 1), ValueError, "learning_rate"),
    ("inv-list-total-bool", lambda: S.inverse_decay_lr(0.1, 0.9, True, 1, 1), TypeError, "total_step"),
    ("cos-list-min-nan", lambda: S.cosine_decay_lr(NAN, 0.1, 4, 1, 1), ValueError, "min_lr"),
    ("cos-list-spe-zero", lambda: S.cosine_decay_lr(0.0, 0.1, 4, 0, 1), ValueError, "step_per_epoch"),
    ("poly-list-power-inf", lambda: S.polynomial_decay_lr(0.1, 0.01, 4, 1, 1, INF), ValueError, "power"),
    (
        "poly-list-update-int",
        lambda: S.polynomial_decay_lr(0.1, 0.01, 4, 1, 1, 1.0, 1),
        TypeError,
        "update_decay_epoch",
    ),
    ("warm-list-lr-inf", lambda: S.warmup_lr(INF, 4, 1, 1), ValueError, "learning_rate"),
]


@pytest.mark.parametrize(
    ("build", "exc", "word"), [c[1:] for c in SCHEDULE_CASES], ids=[c[0] for c in SCHEDULE_CASES]
)
def test_schedule_bad_input(build: Callable[[], Any], exc: type[Exception], word: str) -> None:
    with pytest.raises(exc) as info:
        build()
    assert word in str(info.value), str(info.value)


def test_schedules_give_finite_rates_at_huge_steps() -> None:
    """No schedule built from valid arguments returns NaN or a negative rate, whatever the step."""
    built = [
        S.ExponentialDecayLR(0.1, 0.9, 4),
        S.NaturalExpDecayLR(0.1, 0.9, 4, True),
        S.InverseDecayLR(0.1, 0.9, 4),
        S.CosineDecayLR(0.0, 0.1, 4),
        S.PolynomialDecayLR(0.1, 0.01, 4, 0.5, True),
        S.WarmUpLR(0.1, 4),
    ]
    for schedule in built:
        for emulate in (None, "mindspore"):
            schedule.emulate = emulate
            for step in (0, 1, 2**31 - 1, 2**53, 10**30):
                rate = schedule(step)
                assert math.isfinite(rate) and rate >= 0, (type(schedule).__name__, emulate, step, rate)


# --- command line -------------------------------------------------------------------------------

# (id, argv with {suite}/{tmp} placeholders, exit status, words stderr must contain)
CLI_CASES: list[tuple[str, list[str], int, list[str]]] = [
    ("no-command", [], 2, ["command"]),
    ("unknown-command", ["frobnicate"], 2, ["frobnicate"]),
    ("unknown-flag", ["verify", "{suite}", "--fast"], 2, ["--fast"]),
    ("verify-default-dir-absent", ["verify"], 2, ["conformance_vectors", "not a folder"]),
    ("verify-missing-dir", ["verify", "{tmp}/nope"], 2, ["nope", "not a folder"]),
    ("verify-dir-is-file", ["verify", "{tmp}/file.txt"], 2, ["file.txt"]),
    ("verify-dir-no-manifest", ["verify", "{tmp}"], 2, ["manifest.json"]),
    ("verify-bad-op", ["verify", "{suite}", "--op", "adam"], 2, ["--op", "adam"]),
    ("verify-bad-profile", ["verify", "{suite}", "--profile", "torch"], 2, ["--profile"]),
    ("verify-bad-prox-step", ["verify", "{suite}", "--prox-step", "both"], 2, ["--prox-step"]),
    (
        "verify-candidate-and-results",
        ["verify", "{suite}", "--candidate", "a:b", "--results", "{tmp}"],
        2,
        ["--results", "--candidate"],
    ),
    ("verify-candidate-no-colon", ["verify", "{suite}", "--candidate", "numpy"], 2, ["MODULE:FUNC"]),
    (
        "verify-candidate-missing-attr",
        ["verify", "{suite}", "--candidate", "numpy:no_such_kernel"],
        2,
        ["no_such_kernel"],
    ),
    (
        "verify-no-case-matches",
        ["verify", "{suite}", "--profile", "mindspore", "--prox-step", "fixed"],
        2,
        ["no case"],
    ),
    ("generate-bad-suite", ["generate", "--out", "{tmp}/x", "--suite", "huge"], 2, ["--suite", "huge"]),
    (
        "generate-out-unwritable",
        ["generate", "--out", "{tmp}/file.txt/sub", "--suite", "smoke"],
        2,
        ["file.txt"],
    ),
    ("crosscheck-no-framework", ["crosscheck", "{suite}"], 2, ["--framework"]),
    ("crosscheck-bad-framework", ["crosscheck", "{suite}", "--framework", "jax"], 2, ["--framework", "jax"]),
]


@pytest.fixture(scope="module")
def cli_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli_rel") / "vectors"
    assert main(["generate", "--out", str(out), "--suite", "smoke"]) == 0
    return out


@pytest.mark.parametrize(
    ("argv", "status", "words"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_cli_bad_invocation(
    argv: list[str],
    status: int,
    words: list[str],
    cli_suite: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "file.txt").write_text("not a suite")  # before any --out below is created
    monkeypatch.chdir(tmp_path)  # default folders (verify's conformance_vectors) are looked up here
    before = sorted(p.name for p in cli_suite.rglob("*"))
    args = [a.format(suite=cli_suite, tmp=tmp_path) for a in argv]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse refusals
        code = exc.code if isinstance(exc.code, int) else 1
    err = capsys.readouterr().err
    assert code == status, err
    for word in words:
        assert word in err, err
    assert "Traceback" not in err
    assert sorted(p.name for p in cli_suite.rglob("*")) == before  # the suite is never touched


def test_cli_exit_status_through_a_real_process(tmp_path: Path) -> None:
    """The installed entry point's exit status and message, in a fresh interpreter."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from proxadagrad_ref.cli import main; sys.exit(main())",
            "verify",
            str(tmp_path / "absent"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "absent" in proc.stderr and "Traceback" not in proc.stderr


def test_fraction_hyperparameter_is_a_real_number() -> None:
    """numbers.Real values (Fraction) are accepted and rounded like floats -- not an error."""
    args = dense_args()
    got = apply_proximal_adagrad(**{**args, "lr": Fraction(1, 10)})
    want = apply_proximal_adagrad(**args)
    assert bits(got[0]) == bits(want[0]) and bits(got[1]) == bits(want[1])
