"""Every argument rule of ProximalAdagrad: the error class, the argument named, and atomic failed steps."""

from __future__ import annotations

import numpy as np
import pytest

from proxadagrad_ref import Parameter, ProximalAdagrad, RowTensor
from proxadagrad_ref.schedules import LearningRateSchedule, WarmUpLR


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
    assert_failed_call_changes_nothing(opt, params, grads, error, named)


def assert_failed_call_changes_nothing(opt, params, grads, error, named):
    """``opt(grads)`` raises `error` naming each of `named`; data, accumulators and step keep every bit."""
    before = [p.data.copy() for p in params], [a.copy() for a in opt.accum], opt.global_step
    data_ids = [id(p.data) for p in params]
    with pytest.raises(error) as info:
        opt(grads)
    for text in named:
        assert text in str(info.value), str(info.value)
    for p, w in zip(params, before[0], strict=True):
        np.testing.assert_array_equal(p.data, w, strict=True)
    for a, a_old in zip(opt.accum, before[1], strict=True):
        np.testing.assert_array_equal(a, a_old, strict=True)
    assert [id(p.data) for p in params] == data_ids
    assert opt.global_step == before[2]


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
    assert_failed_call_changes_nothing(opt, params, (*good[:2], grad), error, named)


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


def test_schedule_global_step_checked():
    with pytest.raises(TypeError, match="global_step"):
        WarmUpLR(0.1, 2)(1.5)
    with pytest.raises(ValueError, match="global_step"):
        WarmUpLR(0.1, 2)(-1)
