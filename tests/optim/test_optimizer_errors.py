"""Every argument rule of ProximalAdagrad: the error class, the argument named, and atomic failed steps.

The optimizer's whole catalogue of bad inputs (``tests/reliability/test_catalogue.py`` counts it):
construction (parameters, groups, every setting), calls (gradients of every wrong form, in any
position, of another array library), the kernels' checks in the last parameter, and learning rates or
weight decays that go bad; a failed call leaves every bit, array and the global step as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import array_api_strict as xps
import numpy as np
import pytest
import scipy.sparse as sp
from helpers import assert_failed_step_changes_nothing, optimizer_snapshot

from proxadagrad_ref import Parameter, ProximalAdagrad, RowTensor
from proxadagrad_ref import schedules as S
from proxadagrad_ref.schedules import LearningRateSchedule, WarmUpLR

F32 = np.float32
NAN, INF = float("nan"), float("inf")


def P(name="w", shape=(2, 3), dtype=np.float64):
    return Parameter(np.ones(shape, dtype), name=name)


class Negative(LearningRateSchedule):
    def rate(self, step):
        return -1.0 if step >= 1 else 0.1


# Each row: a function building the optimizer, the error class, a substring the message must contain.
CONSTRUCTION_ERRORS = [
    # params
    pytest.param(lambda: ProximalAdagrad([]), ValueError, "params", id="empty-params"),
    pytest.param(lambda: ProximalAdagrad(None), ValueError, "params", id="none-params"),
    pytest.param(lambda: ProximalAdagrad(P()), TypeError, "params", id="params-not-a-list"),
    pytest.param(lambda: ProximalAdagrad([P(), np.ones(2)]), TypeError, "params", id="non-parameter-element"),
    pytest.param(lambda: ProximalAdagrad([P(), {"params": [P("b")]}]), TypeError, "params", id="mixed-list"),
    pytest.param(lambda: ProximalAdagrad([P(), P()]), ValueError, "'w'", id="duplicate-name"),
    pytest.param(lambda: ProximalAdagrad([P(dtype=np.int32)]), TypeError, "'w'", id="int-parameter"),
    pytest.param(lambda: Parameter([1.0, 2.0], name="w"), TypeError, "data", id="parameter-data-not-array"),
    pytest.param(lambda: Parameter(np.ones(2), name=""), TypeError, "name", id="parameter-empty-name"),
    # groups
    pytest.param(
        lambda: ProximalAdagrad([{"params": [P()], "momentum": 0.9}]),
        KeyError,
        "momentum",
        id="unknown-group-key",
    ),
    pytest.param(lambda: ProximalAdagrad([{"lr": 0.1}]), KeyError, "params", id="group-without-params"),
    pytest.param(lambda: ProximalAdagrad([{"params": []}]), ValueError, "params", id="empty-group"),
    pytest.param(
        lambda: ProximalAdagrad([{"params": [P(), 3]}]), TypeError, "params", id="group-non-parameter"
    ),
    pytest.param(
        lambda: (lambda w: ProximalAdagrad([{"params": [w]}, {"params": [w]}]))(P()),
        ValueError,
        "'w'",
        id="parameter-in-two-groups",
    ),
    pytest.param(
        lambda: (lambda w: ProximalAdagrad([{"params": [w]}, {"order_params": [w], "lr": 0.1}]))(P()),
        ValueError,
        "order_params",
        id="order-params-with-other-key",
    ),
    pytest.param(
        lambda: (lambda w: ProximalAdagrad([{"params": [w]}, {"order_params": [w, P("x")]}]))(P()),
        ValueError,
        "order_params",
        id="order-params-extra",
    ),
    pytest.param(
        lambda: (lambda w: ProximalAdagrad([{"params": [w, P("v")]}, {"order_params": [w]}]))(P()),
        ValueError,
        "order_params",
        id="order-params-missing",
    ),
    pytest.param(
        lambda: (lambda w: ProximalAdagrad([{"params": [w]}, {"order_params": [w, w]}]))(P()),
        ValueError,
        "order_params",
        id="order-params-duplicate",
    ),
    pytest.param(
        lambda: ProximalAdagrad([{"params": [P()], "grad_centralization": 1}]),
        TypeError,
        "grad_centralization",
        id="grad-centralization-not-bool",
    ),
    pytest.param(
        lambda: ProximalAdagrad([{"params": [P()], "lr": [0.1, 0.2]}], learning_rate=[0.1, 0.2, 0.3]),
        ValueError,
        "lr",
        id="group-lr-length",
    ),
    pytest.param(
        lambda: ProximalAdagrad([{"params": [P()], "lr": -0.1}]), ValueError, "lr", id="group-lr-negative"
    ),
    pytest.param(
        lambda: ProximalAdagrad([{"params": [P()], "weight_decay": -1.0}]),
        ValueError,
        "weight_decay",
        id="group-weight-decay-negative",
    ),
    # learning_rate
    pytest.param(
        lambda: ProximalAdagrad([P()], learning_rate=-0.1), ValueError, "learning_rate", id="lr-negative"
    ),
    pytest.param(
        lambda: ProximalAdagrad([P()], learning_rate=float("nan")), ValueError, "learning_rate", id="lr-nan"
    ),
    pytest.param(
        lambda: ProximalAdagrad([P()], learning_rate=True), TypeError, "learning_rate", id="lr-bool"
    ),
    pytest.param(
        lambda: ProximalAdagrad([P()], learning_rate="0.1"), TypeError, "learning_rate", id="lr-str"
    ),
    pytest.param(
        lambda: ProximalAdagrad([P()], learning_rate=object()), TypeError, "learning_rate", id="lr-object"
    ),
    pytest.param(
        lambda: ProximalAdagrad([P()], learning_rate=lambda s: 0.1),
        TypeError,
        "learning_rate",
        id="lr-plain-callable",
    ),
    pytest.param(
        lambda: ProximalAdagrad([P()], learning_rate=np.ones((2, 2))), ValueError, "learning_rate", id="lr-2d"
    ),
    pytest.param(
        lambda: ProximalAdagrad([P()], learning_rate=[]), ValueError, "learning_rate", id="lr-empty"
    ),
    pytest.param(
        lambda: ProximalAdagrad([P()], learning_rate=[0.1, -0.1]),
        ValueError,
        "learning_rate",
        id="lr-list-negative",
    ),
    pytest.param(
        lambda: ProximalAdagrad([P()], learning_rate=[0.1, "a"]),
        TypeError,
        "learning_rate",
        id="lr-list-not-numbers",
    ),
    pytest.param(
        lambda: ProximalAdagrad(
            [P(dtype=np.float32)], learning_rate=WarmUpLR(0.1, 2, emulate=None), emulate="mindspore"
        ),
        ValueError,
        "learning_rate",
        id="schedule-emulate-mismatch",
    ),
    # weight_decay
    pytest.param(
        lambda: ProximalAdagrad([P()], weight_decay=-0.1), ValueError, "weight_decay", id="wd-negative"
    ),
    pytest.param(lambda: ProximalAdagrad([P()], weight_decay="0.1"), TypeError, "weight_decay", id="wd-str"),
    pytest.param(lambda: ProximalAdagrad([P()], weight_decay=None), TypeError, "weight_decay", id="wd-none"),
    # accum, l1, l2 (floats only, as MindSpore)
    *[
        pytest.param(lambda n=n: ProximalAdagrad([P()], **{n: 1}), TypeError, n, id=f"{n}-int")
        for n in ("accum", "l1", "l2")
    ],
    *[
        pytest.param(lambda n=n: ProximalAdagrad([P()], **{n: -0.5}), ValueError, n, id=f"{n}-negative")
        for n in ("accum", "l1", "l2")
    ],
    *[
        pytest.param(lambda n=n: ProximalAdagrad([P()], **{n: float("inf")}), ValueError, n, id=f"{n}-inf")
        for n in ("accum", "l1", "l2")
    ],
    # loss_scale, use_locking, emulate, prox_step
    pytest.param(
        lambda: ProximalAdagrad([P()], loss_scale=0.0), ValueError, "loss_scale", id="loss-scale-zero"
    ),
    pytest.param(
        lambda: ProximalAdagrad([P()], loss_scale=-2), ValueError, "loss_scale", id="loss-scale-neg"
    ),
    pytest.param(
        lambda: ProximalAdagrad([P()], loss_scale="1"), TypeError, "loss_scale", id="loss-scale-str"
    ),
    pytest.param(
        lambda: ProximalAdagrad([P()], use_locking=1), TypeError, "use_locking", id="use-locking-int"
    ),
    pytest.param(
        lambda: ProximalAdagrad([P()], emulate="pytorch"), ValueError, "emulate", id="emulate-unknown"
    ),
    pytest.param(lambda: ProximalAdagrad([P()], prox_step="other"), ValueError, "prox_step", id="prox-step"),
    pytest.param(
        lambda: ProximalAdagrad([P(dtype=np.float32)], prox_step="fixed", emulate="mindspore"),
        ValueError,
        "prox_step",
        id="fixed-prox-under-mindspore",
    ),
    pytest.param(
        lambda: ProximalAdagrad([P(dtype=np.float64)], emulate="mindspore"),
        TypeError,
        "float64",
        id="dtype-not-in-profile",
    ),
]


@pytest.mark.parametrize(("build", "error", "named"), CONSTRUCTION_ERRORS)
def test_construction_errors(build, error, named):
    with pytest.raises(error) as info:
        build()
    assert named in str(info.value)


def test_int_conversions_accepted():
    opt = ProximalAdagrad([P()], learning_rate=2, loss_scale=8, weight_decay=1)
    assert opt.current_lr() == (2.0,)


# --- failed steps change nothing ------------------------------------------------------------------


def _three_params():
    rng = np.random.default_rng(5)
    return [
        Parameter(rng.standard_normal((3, 4)), name="a"),
        Parameter(rng.standard_normal((4,)), name="b"),
        Parameter(rng.standard_normal((5, 2)), name="c"),
    ]


GOOD = (np.ones((3, 4)), np.ones(4), np.ones((5, 2)))

# Each row: optimizer kwargs, the gradients of the failing call, the error, substrings of the message.
STEP_ERRORS = [
    pytest.param(
        {}, (*GOOD[:2], np.ones((5, 3))), ValueError, ["grads[2]", "'c'", "shape"], id="third-grad-shape"
    ),
    pytest.param(
        {}, (*GOOD[:2], np.ones((5, 2), np.float32)), TypeError, ["grads[2]", "dtype"], id="third-grad-dtype"
    ),
    pytest.param({}, (*GOOD[:2], [[1.0, 2.0]] * 5), TypeError, ["grads[2]"], id="third-grad-list"),
    pytest.param(
        {},
        (*GOOD[:2], (np.array([0, 5]), np.ones((2, 2)))),
        ValueError,
        ["grads[2]", "indices"],
        id="index-out-of-range",
    ),
    pytest.param(
        {},
        (*GOOD[:2], (np.array([0, -1]), np.ones((2, 2)))),
        ValueError,
        ["grads[2]", "indices"],
        id="negative-index",
    ),
    pytest.param(
        {},
        (*GOOD[:2], (np.array([0.0, 1.0]), np.ones((2, 2)))),
        TypeError,
        ["grads[2]", "indices"],
        id="float-indices",
    ),
    pytest.param(
        {},
        (*GOOD[:2], (np.array([0, 1]), np.ones((2, 3)))),
        ValueError,
        ["grads[2]", "shape"],
        id="sparse-rows-shape",
    ),
    pytest.param(
        {},
        (*GOOD[:2], RowTensor(np.array([0]), np.ones((1, 2)), (6, 2))),
        ValueError,
        ["grads[2]", "dense_shape"],
        id="rowtensor-dense-shape",
    ),
    pytest.param(
        {},
        (*GOOD[:2], (np.array([0]), np.ones((1, 2)), 3)),
        TypeError,
        ["grads[2]", "tuple"],
        id="three-tuple",
    ),
    pytest.param({}, GOOD[:2], ValueError, ["grads"], id="too-few-grads"),
    pytest.param({}, [*GOOD, np.ones(1)], ValueError, ["grads"], id="too-many-grads"),
    pytest.param({}, np.ones(3), TypeError, ["grads"], id="grads-not-tuple"),
    pytest.param({"learning_rate": [0.1]}, GOOD, IndexError, ["learning_rate"], id="exhausted-lr"),
    pytest.param({"learning_rate": Negative()}, GOOD, ValueError, ["learning_rate"], id="schedule-negative"),
    pytest.param(
        {"weight_decay": lambda step: float("nan") if step else 0.1},
        GOOD,
        ValueError,
        ["weight_decay"],
        id="wd-schedule-nan",
    ),
]


@pytest.mark.parametrize(("kwargs", "grads", "error", "named"), STEP_ERRORS)
def test_failed_step_changes_nothing(kwargs, grads, error, named):
    params = _three_params()
    opt = ProximalAdagrad(params, **kwargs)
    opt(GOOD)  # one good step so that accumulators and step are not at their initial values
    assert_failed_step_changes_nothing(opt, grads, error, named)


# Failures of the kernels' own checks in the *last* parameter, after the others were prepared. Each row:
# the last parameter's dtype, optimizer kwargs, new data bound to it before the failing call (a user may
# rebind Parameter.data; None: keep it), its gradient in that call, the error, substrings of the message.
KERNEL_CHECK_ERRORS = [
    pytest.param(np.float64, {}, np.ones((5, 3)), np.ones((5, 3)), ValueError, ["grads[2]", "accum", "shape"],
                 id="accum-shape"),
    pytest.param(
        np.float64, {}, np.ones((5, 2), np.float32), np.ones((5, 2), np.float32), TypeError,
        ["grads[2]", "accum", "dtype"], id="accum-dtype",
    ),
    pytest.param(np.float64, {}, np.ones((5, 2), np.int64), np.ones((5, 2), np.int64), TypeError,
                 ["grads[2]", "var"], id="int-data"),
    pytest.param(
        np.float32, {"learning_rate": 1e39}, None, np.ones((5, 2), np.float32), ValueError,
        ["grads[2]", "lr", "float32"], id="lr-overflows-float32",
    ),
    pytest.param(
        np.float16, {"emulate": "mindspore"}, None, (np.array([1]), np.ones((1, 2), np.float16)), TypeError,
        ["grads[2]", "sparse"], id="mindspore-float16-sparse",
    ),
]


@pytest.mark.parametrize(("dtype", "kwargs", "data", "grad", "error", "named"), KERNEL_CHECK_ERRORS)
def test_failed_kernel_check_in_the_last_parameter_changes_nothing(dtype, kwargs, data, grad, error, named):
    """Phase 1 checks every parameter's kernel call before phase 2 writes any parameter in place."""
    first = np.float32 if kwargs.get("emulate") else np.float64
    params = _three_params()
    for p, dt in zip(params, (first, first, dtype), strict=True):
        p.data = p.data.astype(dt)
    good = tuple(g.astype(p.data.dtype) for g, p in zip(GOOD, params, strict=True))
    opt = ProximalAdagrad(params, **kwargs)
    if "learning_rate" not in kwargs:  # a huge lr fails from the first step
        opt(good)
    if data is not None:
        params[2].data = data
    assert_failed_step_changes_nothing(opt, (*good[:2], grad), error, named)


def test_exhausted_lr_keeps_failing_and_changes_nothing():
    p = Parameter(np.ones(2), name="w")
    opt = ProximalAdagrad([p], learning_rate=np.array([0.1, 0.2]))
    opt((np.ones(2),))
    opt((np.ones(2),))
    snapshot = p.data.copy()
    for _ in range(2):
        with pytest.raises(IndexError, match="learning_rate has 2 values"):
            opt((np.ones(2),))
    assert opt.global_step == 2 and np.array_equal(p.data, snapshot)


# --- more calls: gradients of every wrong form, callables that go bad --------------------------------


def _table_bias_scalar() -> list[Parameter]:
    return [
        Parameter(np.linspace(-1, 1, 12).reshape(4, 3), name="table"),
        Parameter(np.arange(3.0), name="bias"),
        Parameter(np.array(0.5), name="scalar"),
    ]


TBS = (np.ones((4, 3)), np.ones(3), np.array(1.0))  # good gradients of _table_bias_scalar()


def _nan_schedule() -> S.LearningRateSchedule:
    class NanAfterFirst(S.LearningRateSchedule):
        def rate(self, step: int) -> float:
            return NAN if step else 0.1

    return NanAfterFirst()


# (id, optimizer kwargs, grads of the failing call, exception, words the message must name)
STEP_CASES: list[tuple[str, dict[str, Any], Any, type[Exception], list[str]]] = [
    ("grads-none", {}, None, TypeError, ["grads"]),
    ("grads-dict", {}, {"table": TBS[0]}, TypeError, ["grads"]),
    ("grads-generator", {}, (g for g in TBS), TypeError, ["grads"]),
    ("grads-empty", {}, (), ValueError, ["grads", "3"]),
    ("grads-one-short", {}, TBS[:2], ValueError, ["grads", "2"]),
    ("grad-none", {}, (TBS[0], None, TBS[2]), TypeError, ["grads[1]", "'bias'"]),
    (
        "grad-strict-dense",
        {},
        (TBS[0], xps.ones(3, dtype=xps.float64), TBS[2]),
        TypeError,
        ["grads[1]", "array_api_strict"],
    ),
    (
        "grad-strict-sparse-values",
        {},
        ((np.array([0]), xps.ones((1, 3), dtype=xps.float64)), *TBS[1:]),
        TypeError,
        ["grads[0]"],
    ),
    (
        "grad-strict-sparse-indices",
        {},
        ((xps.asarray([0]), np.ones((1, 3))), *TBS[1:]),
        TypeError,
        ["grads[0]", "indices"],
    ),
    ("grad-float16", {}, (TBS[0], np.ones(3, np.float16), TBS[2]), TypeError, ["grads[1]", "dtype"]),
    ("grad-0d-for-vector", {}, (TBS[0], np.array(1.0), TBS[2]), ValueError, ["grads[1]", "shape"]),
    ("sparse-for-0d", {}, (*TBS[:2], (np.array([0]), np.ones(1))), ValueError, ["grads[2]", "0-d"]),
    (
        "rowtensor-parts",
        {},
        (RowTensor(np.array([0, 1]), np.ones((1, 3)), (4, 3)), *TBS[1:]),
        ValueError,
        ["grads[0]", "shape"],
    ),
    (
        "rowtensor-float-indices",
        {},
        (RowTensor(np.array([0.0]), np.ones((1, 3)), (4, 3)), *TBS[1:]),
        TypeError,
        ["grads[0]", "indices"],
    ),
    (
        "rowtensor-uint-indices",
        {},
        (RowTensor(np.array([0], np.uint32), np.ones((1, 3)), (4, 3)), *TBS[1:]),
        TypeError,
        ["grads[0]", "indices"],
    ),
    (
        "rowtensor-2d-indices",
        {},
        (RowTensor(np.array([[0]]), np.ones((1, 3)), (4, 3)), *TBS[1:]),
        ValueError,
        ["grads[0]", "indices"],
    ),
    (
        "tuple-float-indices",
        {},
        ((np.array([1.5]), np.ones((1, 3))), *TBS[1:]),
        TypeError,
        ["grads[0]", "indices"],
    ),
    ("tuple-one-item", {}, ((np.array([1]),), *TBS[1:]), TypeError, ["grads[0]", "tuple"]),
    ("scipy-wrong-shape", {}, (sp.csr_array(np.ones((5, 3))), *TBS[1:]), ValueError, ["grads[0]", "shape"]),
    (
        "scipy-wrong-dtype",
        {},
        (sp.csr_array(np.ones((4, 3), F32)), *TBS[1:]),
        TypeError,
        ["grads[0]", "dtype"],
    ),
    ("scipy-for-1d", {}, (TBS[0], sp.csr_array(np.ones((1, 3))), TBS[2]), TypeError, ["grads[1]", "2-D"]),
    ("lr-schedule-nan", {"learning_rate": _nan_schedule()}, TBS, ValueError, ["learning_rate"]),
    (
        "wd-callable-inf",
        {"weight_decay": lambda step: INF if step else 0.0},
        TBS,
        ValueError,
        ["weight_decay"],
    ),
    (
        "wd-callable-none",
        {"weight_decay": lambda step: None if step else 0.0},
        TBS,
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
    params = _table_bias_scalar()
    opt = ProximalAdagrad(params, **{"learning_rate": 0.1, "l1": 0.01, **kwargs})
    opt(TBS)  # accumulators and step away from their initial values
    assert_failed_step_changes_nothing(opt, grads, exc, words)


def test_mixed_namespace_parameters_refuse_a_swapped_gradient() -> None:
    """A NumPy and an array-api-strict parameter in one optimizer: swapping their gradients is refused."""
    p_np = Parameter(np.ones(3), name="np")
    p_st = Parameter(xps.ones(3, dtype=xps.float64), name="strict")
    opt = ProximalAdagrad([p_np, p_st], learning_rate=0.1)
    opt((np.ones(3), xps.ones(3, dtype=xps.float64)))
    before = optimizer_snapshot(opt)
    with pytest.raises(TypeError, match=r"grads\[0\].*'np'"):
        opt((xps.ones(3, dtype=xps.float64), np.ones(3)))
    assert optimizer_snapshot(opt) == before


# --- more construction errors: NaN, inf, NumPy scalars ---------------------------------------------


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
