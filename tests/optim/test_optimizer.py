"""ProximalAdagrad: trajectories against an independent hand computation, and every pipeline rule."""

from __future__ import annotations

import threading
import time
from types import ModuleType

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import peak_allocation, to_numpy

from proxadagrad_ref import Parameter, ProximalAdagrad, RowTensor
from proxadagrad_ref.schedules import LearningRateSchedule, WarmUpLR

# --- an independent hand computation (float64, written from the formulas, not from the package) ---


def hand_step(w, a, g, lr, l1=0.0, l2=0.0, wd=0.0, ls=1.0, gc=False, prox_step="adaptive"):
    """One optimizer step on float64 arrays: decay, centralize, unscale, Adagrad, prox."""
    g = (g + wd * ls * w) / ls
    if gc and g.ndim > 1 and g.shape[1] % 16 == 0:
        g = g - g.mean(axis=tuple(range(1, g.ndim)), keepdims=True)
    a = a + g * g
    eta = lr / np.sqrt(a)
    v = w - eta * g
    s = eta if prox_step == "adaptive" else lr
    return np.sign(v) * np.maximum(np.abs(v) - s * l1, 0.0) / (1.0 + s * l2), a


def grads_for(rng, shapes, steps):
    return [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]


# Each row: optimizer kwargs, hand kwargs per step (a function of the step), shapes.
TRAJECTORIES = [
    pytest.param({}, lambda t: {"lr": 0.001}, id="defaults"),
    pytest.param(
        {"learning_rate": 0.1, "l1": 0.05, "l2": 0.1},
        lambda t: {"lr": 0.1, "l1": 0.05, "l2": 0.1},
        id="l1-l2",
    ),
    pytest.param(
        {"learning_rate": 0.1, "l1": 0.05, "prox_step": "fixed"},
        lambda t: {"lr": 0.1, "l1": 0.05, "prox_step": "fixed"},
        id="fixed-prox",
    ),
    pytest.param({"learning_rate": 1}, lambda t: {"lr": 1.0}, id="int-lr"),
    pytest.param(
        {"learning_rate": 0.1, "weight_decay": 0.01}, lambda t: {"lr": 0.1, "wd": 0.01}, id="weight-decay"
    ),
    pytest.param(
        {"learning_rate": 0.1, "weight_decay": 0.01, "loss_scale": 1024},
        lambda t: {"lr": 0.1, "wd": 0.01, "ls": 1024.0},
        id="decay-loss-scale",
    ),
    pytest.param(
        {"learning_rate": [0.3, 0.2, 0.1, 0.05]},
        lambda t: {"lr": float(np.float32([0.3, 0.2, 0.1, 0.05][t]))},
        id="iterable-lr-float32",
    ),
    pytest.param(
        {"learning_rate": np.array([0.3, 0.2, 0.1, 0.05])},
        lambda t: {"lr": [0.3, 0.2, 0.1, 0.05][t]},
        id="1d-array-lr",
    ),
    pytest.param({"learning_rate": np.array(0.25)}, lambda t: {"lr": 0.25}, id="0d-array-lr"),
    pytest.param({"learning_rate": WarmUpLR(0.4, 2)}, lambda t: {"lr": 0.4 * min(t, 2) / 2}, id="schedule"),
    pytest.param(
        {"learning_rate": 0.1, "weight_decay": lambda step: 0.01 * (step + 1)},
        lambda t: {"lr": 0.1, "wd": 0.01 * (t + 1)},
        id="dynamic-weight-decay",
    ),
]


@pytest.mark.parametrize(("kwargs", "hand"), TRAJECTORIES)
def test_trajectory_matches_hand_computation(kwargs, hand):
    rng = np.random.default_rng(0)
    shapes = [(3, 5), (7,)]
    params = [Parameter(rng.standard_normal(s), name=f"p{i}") for i, s in enumerate(shapes)]
    w = [p.data.copy() for p in params]
    a = [np.full(s, 0.1) for s in shapes]
    opt = ProximalAdagrad(params, **kwargs)
    for t, grads in enumerate(grads_for(rng, shapes, 4)):
        assert opt(tuple(grads)) is True
        for i in range(len(shapes)):
            w[i], a[i] = hand_step(w[i], a[i], grads[i], **hand(t))
            np.testing.assert_allclose(params[i].data, w[i], rtol=1e-13, atol=1e-15)
            np.testing.assert_allclose(opt.accum[i], a[i], rtol=1e-13)
    assert opt.global_step == 4


def test_first_step_by_hand_float32_exact_profile():
    """The exact profile rounds once: float32 results equal the float64 hand value rounded."""
    p = Parameter(np.array([1.0, -0.5, 0.0], np.float32), name="w")
    g = np.array([0.3, -0.2, 0.0], np.float32)
    opt = ProximalAdagrad([p], accum=0.1, learning_rate=0.1, l1=0.05, l2=0.1)
    opt((g,))
    w_ref, a_ref = hand_step(
        np.float64(p.data * 0 + [1.0, -0.5, 0.0]),
        np.full(3, np.float64(np.float32(0.1))),
        g.astype(np.float64),
        float(np.float32(0.1)),
        float(np.float32(0.05)),
        float(np.float32(0.1)),
    )
    assert p.data.dtype == np.float32 and opt.accum[0].dtype == np.float32
    np.testing.assert_array_equal(p.data, w_ref.astype(np.float32))
    np.testing.assert_array_equal(opt.accum[0], a_ref.astype(np.float32))


# --- dtypes and array libraries -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtypes_preserved_and_accumulators_in_param_dtype(dtype):
    p = Parameter(np.ones((2, 3), dtype), name="w")
    opt = ProximalAdagrad([p], accum=0.5, learning_rate=0.1)
    assert opt.accum[0].dtype == dtype and float(opt.accum[0][0, 0]) == 0.5
    opt((np.full((2, 3), 0.5, dtype),))
    assert p.data.dtype == dtype and opt.accum[0].dtype == dtype
    w_ref, _ = hand_step(np.ones((2, 3)), np.full((2, 3), 0.5), np.full((2, 3), 0.5), 0.1)
    np.testing.assert_allclose(p.data, w_ref, rtol=float(np.finfo(dtype).eps))


def test_core_step_on_every_backend(xp: ModuleType):
    w0 = np.array([[1.0, -2.0], [0.5, 0.25]])
    g = np.array([[0.1, 0.2], [-0.3, 0.4]])
    p = Parameter(xp.asarray(w0.copy()), name="w")  # updated in place: w0 stays the initial value
    opt = ProximalAdagrad([p], learning_rate=0.1, l1=0.01, l2=0.02, weight_decay=0.1)
    opt((xp.asarray(g),))
    w_ref, a_ref = hand_step(w0, np.full((2, 2), 0.1), g, 0.1, 0.01, 0.02, wd=0.1)
    np.testing.assert_allclose(to_numpy(p.data), w_ref, rtol=1e-13)
    np.testing.assert_allclose(to_numpy(opt.accum[0]), a_ref, rtol=1e-13)


def test_sparse_step_on_every_backend(xp: ModuleType):
    w0 = np.arange(8.0).reshape(4, 2)
    p = Parameter(xp.asarray(w0.copy()), name="emb")  # updated in place: w0 stays the initial value
    opt = ProximalAdagrad([p], learning_rate=0.1, weight_decay=0.5)
    rows = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    opt(((xp.asarray(np.array([2, 0, 2])), xp.asarray(rows)),))
    # row 2 appears twice: each occurrence is decayed, then the two are summed
    g = np.zeros((4, 2))
    g[2] = (rows[0] + 0.5 * w0[2]) + (rows[2] + 0.5 * w0[2])
    g[0] = rows[1] + 0.5 * w0[0]
    w_ref, a_ref = hand_step(w0, np.full((4, 2), 0.1), g, 0.1)
    touched = [0, 2]
    np.testing.assert_allclose(to_numpy(p.data)[touched], w_ref[touched], rtol=1e-13)
    np.testing.assert_array_equal(to_numpy(p.data)[[1, 3]], w0[[1, 3]])
    np.testing.assert_allclose(to_numpy(opt.accum[0])[touched], a_ref[touched], rtol=1e-13)


def test_mindspore_emulation_runs_on_array_api_strict(xp: ModuleType):
    p = Parameter(xp.asarray(np.ones((2, 16), np.float32)), name="w")
    opt = ProximalAdagrad(
        [{"params": [p], "grad_centralization": True, "weight_decay": 0.1}],
        learning_rate=0.1,
        loss_scale=4.0,
        emulate="mindspore",
    )
    opt((xp.asarray(np.linspace(-1, 1, 32, dtype=np.float32).reshape(2, 16)),))
    assert to_numpy(p.data).dtype == np.float32


# --- sparse gradient forms ------------------------------------------------------------------------

SPARSE_FORMS = [
    pytest.param(lambda i, v, shape: RowTensor(i, v, shape), id="RowTensor"),
    pytest.param(lambda i, v, shape: (i, v), id="index-value-tuple"),
    pytest.param(lambda i, v, shape: sp.csr_matrix(_dense(i, v, shape)), id="scipy-csr"),
    pytest.param(lambda i, v, shape: sp.coo_matrix(_dense(i, v, shape)), id="scipy-coo"),
]


def _dense(indices, values, shape):
    out = np.zeros(shape, values.dtype)
    np.add.at(out, indices, values)
    return out


@pytest.mark.parametrize("make", SPARSE_FORMS)
def test_sparse_forms_agree_with_dense_on_touched_rows(make):
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((6, 4))
    indices = np.array([4, 1, 3])
    values = rng.standard_normal((3, 4))
    sparse_p, dense_p = Parameter(w0.copy(), "a"), Parameter(w0.copy(), "b")
    ProximalAdagrad([sparse_p], learning_rate=0.1, l1=0.01)((make(indices, values, (6, 4)),))
    dense_opt = ProximalAdagrad([dense_p], learning_rate=0.1, l1=0.01)
    dense_opt((_dense(indices, values, (6, 4)),))
    np.testing.assert_array_equal(sparse_p.data[indices], dense_p.data[indices])
    untouched = [0, 2, 5]
    np.testing.assert_array_equal(sparse_p.data[untouched], w0[untouched])


def test_sparse_duplicates_summed_in_float64_before_one_rounding():
    """Exact profile: duplicate rows are summed in float64 and rounded once to float32."""
    p = Parameter(np.zeros((2, 1), np.float32), name="emb")
    values = np.array([[1.0], [2.0**-24], [2.0**-24]], np.float32)  # 1 + 2**-23 exactly
    opt = ProximalAdagrad([p], accum=0.0, learning_rate=1.0)
    opt(((np.array([0, 0, 0]), values),))
    assert opt.accum[0][0, 0] == np.float32((1 + 2.0**-23) ** 2)


def test_sparse_centralization_uses_the_rows():
    p = Parameter(np.zeros((4, 16)), name="conv.w")
    rows = np.arange(32.0).reshape(2, 16)
    opt = ProximalAdagrad([{"params": [p], "grad_centralization": True}], learning_rate=0.1)
    opt(((np.array([3, 1]), rows),))
    centred = rows - rows.mean(axis=1, keepdims=True)
    w_ref, _ = hand_step(np.zeros((2, 16)), np.full((2, 16), 0.1), centred, 0.1)
    np.testing.assert_allclose(p.data[[3, 1]], w_ref, rtol=1e-13)


# --- groups, weight-decay filters, centralization rule, order -------------------------------------


def test_ungrouped_weight_decay_skips_beta_and_gamma():
    names = ["fc.weight", "bn.beta", "bn.gamma", "fc.bias"]
    params = [Parameter(np.ones(3), name=n) for n in names]
    opt = ProximalAdagrad(params, learning_rate=0.1, weight_decay=0.5)
    opt(tuple(np.zeros(3) for _ in names))
    decayed = [not np.array_equal(p.data, np.ones(3)) for p in params]
    assert decayed == [True, False, False, True]


GROUP_DECAY = [  # group entry, optimizer weight_decay, whether the parameter is decayed
    pytest.param({"weight_decay": 0.5}, 0.0, True, id="positive"),
    pytest.param({"weight_decay": 0.0}, 0.5, False, id="zero-overrides-default"),
    pytest.param({"weight_decay": lambda step: 0.5}, 0.0, True, id="dynamic"),
    pytest.param({}, 0.5, True, id="inherits-default"),
    pytest.param({}, 0.0, False, id="default-zero"),
]


@pytest.mark.parametrize(("group", "default", "decayed"), GROUP_DECAY)
def test_grouped_weight_decay_rule_ignores_names(group, default, decayed):
    p = Parameter(np.ones(3), name="bn.gamma")  # a name the ungrouped filter would skip
    opt = ProximalAdagrad([{"params": [p], **group}], learning_rate=0.1, weight_decay=default)
    opt((np.zeros(3),))
    assert (not np.array_equal(p.data, np.ones(3))) is decayed


CENTRALIZE = [
    pytest.param((4, 16), True, id="2d-16"),
    pytest.param((2, 32, 3, 3), True, id="4d-32"),
    pytest.param((4, 8), False, id="2d-8"),
    pytest.param((16,), False, id="1d"),
]


@pytest.mark.parametrize(("shape", "centralized"), CENTRALIZE)
def test_centralization_rule(shape, centralized):
    rng = np.random.default_rng(2)
    g = rng.standard_normal(shape)
    p = Parameter(np.zeros(shape), name="conv.w")
    ProximalAdagrad([{"params": [p], "grad_centralization": True}], learning_rate=0.1)((g,))
    w_ref, _ = hand_step(np.zeros(shape), np.full(shape, 0.1), g, 0.1, gc=centralized)
    np.testing.assert_allclose(p.data, w_ref, rtol=1e-13)


def test_centralization_off_without_groups():
    g = np.arange(32.0).reshape(2, 16)
    p = Parameter(np.zeros((2, 16)), name="conv.w")
    ProximalAdagrad([p], learning_rate=0.1)((g,))
    np.testing.assert_allclose(p.data, hand_step(np.zeros((2, 16)), np.full((2, 16), 0.1), g, 0.1)[0])


def test_order_params_sets_update_order_and_group_settings_follow():
    a, b, c = (Parameter(np.ones(2), name=n) for n in ("conv1", "fc1", "fc2"))
    opt = ProximalAdagrad(
        [{"params": [b, c], "lr": 0.01}, {"params": [a], "weight_decay": 0.1}, {"order_params": [c, a, b]}],
        learning_rate=0.1,
    )
    assert [p.name for p in opt.parameters] == ["fc2", "conv1", "fc1"]
    assert opt.current_lr() == (0.01, 0.1, 0.01)
    assert len(opt.accum) == 3


def test_groups_without_order_keep_group_order():
    a, b = Parameter(np.ones(2), name="a"), Parameter(np.ones(2), name="b")
    opt = ProximalAdagrad([{"params": [b]}, {"params": [a]}])
    assert [p.name for p in opt.parameters] == ["b", "a"]


# --- learning rates -------------------------------------------------------------------------------


class Halving(LearningRateSchedule):
    def rate(self, step):
        return 0.5**step


def test_schedule_called_with_global_step():
    p = Parameter(np.zeros(1), name="w")
    opt = ProximalAdagrad([p], learning_rate=Halving())
    seen = []
    for _ in range(3):
        seen.append(opt.current_lr()[0])
        opt((np.ones(1),))
    assert seen == [1.0, 0.5, 0.25]


def test_group_1d_lrs_of_equal_length():
    a, b = Parameter(np.ones(1), name="a"), Parameter(np.ones(1), name="b")
    opt = ProximalAdagrad(
        [{"params": [a], "lr": [0.1, 0.2]}, {"params": [b]}], learning_rate=np.array([0.3, 0.4])
    )
    lrs = []
    for _ in range(2):
        lrs.append(opt.current_lr())
        opt((np.ones(1), np.ones(1)))
    assert lrs == [(float(np.float32(0.1)), 0.3), (float(np.float32(0.2)), 0.4)]


def test_mindspore_fixed_group_lr_passes_through_convert_to_cell():
    """MindSpore: grouped lr + a dynamic lr wraps fixed rates as ``lr + 1.0 - 1.0`` in float32."""
    a, b = Parameter(np.ones(1, np.float32), name="a"), Parameter(np.ones(1, np.float32), name="b")
    groups = [{"params": [a], "lr": 0.001}, {"params": [b]}]
    ms = ProximalAdagrad(groups, learning_rate=[0.1, 0.1], emulate="mindspore")
    f32 = np.float32
    assert ms.current_lr()[0] == float((f32(1.0) + f32(0.001)) - f32(1.0)) != float(f32(0.001))
    exact = ProximalAdagrad([{"params": [a], "lr": 0.001}, {"params": [b]}], learning_rate=[0.1, 0.1])
    assert exact.current_lr()[0] == 0.001
    plain = ProximalAdagrad(groups, learning_rate=0.1, emulate="mindspore")  # nothing dynamic: no wrapping
    assert plain.current_lr()[0] == float(f32(0.001))


# --- MindSpore pipeline numerics (float32) --------------------------------------------------------


def test_mindspore_pipeline_rounds_each_stage_in_float32():
    w0 = np.array([0.7, -1.3, 2.1], np.float32)
    g0 = np.array([0.2, 0.6, -0.9], np.float32)
    p = Parameter(w0.copy(), name="w")
    opt = ProximalAdagrad(
        [p], accum=0.1, learning_rate=0.01, weight_decay=0.003, loss_scale=3.0, emulate="mindspore"
    )
    opt((g0,))
    f32 = np.float32
    g = w0 * f32(0.003 * 3.0) + g0  # decay_weight: AddN(Mul(w, wd*ls), g) in float32
    g = g * f32(1.0 / 3.0)  # scale_grad: Mul(g, float32(1/ls))
    from proxadagrad_ref import apply_proximal_adagrad

    w_ref, a_ref = apply_proximal_adagrad(
        w0, np.full(3, 0.1, np.float32), float(f32(0.01)), 0.0, 0.0, g, emulate="mindspore"
    )
    np.testing.assert_array_equal(p.data, w_ref)
    np.testing.assert_array_equal(opt.accum[0], a_ref)


# --- locking --------------------------------------------------------------------------------------


def test_use_locking_threads_lose_no_update():
    """Integer gradients: final accumulators are exactly the sum of squares of every call's gradient."""
    params = [Parameter(np.zeros((8,)), name=f"p{i}") for i in range(3)]
    opt = ProximalAdagrad(params, accum=0.0, learning_rate=0.0, use_locking=True)
    n_threads, n_calls = 4, 40

    def worker(k):
        for _ in range(n_calls):
            opt(tuple(np.full(8, float(k + 1)) for _ in params))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = n_calls * sum((k + 1) ** 2 for k in range(n_threads))
    assert opt.global_step == n_threads * n_calls
    for acc in opt.accum:
        np.testing.assert_array_equal(acc, np.full(8, float(expected)))


@pytest.mark.parametrize(("use_locking", "blocks"), [(True, True), (False, False)])
def test_use_locking_takes_the_parameter_lock_only_when_asked(use_locking, blocks):
    p = Parameter(np.zeros(2), name="w")
    opt = ProximalAdagrad([p], use_locking=use_locking)
    done = threading.Event()
    with p.lock:
        worker = threading.Thread(target=lambda: (opt((np.ones(2),)), done.set()))
        worker.start()
        time.sleep(0.2)
        assert done.is_set() is not blocks
    worker.join(5)
    assert done.is_set() and opt.global_step == 1


@pytest.mark.parametrize("emulate", [None, "mindspore"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_step_updates_the_parameter_array_in_place(emulate, sparse):
    """Parameter.data keeps its identity and gets the kernel's bits; accum snapshots stay as they were."""
    from proxadagrad_ref import apply_proximal_adagrad, sparse_apply_proximal_adagrad

    rng = np.random.default_rng(4)
    data = rng.standard_normal((5, 3)).astype(np.float32)
    w0 = data.copy()
    p = Parameter(data, name="w")
    opt = ProximalAdagrad([p], learning_rate=0.1, l1=0.01, l2=0.02, emulate=emulate)
    old_accum = opt.accum[0]
    assert opt.accum[0] is old_accum  # one snapshot until the accumulators change
    g = rng.standard_normal((2, 3) if sparse else (5, 3)).astype(np.float32)
    idx = np.array([3, 1])
    opt(((idx, g),) if sparse else (g,))
    lr, l1, l2 = (float(np.float32(x)) if emulate else x for x in (0.1, 0.01, 0.02))
    a0 = np.full((5, 3), 0.1, np.float32)
    if sparse:
        w_ref, a_ref = sparse_apply_proximal_adagrad(w0, a0, lr, l1, l2, g, idx, emulate=emulate)
    else:
        w_ref, a_ref = apply_proximal_adagrad(w0, a0, lr, l1, l2, g, emulate=emulate)
    assert p.data is data
    np.testing.assert_array_equal(data, w_ref, strict=True)
    np.testing.assert_array_equal(opt.accum[0], a_ref, strict=True)
    np.testing.assert_array_equal(old_accum, np.full((5, 3), 0.1, np.float32), strict=True)
    assert not old_accum.flags.writeable and opt.accum[0] is not old_accum
    state = opt.state_dict()
    opt(((idx, g),) if sparse else (g,))
    np.testing.assert_array_equal(state["accum"][0], a_ref, strict=True)  # a copy, not the live array


def test_read_only_parameter_array_is_replaced_not_written():
    """An array that cannot be written in place is replaced (the kernel runs functionally), same bits."""
    data = np.linspace(-1.0, 1.0, 6)
    data.setflags(write=False)
    p, q = Parameter(data, name="ro"), Parameter(data.copy(), name="rw")
    opt = ProximalAdagrad([p, q], learning_rate=0.1, l1=0.01)
    g = np.linspace(0.5, -0.5, 6)
    for _ in range(2):  # the second step writes the (writable) replacement in place
        opt((g, g))
    assert p.data is not data and np.array_equal(data, np.linspace(-1.0, 1.0, 6))
    assert p.data.tobytes() == q.data.tobytes()
    assert opt.accum[0].tobytes() == opt.accum[1].tobytes()


def test_gradient_that_is_another_parameters_array_is_read_before_any_write():
    """Parameters are written one after the other: a gradient aliasing one still has its old values."""
    rng = np.random.default_rng(6)
    a0, b0 = rng.standard_normal(4), rng.standard_normal(4)
    a, b = Parameter(a0.copy(), name="a"), Parameter(b0.copy(), name="b")
    ProximalAdagrad([a, b], learning_rate=0.1, l1=0.01)((b.data, a.data[::-1]))
    c, d = Parameter(a0.copy(), name="a"), Parameter(b0.copy(), name="b")
    ProximalAdagrad([c, d], learning_rate=0.1, l1=0.01)((b0.copy(), a0[::-1].copy()))
    assert (a.data.tobytes(), b.data.tobytes()) == (c.data.tobytes(), d.data.tobytes())


def test_overlapping_parameters_are_updated_from_their_values_before_the_step():
    """Two parameters viewing overlapping memory: each update reads the values of before the step."""
    buf = np.arange(6.0)
    p, q = Parameter(buf[:4], name="p"), Parameter(buf[2:], name="q")
    opt = ProximalAdagrad([p, q], learning_rate=0.1)
    opt((np.ones(4), np.ones(4)))
    r, s = Parameter(np.arange(4.0), name="p"), Parameter(np.arange(2.0, 6.0), name="q")
    ProximalAdagrad([r, s], learning_rate=0.1)((np.ones(4), np.ones(4)))
    assert (p.data.tobytes(), q.data.tobytes()) == (r.data.tobytes(), s.data.tobytes())
    assert np.array_equal(buf, np.arange(6.0))  # the overlapping views were replaced, not written


def _library_array(library: str, values: np.ndarray) -> object:
    """`values` as an array of `library` sharing its memory (torch: a tensor over the NumPy buffer)."""
    if library == "numpy":
        return values
    torch = pytest.importorskip("torch")
    return torch.from_numpy(values)


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_overlapping_views_of_one_storage_give_the_bits_of_separate_arrays(library: str) -> None:
    """Overlap is found from the memory, not the ``base`` chain (a torch view's base is its own tensor)."""
    buf = _library_array(library, np.arange(6.0, dtype=np.float32))
    p, q = Parameter(buf[:4], name="p"), Parameter(buf[2:], name="q")
    ones = _library_array(library, np.ones(4, np.float32))
    ProximalAdagrad([p, q], learning_rate=0.1)((ones, ones))
    r = Parameter(np.arange(4.0, dtype=np.float32), name="p")
    s = Parameter(np.arange(2.0, 6.0, dtype=np.float32), name="q")
    ProximalAdagrad([r, s], learning_rate=0.1)((np.ones(4, np.float32), np.ones(4, np.float32)))
    assert (to_numpy(p.data).tobytes(), to_numpy(q.data).tobytes()) == (r.data.tobytes(), s.data.tobytes())


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_a_gradient_that_is_an_earlier_parameters_memory_keeps_its_values(library: str) -> None:
    """Parameter 1's gradient *is* parameter 0's memory: it is read as it was before parameter 0 changed."""
    x0, x1 = np.array([1.0, 2.0, 3.0], np.float32), np.array([0.5, -0.5, 0.25], np.float32)
    p0, p1 = (Parameter(_library_array(library, x.copy()), name) for x, name in ((x0, "p0"), (x1, "p1")))
    ProximalAdagrad([p0, p1], learning_rate=0.1)((_library_array(library, np.ones(3, np.float32)), p0.data))
    r0, r1 = Parameter(x0.copy(), "p0"), Parameter(x1.copy(), "p1")
    ProximalAdagrad([r0, r1], learning_rate=0.1)((np.ones(3, np.float32), x0.copy()))
    assert [to_numpy(p.data).tobytes() for p in (p0, p1)] == [r0.data.tobytes(), r1.data.tobytes()]


@pytest.mark.parametrize("emulate", [None, "mindspore"])
def test_step_allocates_no_parameter_sized_array(emulate):
    """In place: a step's peak allocation is far below one parameter (the kernels' O(chunk) at most)."""
    n = 1 << 22
    rng = np.random.default_rng(7)
    params = [Parameter(rng.standard_normal(n, dtype=np.float32), name=f"p{i}") for i in range(2)]
    grads = tuple(rng.standard_normal(n, dtype=np.float32) for _ in params)
    opt = ProximalAdagrad(params, learning_rate=0.01, l1=1e-4, emulate=emulate)
    opt(grads)  # compiles and primes outside the measurement
    growth = peak_allocation(lambda: opt(grads))
    assert growth <= 0.10 * params[0].data.nbytes, f"a step allocated {growth / 4 / n:.2f} arrays"


@pytest.mark.parametrize("seed", range(60))
def test_layout_finds_exactly_the_overlaps_numpy_reports(seed: int) -> None:
    """Layout (one sorted sweep, a binary search) agrees with ``numpy.may_share_memory`` on random views."""
    from proxadagrad_ref.optim.pipeline import Layout

    rng = np.random.default_rng(seed)
    buffers = [np.zeros(64, np.float32), np.zeros(64, np.float32)]
    views = []
    for _ in range(int(rng.integers(2, 9))):
        buf = buffers[int(rng.integers(2))]
        lo = int(rng.integers(0, 60))
        views.append(buf[lo : int(rng.integers(lo + 1, 65)) : int(rng.integers(1, 3))])
    layout = Layout.of(views)
    pairs = [(i, j) for i in range(len(views)) for j in range(len(views)) if i != j]
    want = {i for i, j in pairs if np.may_share_memory(views[i], views[j])}
    assert layout.shared == want
    for buf in buffers:
        for lo in range(0, 64, 5):
            probe = buf[lo : lo + 3]
            assert layout.overlaps(probe) == any(np.may_share_memory(probe, v) for v in views), (lo, seed)
    assert not layout.overlaps(np.zeros(3, np.float32)) and not layout.overlaps([1.0])
