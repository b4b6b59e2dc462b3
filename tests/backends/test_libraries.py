"""Each library's own rules: the defects measured before the backends work, each with a test.

torch: ``nn.Parameter`` in place, autograd's version counter, all-or-nothing
optimizer steps. JAX: ``jit``, ``vmap``, traced hyper-parameters, float64 without
x64. Dask: float64 hyper-parameters, no compute during a call, the deferred
accumulator check, a ``LocalCluster``. Any other library: refused.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest
from helpers import bits

from proxadagrad_ref import Parameter, ProximalAdagrad, apply_proximal_adagrad, sparse_apply_proximal_adagrad

W, A, G = 1.0, 0.1, 0.3  # the worked example: lr=0.1, l1=0.05, l2=0.1
WANT64 = 0.8990782240867139


def needs(module: str) -> Any:
    return pytest.mark.skipif(importlib.util.find_spec(module) is None, reason=f"{module} is not installed")


# --- torch -------------------------------------------------------------------------------------------------


@needs("torch")
def test_torch_parameter_in_place_bumps_the_version_counter() -> None:
    import torch

    p = torch.nn.Parameter(torch.ones(5, 3, dtype=torch.float32))
    accum = torch.full((5, 3), 0.1)
    loss = (p * p).sum()  # saves p for backward
    version = p._version
    out = apply_proximal_adagrad(p, accum, 0.1, 0.05, 0.1, torch.full((5, 3), 0.3), inplace=True)
    assert out[0] is p and out[1] is accum and p.requires_grad
    assert p._version > version
    want = apply_proximal_adagrad(np.ones((5, 3), np.float32), np.full((5, 3), 0.1, np.float32), 0.1, 0.05,
                                  0.1, np.full((5, 3), 0.3, np.float32))[0]
    np.testing.assert_array_equal(p.detach().numpy(), want)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()  # the saved p changed: autograd says so instead of using the new values


@needs("torch")
def test_torch_functional_results_are_tensors_that_do_not_require_grad() -> None:
    import torch

    p = torch.nn.Parameter(torch.ones(4, dtype=torch.float64))
    w, _ = apply_proximal_adagrad(p, torch.full((4,), A, dtype=torch.float64), 0.1, 0.05, 0.1,
                                  torch.full((4,), G, dtype=torch.float64))
    assert isinstance(w, torch.Tensor) and not w.requires_grad and w.dtype == torch.float64
    assert float(w[0]) == WANT64
    assert torch.equal(p.detach(), torch.ones(4, dtype=torch.float64))  # untouched


@needs("torch")
def test_torch_in_place_on_one_tensor_twice_is_refused() -> None:
    import torch

    t = torch.ones(3)
    with pytest.raises(ValueError, match="same array"):
        apply_proximal_adagrad(t, t, 0.1, 0.0, 0.0, torch.ones(3), inplace=True)
    assert torch.equal(t, torch.ones(3))


@needs("torch")
def test_torch_bfloat16_is_refused_naming_var() -> None:
    import torch

    t = torch.ones(3, dtype=torch.bfloat16)
    with pytest.raises(TypeError, match="var must have dtype"):
        apply_proximal_adagrad(t, t.clone(), 0.1, 0.0, 0.0, t.clone())


@needs("torch")
def test_torch_mixed_libraries_are_refused() -> None:
    import torch

    with pytest.raises(TypeError, match="grad is a numpy array but var is a torch array"):
        apply_proximal_adagrad(torch.ones(3), torch.ones(3), 0.1, 0.0, 0.0, np.ones(3, np.float32))


@needs("torch")
def test_torch_optimizer_step_is_all_or_nothing() -> None:
    import torch

    # the second an nn.Parameter (a leaf that requires grad): before, phase 2 wrote the first, then failed
    params = [Parameter(torch.ones(3, 4), name="a"), Parameter(torch.nn.Parameter(torch.ones(5)), name="b")]
    opt = ProximalAdagrad(params, learning_rate=0.1)
    before = [p.data.clone() for p in params]
    with pytest.raises(ValueError, match=r"grads\[1\]"):
        opt((torch.ones(3, 4), torch.ones(6)))  # the second gradient has the wrong shape
    for p, b in zip(params, before, strict=True):
        assert torch.equal(p.data, b)
    assert opt.global_step == 0
    data = [p.data for p in params]
    opt((torch.ones(3, 4), torch.ones(5)))
    assert all(p.data is d for p, d in zip(params, data, strict=True))  # in place: same tensors
    assert not torch.equal(params[0].data, before[0]) and not torch.equal(params[1].data, before[1])


# --- JAX ---------------------------------------------------------------------------------------------------


@pytest.fixture
def jnp() -> Any:
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy

    return jax.numpy


def test_jax_under_jit_gives_the_eager_bits(jnp: Any) -> None:
    import jax

    rng = np.random.default_rng(0)
    w, a, g = (rng.standard_normal(1000).astype(np.float32) for _ in range(3))
    a = np.abs(a)
    a[:10] = np.finfo(np.float32).smallest_subnormal  # XLA on the CPU would flush these
    want = apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, emulate="mindspore")

    @jax.jit
    def step(w: Any, a: Any, g: Any, lr: Any) -> Any:
        return apply_proximal_adagrad(w, a, lr, 0.05, 0.1, g, emulate="mindspore")

    got = step(jnp.asarray(w), jnp.asarray(a), jnp.asarray(g), jnp.asarray(0.1, jnp.float32))
    for x, y in zip(got, want, strict=True):
        np.testing.assert_array_equal(np.asarray(x).view(np.uint32), y.view(np.uint32))
    batched = jax.vmap(lambda w: step(w, jnp.asarray(a), jnp.asarray(g), jnp.asarray(0.1, jnp.float32)))
    out = batched(jnp.stack([jnp.asarray(w), jnp.asarray(w)]))
    np.testing.assert_array_equal(np.asarray(out[0][1]).view(np.uint32), want[0].view(np.uint32))


def test_jax_jit_refuses_in_place_and_checks_values_when_run(jnp: Any) -> None:
    import jax

    with pytest.raises(TypeError, match="in place"):
        jax.jit(lambda w: apply_proximal_adagrad(w, w, 0.1, 0.0, 0.0, w, inplace=True))(jnp.ones(3))
    with pytest.raises(Exception, match="accum must be non-negative"):
        jax.jit(lambda w, a: apply_proximal_adagrad(w, a, 0.1, 0.0, 0.0, w))(jnp.ones(3), -jnp.ones(3))


def test_jax_sparse_is_functional(jnp: Any) -> None:
    var, accum = jnp.ones((4, 2)), jnp.full((4, 2), A)
    w, _ = sparse_apply_proximal_adagrad(var, accum, 0.1, 0.05, 0.1, jnp.full((2, 2), G), jnp.asarray([2, 2]))
    assert float(np.asarray(var)[2, 0]) == 1.0  # the input is untouched
    want = sparse_apply_proximal_adagrad(np.ones((4, 2)), np.full((4, 2), A), 0.1, 0.05, 0.1,
                                         np.full((2, 2), G), np.array([2, 2]))
    np.testing.assert_array_equal(np.asarray(w), want[0])


def test_jax_float64_without_x64_is_refused(jnp: Any) -> None:
    import jax

    w, a = jnp.ones(3, jnp.float64), jnp.full(3, A, jnp.float64)  # made while x64 is on
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(TypeError, match="jax_enable_x64"):
            apply_proximal_adagrad(w, a, 0.1, 0.0, 0.0, w)
    finally:
        jax.config.update("jax_enable_x64", True)


# --- Dask --------------------------------------------------------------------------------------------------


@pytest.fixture
def da() -> Any:
    if importlib.util.find_spec("dask") is None:
        pytest.skip("dask is not installed")
    import dask.array

    return dask.array


def test_dask_float64_uses_float64_hyper_parameters(da: Any) -> None:
    w, a, g = (da.from_array(np.array([x])) for x in (W, A, G))
    got = apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g)
    assert float(got[0].compute()[0]) == WANT64


def test_dask_call_computes_nothing_and_defers_the_accumulator_check(da: Any) -> None:
    from dask.callbacks import Callback

    computed: list[object] = []

    class Count(Callback):  # type: ignore[misc]
        def _start(self, dsk: object) -> None:
            computed.append(dsk)

    accum = np.full(1000, A)
    accum[777] = -1.0
    w, a, g = da.ones(1000, chunks=100), da.from_array(accum, chunks=100), da.ones(1000, chunks=100)
    with Count():
        lazy = apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, emulate=None)
        sparse = sparse_apply_proximal_adagrad(w.reshape(100, 10), a.reshape(100, 10), 0.1, 0.0, 0.0,
                                               np.ones((2, 10)), np.array([3, 3]))
    assert computed == [], "the calls computed something"
    with pytest.raises(ValueError, match="accum must be non-negative"):
        lazy[0].compute()
    assert float(sparse[0][3, 0].compute()) < 1.0


def test_dask_in_place_is_refused(da: Any) -> None:
    x = da.ones(4)
    with pytest.raises(TypeError, match="store the results"):
        apply_proximal_adagrad(x, x * A, 0.1, 0.0, 0.0, x, inplace=True)


# Steps that differ in the profile, the prox form or the bits of one hyper-parameter; the last one in nothing
# (lr 0.1 + 1e-12 is 0.1 in float32), so it may share the first one's graph.
_STEPS = [
    {"lr": 0.1, "l1": 0.05, "l2": 0.1, "emulate": None, "prox_step": "adaptive"},
    {"lr": 0.2, "l1": 0.05, "l2": 0.1, "emulate": None, "prox_step": "adaptive"},
    {"lr": 0.1, "l1": 0.0, "l2": 0.1, "emulate": None, "prox_step": "adaptive"},
    {"lr": 0.1, "l1": -0.0, "l2": 0.1, "emulate": None, "prox_step": "adaptive"},
    {"lr": 0.1, "l1": 0.05, "l2": 0.5, "emulate": None, "prox_step": "adaptive"},
    {"lr": 0.1, "l1": 0.05, "l2": 0.1, "emulate": "mindspore", "prox_step": "adaptive"},
    {"lr": 0.1, "l1": 0.05, "l2": 0.1, "emulate": "tensorflow", "prox_step": "adaptive"},
    {"lr": 0.1, "l1": 0.05, "l2": 0.1, "emulate": None, "prox_step": "fixed"},
    {"lr": 0.1 + 1e-12, "l1": 0.05, "l2": 0.1, "emulate": None, "prox_step": "adaptive"},
]


def test_dask_graph_names_follow_the_step_so_steps_computed_together_keep_their_bits(da: Any) -> None:
    """The graph is named from the inputs' names and the step, not hashed from data: a name shared by two
    different steps would make dask compute one and hand its chunks to both (other bits, silently)."""
    rng = np.random.default_rng(3)
    numpy_arrays = [rng.standard_normal(1001), rng.random(1001), rng.standard_normal(1001)]
    w, a, g = (x.astype(np.float32) for x in numpy_arrays)

    def call(step: dict[str, Any], arrays: tuple[Any, ...]) -> Any:
        s = dict(step)
        hyper = (s.pop("lr"), s.pop("l1"), s.pop("l2"))
        return apply_proximal_adagrad(arrays[0], arrays[1], *hyper, arrays[2], **s)

    lazy = [call(step, tuple(da.from_array(x, chunks=300) for x in (w, a, g))) for step in _STEPS]
    names = [(x.name, y.name) for x, y in lazy]  # equal inputs (from_array names them by their data)
    assert len({n for pair in names[:-1] for n in pair}) == 2 * (len(_STEPS) - 1), names
    assert names[-1] == names[0]  # the same bits: sharing the graph is right
    import dask

    got = dask.compute(*[x for pair in lazy for x in pair])  # one graph holding every step
    for k, step in enumerate(_STEPS):
        want = call(step, (w, a, g))
        for x, y in zip(got[2 * k : 2 * k + 2], want, strict=True):
            np.testing.assert_array_equal(bits(x), bits(y), err_msg=str(step))


@pytest.mark.slow
def test_dask_distributed_local_cluster_gives_numpy_bits(da: Any) -> None:
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(1)
    w = rng.standard_normal((300, 33)).astype(np.float32)
    a = rng.random((300, 33)).astype(np.float32)
    g = rng.standard_normal((300, 33)).astype(np.float32)
    idx = np.array([5, 290, 5, 17])
    rows = rng.standard_normal((4, 33)).astype(np.float32)
    cluster = {"n_workers": 2, "processes": True, "threads_per_worker": 1, "dashboard_address": None}
    with distributed.LocalCluster(**cluster) as c:
        with distributed.Client(c) as client:
            for emulate in (None, "mindspore", "tensorflow"):
                chunked = [da.from_array(x, chunks=(64, 11)) for x in (w, a, g)]
                lazy = apply_proximal_adagrad(*chunked[:2], 0.1, 0.05, 0.1, chunked[2], emulate=emulate)
                got = client.compute(list(lazy), sync=True)
                want = apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, emulate=emulate)
                for x, y in zip(got, want, strict=True):
                    np.testing.assert_array_equal(np.asarray(x).view(np.uint32), y.view(np.uint32))
            lazy = sparse_apply_proximal_adagrad(*chunked[:2], 0.1, 0.05, 0.1, rows, idx)
            got = client.compute(list(lazy), sync=True)
            want = sparse_apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, rows, idx)
            for x, y in zip(got, want, strict=True):
                np.testing.assert_array_equal(np.asarray(x).view(np.uint32), y.view(np.uint32))


# --- any other library ---------------------------------------------------------------------------------


class _Other:
    """An array-API object of a library the kernels have not measured."""

    shape = (3,)
    dtype = np.dtype(np.float32)
    ndim = 1

    def __array_namespace__(self, api_version: object = None) -> Any:
        import types

        return types.SimpleNamespace(__name__="otherlib")


def test_unmeasured_library_is_refused() -> None:
    x = _Other()
    with pytest.raises(TypeError, match=r"otherlib.*not been measured"):
        apply_proximal_adagrad(x, x, 0.1, 0.0, 0.0, x)
