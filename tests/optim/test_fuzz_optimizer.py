"""Property-based fuzzing of the ProximalAdagrad optimizer (hypothesis).

Random parameter sets (0-d to 3-D, zero-size included), random groups (lr,
weight decay, centralization, ``order_params``), random scalar settings and
random gradients (dense or sparse, with special values), over several steps,
some of which carry one bad gradient. Properties: a valid call never raises;
a bad call raises the documented class and changes nothing (every parameter,
accumulator and the global step bit-identical); accumulators never decrease
except to NaN; dtypes and shapes are kept; ``global_step`` counts the
successful calls.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from helpers import assert_failed_step_changes_nothing, optimizer_snapshot
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from proxadagrad_ref import Parameter, ProximalAdagrad, RowTensor
from proxadagrad_ref.schedules import CosineDecayLR, WarmUpLR

PROFILES = [
    (None, "float16"),
    (None, "float32"),
    (None, "float64"),
    ("mindspore", "float16"),
    ("mindspore", "float32"),
]


def floats_of(dtype: str, *, specials: bool) -> st.SearchStrategy[float]:
    width = np.dtype(dtype).itemsize * 8
    finite = st.floats(-100.0, 100.0, width=width, allow_subnormal=True)
    if not specials:
        return finite
    return st.one_of(finite, st.sampled_from([float("nan"), float("inf"), -float("inf"), -0.0]))


@st.composite
def optimizer_setup(draw: st.DrawFn) -> dict[str, Any]:
    emulate, dtype = draw(st.sampled_from(PROFILES))
    n = draw(st.integers(1, 3))
    shapes = [draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)) for _ in range(n)]
    # sparse gradients need rows; the MindSpore sparse kernel is float32 only
    sparse_ok = [
        len(s) >= 1 and s[0] > 0 and not (emulate == "mindspore" and dtype == "float16") for s in shapes
    ]
    names = [f"p{i}" + draw(st.sampled_from(["", ".beta", ".gamma"])) for i in range(n)]
    lr_kind = draw(st.sampled_from(["float", "list", "warmup", "cosine"]))
    lr: Any = {
        "float": draw(st.floats(0.0, 1.0)),
        "list": draw(st.lists(st.floats(0.0, 1.0), min_size=8, max_size=8)),
        "warmup": WarmUpLR(0.1, 3, emulate=emulate),
        "cosine": CosineDecayLR(0.0, 0.5, 4, emulate=emulate),
    }[lr_kind]
    grouped = draw(st.booleans())
    return {
        "emulate": emulate,
        "dtype": dtype,
        "shapes": shapes,
        "names": names,
        "sparse_ok": sparse_ok,
        "lr": lr,
        "grouped": grouped,
        "group_split": draw(st.integers(0, n)),
        "group_lr": draw(st.one_of(st.none(), st.floats(0.0, 1.0))),
        "group_wd": draw(st.floats(0.0, 0.1)),
        "centralize": draw(st.booleans()),
        "order": draw(st.booleans()),
        "kwargs": {
            "accum": draw(st.sampled_from([0.0, 1e-8, 0.1, 1.0])),
            "l1": draw(st.sampled_from([0.0, 1e-3, 0.5])),
            "l2": draw(st.sampled_from([0.0, 1e-3, 0.5])),
            "loss_scale": draw(st.sampled_from([1.0, 2.0, 1024.0])),
            "weight_decay": draw(st.sampled_from([0.0, 0.01])),
            "use_locking": draw(st.booleans()),
        },
        "steps": draw(st.integers(1, 4)),
        "specials": draw(st.booleans()),
        "data": draw(st.data()),
    }


def build(setup: dict[str, Any]) -> ProximalAdagrad:
    dt = np.dtype(setup["dtype"])
    params = [
        Parameter(np.linspace(-1, 1, int(np.prod(s)), dtype=dt).reshape(s), name=nm)
        for s, nm in zip(setup["shapes"], setup["names"], strict=True)
    ]
    if setup["grouped"]:
        k = setup["group_split"]
        first: dict[str, Any] = {
            "params": params[:k],
            "weight_decay": setup["group_wd"],
            "grad_centralization": setup["centralize"],
        }
        if setup["group_lr"] is not None:
            first["lr"] = setup["group_lr"]
        groups: list[dict[str, Any]] = [g for g in (first, {"params": params[k:]}) if g["params"]]
        if setup["order"]:
            groups.append({"order_params": params[::-1]})
        return ProximalAdagrad(groups, learning_rate=setup["lr"], emulate=setup["emulate"], **setup["kwargs"])
    return ProximalAdagrad(params, learning_rate=setup["lr"], emulate=setup["emulate"], **setup["kwargs"])


def draw_grad(data: st.DataObject, p: Parameter, sparse_ok: bool, specials: bool) -> Any:
    dt = p.data.dtype.name
    elements = floats_of(dt, specials=specials)
    shape = tuple(p.data.shape)
    form = data.draw(st.sampled_from(["dense", "tuple", "RowTensor"] if sparse_ok else ["dense"]))
    if form == "dense":
        return data.draw(hnp.arrays(p.data.dtype, shape, elements=elements))
    k = data.draw(st.integers(0, 5))
    idx = np.array(data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=k, max_size=k)), np.int64)
    rows = data.draw(hnp.arrays(p.data.dtype, (k, *shape[1:]), elements=elements))
    return (idx, rows) if form == "tuple" else RowTensor(idx, rows, shape)


def bad_grad(kind: str, p: Parameter) -> tuple[Any, type[Exception]]:
    shape = tuple(p.data.shape)
    if kind == "shape":
        return np.zeros((*shape, 2), p.data.dtype), ValueError
    if kind == "dtype":
        other = np.float64 if p.data.dtype != np.float64 else np.float32
        return np.zeros(shape, other), TypeError
    if kind == "list":
        return np.zeros(shape).tolist(), TypeError
    # an index out of range (or any sparse gradient of a 0-d / zero-row parameter)
    n = shape[0] if shape else 0
    width = shape[1:] if shape else ()
    return (np.array([n]), np.zeros((1, *width), p.data.dtype)), ValueError


@given(setup=optimizer_setup())
def test_fuzz_optimizer(setup: dict[str, Any]) -> None:
    opt = build(setup)
    data = setup["data"]
    params = opt.parameters
    for _ in range(setup["steps"]):
        grads = [
            draw_grad(data, p, ok, setup["specials"])
            for p, ok in zip(
                params, [setup["sparse_ok"][setup["names"].index(p.name)] for p in params], strict=True
            )
        ]
        if data.draw(st.integers(0, 3)) == 0:  # one bad gradient somewhere
            where = data.draw(st.integers(0, len(grads) - 1))
            grads[where], error = bad_grad(
                data.draw(st.sampled_from(["shape", "dtype", "list", "index"])), params[where]
            )
            assert_failed_step_changes_nothing(opt, tuple(grads), error, [f"grads[{where}]"])
            continue
        before_accum = [a.copy() for a in opt.accum]
        step = opt.global_step
        try:
            assert opt(tuple(grads)) is True
        except IndexError as exc:  # a 1-D learning-rate list read past its end is documented
            assert isinstance(setup["lr"], list) and "learning_rate" in str(exc)
            return
        assert opt.global_step == step + 1
        for p, a_old, a_new in zip(params, before_accum, opt.accum, strict=True):
            assert p.data.dtype == a_new.dtype == np.dtype(setup["dtype"])
            assert a_new.shape == tuple(p.data.shape) == a_old.shape
            assert np.all((a_new >= a_old) | np.isnan(a_new)), f"accumulator of {p.name!r} decreased"


@given(setup=optimizer_setup())
def test_fuzz_optimizer_state_round_trip(setup: dict[str, Any]) -> None:
    """state_dict -> load_state_dict into a twin gives the same next step, bit for bit."""
    setup = {**setup, "specials": False}
    data = setup["data"]
    opt, twin = build(setup), build(setup)
    sparse_of = {n: ok for n, ok in zip(setup["names"], setup["sparse_ok"], strict=True)}
    grads = tuple(draw_grad(data, p, sparse_of[p.name], False) for p in opt.parameters)
    opt(grads)
    twin.load_state_dict(opt.state_dict())
    for p, q in zip(opt.parameters, twin.parameters, strict=True):
        q.data = p.data.copy()
    try:
        opt(grads)
    except IndexError:
        return
    twin(grads)
    assert optimizer_snapshot(opt) == optimizer_snapshot(twin)
