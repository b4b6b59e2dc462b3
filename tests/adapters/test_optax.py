"""proxadagrad_ref.optax: the engine's bits through optax, eager and under jit; the plain-optax bound.

Every expected value comes from the engine's own optimizer (``proxadagrad_ref.ProximalAdagrad``
on NumPy Parameters), from the committed conformance trajectories, or from enumerating float16.
jax and optax are imported in the ``jx`` fixture (skipped when absent), so the bad-input
catalogue can import this module without them. float64 cases turn x64 on for the test only.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from helpers import SUITE, bits

from proxadagrad_ref import Parameter, ProximalAdagrad, schedules
from proxadagrad_ref.vectors.candidates import Candidate
from proxadagrad_ref.vectors.format import read_suite
from proxadagrad_ref.vectors.verifier import run_case

STEPS = 6

# (emulate, prox_step, dtype, extra arguments): the profiles and dtypes the optimizer defines
CASES = [
    (None, "adaptive", "float32", {"l1": 0.01, "l2": 0.001}),
    (None, "adaptive", "float64", {"l1": 0.01, "l2": 0.001, "weight_decay": 0.01}),
    (None, "adaptive", "float16", {"l1": 0.01}),
    (None, "fixed", "float32", {"l1": 0.02, "loss_scale": 4.0}),
    (None, "fixed", "float64", {"l2": 0.01}),
    ("mindspore", "adaptive", "float32", {"l1": 0.01, "l2": 0.001, "weight_decay": 0.01, "loss_scale": 2.0}),
    ("mindspore", "adaptive", "float16", {"l1": 0.01}),
]


@pytest.fixture
def jx() -> Iterator[Any]:
    """jax, with x64 on for this test only (its previous value restored)."""
    if importlib.util.find_spec("jax") is None or importlib.util.find_spec("optax") is None:
        pytest.skip("jax and optax are not installed")
    import jax

    before = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    try:
        yield jax
    finally:
        jax.config.update("jax_enable_x64", before)


def _tree(dtype: str, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "dense": {"kernel": rng.standard_normal((5, 7)).astype(dtype), "bias": np.zeros(7, dtype)},
        "bn": {"gamma": rng.standard_normal(7).astype(dtype)},  # no weight decay (its name)
    }


def _grads(tree: dict[str, Any], step: int) -> dict[str, Any]:
    rng = np.random.default_rng([1, step])
    return _map(lambda x: rng.standard_normal(x.shape).astype(x.dtype), tree)


def _map(fn: Callable[[Any], Any], tree: Any) -> Any:
    return {k: _map(fn, v) if isinstance(v, dict) else fn(v) for k, v in tree.items()}


def _reference(
    tree: dict[str, Any], kwargs: dict[str, Any], learning_rate: object
) -> tuple[list[list[np.ndarray]], list[list[np.ndarray]]]:
    """The engine's optimizer on the same values: parameters and accumulators after each step."""
    import jax

    paths, _ = jax.tree_util.tree_flatten_with_path(tree)
    params = [Parameter(np.array(x, copy=True), jax.tree_util.keystr(p)) for p, x in paths]
    opt = ProximalAdagrad(params, learning_rate=learning_rate, **kwargs)
    ws, accs = [], []
    for t in range(STEPS):
        opt(tuple(jax.tree_util.tree_leaves(_grads(tree, t))))
        ws.append([p.data.copy() for p in params])
        accs.append([np.array(a) for a in opt.accum])
    return ws, accs


def _run(jx: Any, opt: Any, tree: dict[str, Any], jit: bool) -> Iterator[tuple[list[Any], list[Any], Any]]:
    """(engine params, accumulators, updates) after each step of the transformation."""
    from proxadagrad_ref.optax import engine_params

    jnp = jx.numpy
    params = _map(jnp.asarray, tree)
    state = opt.init(params)
    update = jx.jit(opt.update) if jit else opt.update
    for t in range(STEPS):
        updates, state = update(_map(jnp.asarray, _grads(tree, t)), state, params)
        params = engine_params(state)
        yield jx.tree_util.tree_leaves(params), jx.tree_util.tree_leaves(state.accum), updates


def _same_bits(got: list[Any], want: list[np.ndarray]) -> bool:
    return all(np.array_equal(bits(g), bits(w)) for g, w in zip(got, want, strict=True))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize(("emulate", "prox_step", "dtype", "extra"), CASES)
def test_steps_have_the_optimizers_bits(
    jx: Any, emulate: str | None, prox_step: str, dtype: str, extra: dict[str, Any], jit: bool
) -> None:
    from proxadagrad_ref.optax import proximal_adagrad

    kwargs = {"emulate": emulate, "prox_step": prox_step, **extra}
    tree = _tree(dtype)
    want_w, want_a = _reference(tree, kwargs, 0.1)
    opt = proximal_adagrad(0.1, **kwargs)
    for t, (w, a, _) in enumerate(_run(jx, opt, tree, jit)):
        assert _same_bits(w, want_w[t]), f"step {t}: parameters"
        assert _same_bits(a, want_a[t]), f"step {t}: accumulators"


@pytest.mark.parametrize(
    ("emulate", "dtype"), [(None, "float32"), ("mindspore", "float32"), (None, "float64")]
)
def test_jit_gives_the_eager_updates_and_state(jx: Any, emulate: str | None, dtype: str) -> None:
    from proxadagrad_ref.optax import proximal_adagrad

    opt = proximal_adagrad(0.1, l1=0.01, emulate=emulate)
    tree = _tree(dtype)
    for (we, ae, ue), (wj, aj, uj) in zip(_run(jx, opt, tree, False), _run(jx, opt, tree, True), strict=True):
        assert _same_bits(wj, [np.asarray(x) for x in we]) and _same_bits(aj, [np.asarray(x) for x in ae])
        assert _same_bits(jx.tree_util.tree_leaves(uj), [np.asarray(x) for x in jx.tree_util.tree_leaves(ue)])


def test_jit_traces_once_for_every_step(jx: Any) -> None:
    from proxadagrad_ref.optax import proximal_adagrad

    traces = []
    opt = proximal_adagrad(0.1, l1=0.01)

    @jx.jit
    def step(grads: Any, state: Any, params: Any) -> Any:
        traces.append(1)
        return opt.update(grads, state, params)

    tree = _map(jx.numpy.asarray, _tree("float32"))
    state = opt.init(tree)
    for t in range(3):
        _, state = step(_map(jx.numpy.asarray, _grads(_tree("float32"), t)), state, tree)
    assert len(traces) == 1 and int(state.count) == 3


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("kind", ["optax", "engine", "iterator"])
def test_schedules_give_the_optimizers_bits(jx: Any, kind: str, jit: bool) -> None:
    import optax

    from proxadagrad_ref.optax import proximal_adagrad

    if kind == "optax":
        lr: Any = optax.exponential_decay(0.1, transition_steps=2, decay_rate=0.5)
        reference: Any = np.array([np.asarray(lr(t)) for t in range(STEPS)])  # the values JAX computes
    elif kind == "iterator":  # read once: checked when built, used at every update
        rates = [0.1 / (1 + t) for t in range(STEPS)]
        lr, reference = iter(rates), list(rates)
    else:
        lr = reference = schedules.ExponentialDecayLR(0.1, 0.5, 2)
    tree = _tree("float32")
    want_w, want_a = _reference(tree, {"l1": 0.01}, reference)
    for t, (w, a, _) in enumerate(_run(jx, proximal_adagrad(lr, l1=0.01), tree, jit)):
        assert _same_bits(w, want_w[t]) and _same_bits(a, want_a[t]), f"step {t}"


# --- the plain optax path: optax.apply_updates(params, updates) -------------------------------------------


def _ulp(x: np.ndarray) -> np.ndarray:
    return np.spacing(np.abs(x)).astype(np.float64)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("l1", [0.0, 0.01])
def test_plain_optax_misses_only_where_no_addend_exists_and_by_at_most_one_ulp(
    jx: Any, dtype: str, l1: float
) -> None:
    """optax gives the engine's bits except where no addend exists: there within 1 ulp, or -0 as +0."""
    import optax

    from proxadagrad_ref.optax import engine_params, nudged_difference, proximal_adagrad

    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 400)) / 20
    y = (rng.random(64) < 0.5).astype(np.float64)
    params = {"w": jx.numpy.asarray((rng.standard_normal(400) * 0.01).astype(dtype))}
    opt = proximal_adagrad(0.5, l1=l1, l2=0.001)
    state = opt.init(params)
    apply = jx.jit(optax.apply_updates)
    misses = 0
    for _ in range(15):
        w = np.asarray(params["w"])
        g = x.T @ (1 / (1 + np.exp(-x @ w.astype(np.float64))) - y) / 64
        updates, state = opt.update({"w": jx.numpy.asarray(g.astype(dtype))}, state, params)
        new = np.asarray(engine_params(state)["w"])
        got = np.asarray(apply(params, updates)["w"])
        miss = bits(got) != bits(new)
        _, exact = nudged_difference(w, new)
        sterbenz = (new / 2 <= w) & (w <= 2 * new) | (2 * new <= w) & (w <= new / 2)
        assert not (miss & exact).any()  # every element with an exact addend is the engine's
        assert not (miss & sterbenz & (new != 0)).any()  # Sterbenz: the difference is exact
        zero = miss & (new == 0)  # -0.0 from a w that is not -0.0 comes back +0.0
        assert np.signbit(new[zero]).all() and (bits(got[zero]) == 0).all()
        err = np.abs(got.astype(np.float64) - new.astype(np.float64))
        assert (err[miss] <= _ulp(np.maximum(np.abs(w), np.abs(new)))[miss]).all()
        misses += int(miss.sum())
        params = engine_params(state)
    assert misses > 0  # the trajectory reaches the cases the bound is about


def test_plain_optax_flushes_subnormals_the_exact_path_keeps_them(jx: Any) -> None:
    """XLA on the CPU flushes subnormals in ``params + updates``: the documented second exception."""
    import optax

    from proxadagrad_ref.optax import engine_params, proximal_adagrad

    tiny = np.float32(1e-39)  # subnormal
    params = {"w": jx.numpy.asarray(np.array([2 * tiny, 1.0], np.float32))}
    opt = proximal_adagrad(1e-38, accum=1.0)
    state = opt.init(params)
    updates, state = opt.update({"w": jx.numpy.asarray(np.ones(2, np.float32))}, state, params)
    new = np.asarray(engine_params(state)["w"])
    want = ProximalAdagrad([Parameter(np.array([2 * tiny, 1.0], np.float32), "['w']")], 1.0, 1e-38)
    want((np.ones(2, np.float32),))
    assert np.array_equal(bits(new), bits(want.parameters[0].data)) and 0 < abs(new[0]) < 1.2e-38
    assert np.asarray(optax.apply_updates(params, updates)["w"])[0] == 0  # XLA: flushed


def test_nudged_difference_against_every_float16() -> None:
    """Whether an addend exists, and that the one chosen is nearest to the difference, by enumeration."""
    from proxadagrad_ref.adapters.optax import nudged_difference

    every = np.arange(2**16, dtype=np.uint16).view(np.float16)
    every = every[np.isfinite(every)]
    rng = np.random.default_rng(0)
    old = rng.standard_normal(300).astype(np.float16)
    new = (old * rng.uniform(-3, 3, 300)).astype(np.float16)
    new[:10] = -0.0
    old[10:20] = -0.0
    u, exact = nudged_difference(old, new)
    for i in range(old.size):
        with np.errstate(all="ignore"):
            hits = every[(old[i] + every).view(np.uint16) == new[i : i + 1].view(np.uint16)]
        assert exact[i] == (hits.size > 0), i
        if hits.size:
            d = float(new[i]) - float(old[i])
            assert abs(float(u[i]) - d) == np.min(np.abs(hits.astype(np.float64) - d)), i
            assert (old[i] + u[i]).view(np.uint16) == new[i].view(np.uint16), i


# --- the exact path inside optax.chain; conformance trajectories ------------------------------------------


def test_engine_params_found_inside_a_chain(jx: Any) -> None:
    import optax

    from proxadagrad_ref.optax import engine_params, proximal_adagrad

    opt = optax.chain(optax.clip_by_global_norm(1.0), proximal_adagrad(0.1, l1=0.01))
    params = {"w": jx.numpy.ones(3, jx.numpy.float32)}
    state = opt.init(params)
    grads = {"w": jx.numpy.full(3, 10.0, jx.numpy.float32)}
    _, state = opt.update(grads, state, params)
    clipped, _ = optax.clip_by_global_norm(1.0).update(grads, optax.EmptyState())  # as JAX computes it
    want = ProximalAdagrad([Parameter(np.ones(3, np.float32), "['w']")], learning_rate=0.1, l1=0.01)
    want((np.asarray(clipped["w"]),))
    assert np.array_equal(bits(engine_params(state)["w"]), bits(want.parameters[0].data))


class OptaxFactory:
    """The transformation behind the verifier's optimizer protocol (ungrouped, dense gradients)."""

    def __init__(self, params: list[Parameter], **kwargs: Any) -> None:
        import jax.numpy as jnp

        from proxadagrad_ref.optax import proximal_adagrad

        self.params = params
        self.names = [f"{i:03d} {p.name}" for i, p in enumerate(params)]  # dict keys sort in update order
        self.opt = proximal_adagrad(kwargs.pop("learning_rate"), **kwargs)
        self.tree = {n: jnp.asarray(p.data) for n, p in zip(self.names, params, strict=True)}
        self.state = self.opt.init(self.tree)

    def __call__(self, grads: tuple[Any, ...]) -> bool:
        import jax.numpy as jnp

        from proxadagrad_ref.optax import engine_params

        g = {n: jnp.asarray(x) for n, x in zip(self.names, grads, strict=True)}
        _, self.state = self.opt.update(g, self.state, self.tree)
        self.tree = engine_params(self.state)
        for n, p in zip(self.names, self.params, strict=True):
            p.data = np.asarray(self.tree[n])
        return True

    @property
    def accum(self) -> list[np.ndarray]:
        return [np.asarray(self.state.accum[n]) for n in self.names]


def _expressible(case: Any) -> bool:
    """Optimizer trajectories without groups (``order_params`` comes with them) or sparse gradients."""
    sparse = any(k.startswith("indices.") for k in case.group("inputs"))
    return case.meta["op"] == "optimizer" and "groups" not in case.meta["optimizer"] and not sparse


def test_conformance_trajectories_pass_through_the_verifier(jx: Any) -> None:
    candidate = Candidate("optax", optimizer=OptaxFactory)
    run = [c for c in read_suite(SUITE) if _expressible(c)]
    results = [run_case(c, candidate, strict=True) for c in run]
    failed = [(r.case_id, r.message) for r in results if not r.passed]
    assert len(run) == 46 and not failed, failed  # of 59 trajectories: 8 grouped and 5 sparse not expressible


# --- bad inputs: a clear error naming the argument ----------------------------------------------------


def _build(**kw: Any) -> Callable[[Any], Any]:
    def make(jx: Any) -> Any:
        from proxadagrad_ref.optax import proximal_adagrad

        return proximal_adagrad(**{"learning_rate": 0.1, **kw})

    return make


def _init(params: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def call(jx: Any) -> Any:
        from proxadagrad_ref.optax import proximal_adagrad

        return proximal_adagrad(0.1).init(params(jx))

    return call


def _update(
    change: Callable[[Any, dict[str, Any]], dict[str, Any]], jit: bool = False
) -> Callable[[Any], Any]:
    def call(jx: Any) -> Any:
        from proxadagrad_ref.optax import proximal_adagrad

        opt = proximal_adagrad(0.1)
        params = {"w": jx.numpy.ones(3, jx.numpy.float32)}
        args = {"grads": params, "state": opt.init(params), "params": params}
        args = change(jx, args)
        update = jx.jit(opt.update) if jit else opt.update
        return update(args["grads"], args["state"], args["params"])

    return call


def _negative_accum(jx: Any, args: dict[str, Any]) -> dict[str, Any]:
    return {**args, "state": args["state"]._replace(accum={"w": -jx.numpy.ones(3, jx.numpy.float32)})}


BAD = [
    ("l1 negative", _build(l1=-0.1), ValueError, "l1"),
    ("l2 an int", _build(l2=1), TypeError, "l2"),
    ("accum negative", _build(accum=-1.0), ValueError, "accum"),
    ("learning_rate negative", _build(learning_rate=-0.1), ValueError, "learning_rate"),
    ("learning_rate a string", _build(learning_rate="0.1"), TypeError, "learning_rate"),
    ("loss_scale zero", _build(loss_scale=0.0), ValueError, "loss_scale"),
    ("weight_decay negative", _build(weight_decay=-1.0), ValueError, "weight_decay"),
    ("emulate tensorflow", _build(emulate="tensorflow"), ValueError, "emulate"),
    ("prox_step unknown", _build(prox_step="half"), ValueError, "prox_step"),
    ("params int", _init(lambda jx: {"w": jx.numpy.ones(3, jx.numpy.int32)}), TypeError, "params leaf 0"),
    ("params not arrays", _init(lambda jx: {"w": 1.0}), TypeError, "params leaf 0"),
    ("params empty", _init(lambda jx: {}), ValueError, "params has no arrays"),
    ("update without params", _update(lambda jx, a: {**a, "params": None}), ValueError, "params is required"),
    ("grads other tree", _update(lambda jx, a: {**a, "grads": {"v": a["grads"]["w"]}}), ValueError, "grads"),
    (
        "grads other dtype",
        _update(lambda jx, a: {**a, "grads": {"w": jx.numpy.ones(3, jx.numpy.float64)}}),
        TypeError,
        "grads leaf 0",
    ),
    ("state of another kind", _update(lambda jx, a: {**a, "state": ()}), TypeError, "state"),
    ("negative accumulator", _update(_negative_accum), ValueError, "accum"),
    ("negative accumulator under jit", _update(_negative_accum, jit=True), Exception, "accum"),
]


@pytest.mark.parametrize(("what", "call", "error", "match"), BAD, ids=[b[0] for b in BAD])
def test_optax_bad_input(jx: Any, what: str, call: Callable[[Any], Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        jx.block_until_ready(call(jx))


def test_float64_without_x64_is_refused(jx: Any) -> None:
    from proxadagrad_ref.optax import proximal_adagrad

    jx.config.update("jax_enable_x64", False)
    with pytest.raises(TypeError, match="jax_enable_x64"):
        proximal_adagrad(0.1).init({"w": np.ones(3)})


def test_engine_params_needs_exactly_one_state(jx: Any) -> None:
    from proxadagrad_ref.optax import engine_params

    with pytest.raises(ValueError, match="exactly one ProximalAdagradState, found 0"):
        engine_params(())
