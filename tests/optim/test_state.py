"""Optimizer state: state_dict / load_state_dict, save / load, exact resumption, refused mismatches."""

from __future__ import annotations

import json
from types import ModuleType

import numpy as np
import pytest
from helpers import to_numpy

from proxadagrad_ref import Parameter, ProximalAdagrad
from proxadagrad_ref.schedules import CosineDecayLR


def make_params(dtype=np.float32):
    return [
        Parameter(np.linspace(-1, 1, 32, dtype=dtype).reshape(2, 16), name="conv.w"),
        Parameter(np.linspace(0, 1, 12, dtype=dtype).reshape(6, 2), name="emb"),
        Parameter(np.ones(3, dtype), name="bn.beta"),
    ]


def grads_at(step, dtype=np.float32):
    rng = np.random.default_rng(step)
    return (
        rng.standard_normal((2, 16)).astype(dtype),
        (np.array([step % 6, 1, step % 6]), rng.standard_normal((3, 2)).astype(dtype)),
        rng.standard_normal(3).astype(dtype),
    )


def build(params, emulate):
    groups = [
        {"params": params[:2], "grad_centralization": True, "weight_decay": 0.01},
        {"params": params[2:], "lr": [0.1, 0.09, 0.08, 0.07, 0.06, 0.05]},
    ]
    return ProximalAdagrad(
        groups,
        learning_rate=CosineDecayLR(0.01, 0.1, 6, emulate=emulate),
        l1=0.001,
        l2=0.01,
        loss_scale=2.0,
        emulate=emulate,
    )


@pytest.mark.parametrize("emulate", [None, "mindspore"])
@pytest.mark.parametrize("via", ["dict", "file"])
def test_resume_gives_the_same_bits(tmp_path, emulate, via):
    full_params = make_params()
    full = build(full_params, emulate)
    for t in range(6):
        full(grads_at(t))

    first_params = make_params()
    first = build(first_params, emulate)
    for t in range(3):
        first(grads_at(t))
    saved_values = [p.data.copy() for p in first_params]  # the model's own checkpoint
    if via == "file":
        first.save(tmp_path / "opt.npz")
    state = first.state_dict()

    resumed_params = [Parameter(v, name=p.name) for v, p in zip(saved_values, first_params, strict=True)]
    resumed = build(resumed_params, emulate)
    if via == "file":
        resumed.load(tmp_path / "opt.npz")
    else:
        resumed.load_state_dict(state)
    assert resumed.global_step == 3
    for t in range(3, 6):
        resumed(grads_at(t))
    for p, q in zip(full_params, resumed_params, strict=True):
        np.testing.assert_array_equal(p.data, q.data, strict=True)
    for a, b in zip(full.accum, resumed.accum, strict=True):
        np.testing.assert_array_equal(a, b, strict=True)


def test_state_dict_contents_are_copies():
    params = make_params()
    opt = build(params, None)
    opt(grads_at(0))
    state = opt.state_dict()
    assert state["global_step"] == 1
    assert state["names"] == ["conv.w", "emb", "bn.beta"]
    assert state["shapes"] == [[2, 16], [6, 2], [3]]
    assert state["dtypes"] == ["float32"] * 3
    assert state["hyper"] == {
        "accum": 0.1,
        "l1": 0.001,
        "l2": 0.01,
        "loss_scale": 2.0,
        "use_locking": False,
        "emulate": None,
        "prox_step": "adaptive",
    }
    state["accum"][0][...] = 7.0
    assert not np.any(opt.accum[0] == 7.0)


def test_saved_file_is_plain_npz_with_json_metadata(tmp_path):
    opt = build(make_params(), "mindspore")
    opt(grads_at(0))
    opt.save(tmp_path / "s.npz")
    with np.load(tmp_path / "s.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["accum_0", "accum_1", "accum_2", "metadata"]
        meta = json.loads(bytes(z["metadata"]).decode())
        np.testing.assert_array_equal(z["accum_1"], opt.accum[1])
    assert meta["global_step"] == 1 and meta["hyper"]["emulate"] == "mindspore"


def _mutated(state, path, value):
    out = {**state, "hyper": dict(state["hyper"]), "accum": list(state["accum"])}
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


# Each row: where the state is changed, the new value, the error, the field the message names.
MISMATCHES = [
    pytest.param(("names",), ["conv.w", "emb", "bn.gamma"], ValueError, "names", id="names"),
    pytest.param(("shapes",), [[2, 16], [6, 3], [3]], ValueError, "shapes", id="shapes"),
    pytest.param(("dtypes",), ["float64"] * 3, ValueError, "dtypes", id="dtypes"),
    pytest.param(("hyper", "l1"), 0.5, ValueError, "l1", id="hyper-l1"),
    pytest.param(("hyper", "emulate"), "mindspore", ValueError, "emulate", id="hyper-emulate"),
    pytest.param(("hyper", "loss_scale"), 1.0, ValueError, "loss_scale", id="hyper-loss-scale"),
    pytest.param(("global_step",), -1, ValueError, "global_step", id="negative-step"),
    pytest.param(("global_step",), 1.5, TypeError, "global_step", id="float-step"),
    pytest.param(("format",), "other", ValueError, "format", id="format"),
    pytest.param(("accum", 1), np.ones((6, 2), np.float64), ValueError, "accum", id="accum-dtype"),
    pytest.param(("accum", 1), np.ones((2, 6), np.float32), ValueError, "accum", id="accum-shape"),
    pytest.param(("accum", 2), -np.ones(3, np.float32), ValueError, "accum", id="accum-negative"),
    pytest.param(("accum",), [], ValueError, "accum", id="accum-count"),
]


@pytest.mark.parametrize(("path", "value", "error", "field"), MISMATCHES)
def test_mismatched_state_refused_and_nothing_changes(path, value, error, field):
    opt = build(make_params(), None)
    opt(grads_at(0))
    good = opt.state_dict()
    other = build(make_params(), None)
    other(grads_at(0))
    other(grads_at(1))
    before = [a.copy() for a in other.accum], other.global_step
    with pytest.raises(error, match=field):
        other.load_state_dict(_mutated(good, path, value))
    assert other.global_step == before[1]
    for a, b in zip(other.accum, before[0], strict=True):
        np.testing.assert_array_equal(a, b, strict=True)


def test_missing_field_refused():
    opt = build(make_params(), None)
    state = opt.state_dict()
    del state["hyper"]
    with pytest.raises(ValueError, match="hyper"):
        opt.load_state_dict(state)


def test_file_from_another_optimizer_refused(tmp_path):
    small = ProximalAdagrad([Parameter(np.ones(2, np.float32), name="w")])
    small.save(tmp_path / "small.npz")
    opt = build(make_params(), None)
    with pytest.raises(ValueError, match="names"):
        opt.load(tmp_path / "small.npz")
    assert opt.global_step == 0


def test_pickled_or_foreign_files_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", metadata=np.array([{"a": 1}], dtype=object))
    opt = build(make_params(), None)
    with pytest.raises(ValueError, match="allow_pickle"):
        opt.load(tmp_path / "obj.npz")
    np.savez(tmp_path / "plain.npz", x=np.ones(2))
    with pytest.raises(ValueError, match="metadata"):
        opt.load(tmp_path / "plain.npz")


def test_state_round_trip_on_every_backend(xp: ModuleType, tmp_path):
    p = Parameter(xp.asarray(np.ones((3, 2))), name="w")
    opt = ProximalAdagrad([p], learning_rate=0.1)
    opt((xp.asarray(np.full((3, 2), 0.5)),))
    opt.save(tmp_path / "s.npz")
    q = Parameter(xp.asarray(np.ones((3, 2))), name="w")
    other = ProximalAdagrad([q], learning_rate=0.1)
    other.load(tmp_path / "s.npz")
    assert other.global_step == 1
    np.testing.assert_array_equal(to_numpy(other.accum[0]), to_numpy(opt.accum[0]))
    assert type(other.accum[0]) is type(p.data)
