"""The torch.optim adapter: the engine optimizer's bits, torch's API, all or nothing, clear refusals.

Every expected value comes from the engine's own optimizer
(:class:`proxadagrad_ref.ProximalAdagrad`) on NumPy copies of the same values,
or from the committed conformance suite through the verifier.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import SUITE, assert_same_bits, bytes_of  # noqa: E402

from proxadagrad_ref import Parameter  # noqa: E402
from proxadagrad_ref import ProximalAdagrad as EngineOptimizer  # noqa: E402
from proxadagrad_ref.schedules import ExponentialDecayLR  # noqa: E402
from proxadagrad_ref.torch import EngineAPI, ProximalAdagrad  # noqa: E402
from proxadagrad_ref.vectors import read_suite, verify  # noqa: E402
from proxadagrad_ref.vectors.verifier import select  # noqa: E402

STEPS = 8
# every profile of the engine's optimizer: (emulate, prox_step)
PROFILES = [(None, "adaptive"), (None, "fixed"), ("mindspore", "adaptive")]
PROFILE_IDS = ["exact-adaptive", "exact-fixed", "mindspore-adaptive"]
HYPER = {"accum": 0.1, "l1": 0.01, "l2": 0.001, "loss_scale": 1.0}


# --- the models: their parameters by name, the groups, one batch's loss ------------------------------------


class Linear(torch.nn.Module):
    """Logistic regression on 6 dense features (dense gradients only)."""

    groups = ({"params": ["linear.weight"], "weight_decay": 0.01}, {"params": ["linear.bias"], "lr": 0.05})

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(6, 1)

    def loss(self, rng: np.random.Generator) -> Any:
        x = torch.from_numpy(rng.standard_normal((16, 6)).astype(np.float32))
        y = torch.from_numpy((rng.random(16) < 0.5).astype(np.float32))
        return torch.nn.functional.binary_cross_entropy_with_logits(self.linear(x).squeeze(-1), y)


class Bag(torch.nn.Module):
    """An embedding bag (sparse gradients, duplicate rows in every batch) and a linear head."""

    groups = ({"params": ["bag.weight"], "lr": 0.05}, {"params": ["head.weight", "head.bias"]})

    def __init__(self) -> None:
        super().__init__()
        self.bag = torch.nn.EmbeddingBag(12, 4, mode="sum", sparse=True)
        self.head = torch.nn.Linear(4, 1)

    def loss(self, rng: np.random.Generator) -> Any:
        ids = torch.from_numpy(rng.integers(0, 12, 24))  # 24 ids over 12 rows: duplicates
        offsets = torch.arange(0, 24, 3)
        y = torch.from_numpy((rng.random(8) < 0.5).astype(np.float32))
        logits = self.head(self.bag(ids, offsets)).squeeze(-1)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, y)


MODELS = {"linear": Linear, "embedding_bag": Bag}


def build(model_cls: type, emulate: str | None, prox_step: str, lr: Any = 0.1) -> tuple[Any, Any, Any, dict]:
    """The model, its adapter, the engine optimizer on NumPy copies, and the engine's Parameters by name."""
    torch.manual_seed(0)
    model = model_cls()
    named = dict(model.named_parameters())
    engine_params = {n: Parameter(p.detach().numpy().copy(), n) for n, p in named.items()}
    torch_groups = [{**g, "params": [named[n] for n in g["params"]]} for g in model.groups]
    engine_groups = [{"lr": lr, **g, "params": [engine_params[n] for n in g["params"]]} for g in model.groups]
    kw = {**HYPER, "emulate": emulate, "prox_step": prox_step}
    opt = ProximalAdagrad(torch_groups, lr=lr, **kw)
    engine = EngineOptimizer(engine_groups, learning_rate=lr, **kw)
    return model, opt, engine, engine_params


def engine_grad(p: Any) -> Any:
    """`p.grad` for the engine: a NumPy copy, or the raw (indices, values) of a sparse one."""
    g = p.grad
    if g.layout == torch.sparse_coo:
        return (g._indices()[0].numpy().copy(), g._values().numpy().copy())
    return g.numpy().copy()


def train_both(model: Any, opt: Any, engine: Any, engine_params: dict, steps: int, seed: int = 1) -> int:
    """`steps` steps of the adapter and the engine on the same gradients; bits compared after each.

    Returns the number of steps whose sparse gradients held duplicate, uncoalesced rows.
    """
    rng = np.random.default_rng(seed)
    names = [p.name for p in engine.parameters]
    tensors = dict(model.named_parameters())
    duplicates, start = 0, engine.global_step
    for t in range(steps):
        opt.zero_grad()
        model.loss(rng).backward()
        grads = tuple(engine_grad(tensors[n]) for n in names)
        duplicates += any(
            isinstance(g, tuple) and len(np.unique(g[0])) < len(g[0]) and not tensors[n].grad.is_coalesced()
            for n, g in zip(names, grads, strict=True)
        )
        assert opt.current_lr() == engine.current_lr()
        opt.step()
        engine(grads)
        assert_same_bits(
            [tensors[n].detach() for n in names], [engine_params[n].data for n in names], f"step {t}"
        )
        accums = [opt.state[tensors[n]]["accum"] for n in names]
        assert_same_bits(accums, engine.accum, f"accum, step {t}")
        assert opt.global_step == engine.global_step == start + t + 1
    return duplicates


# --- bit identity -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_name", list(MODELS))
@pytest.mark.parametrize(("emulate", "prox_step"), PROFILES, ids=PROFILE_IDS)
def test_steps_match_the_engine_bit_for_bit(model_name: str, emulate: str | None, prox_step: str) -> None:
    model, opt, engine, engine_params = build(MODELS[model_name], emulate, prox_step)
    duplicates = train_both(model, opt, engine, engine_params, STEPS)
    if model_name == "embedding_bag":
        assert duplicates == STEPS  # every step exercised the profile's duplicate summing


@pytest.mark.parametrize(("emulate", "prox_step"), PROFILES, ids=PROFILE_IDS)
def test_state_dict_through_torch_save_resumes_with_identical_bits(
    emulate: str | None, prox_step: str, tmp_path: Any
) -> None:
    model, opt, engine, engine_params = build(Bag, emulate, prox_step)
    train_both(model, opt, engine, engine_params, 3)
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "checkpoint.pt")
    saved = torch.load(tmp_path / "checkpoint.pt")  # weights_only: the state holds tensors and plain values
    torch.manual_seed(123)  # other initial values, replaced by the checkpoint's
    restored_model = Bag()
    restored_model.load_state_dict(saved["model"])
    named = dict(restored_model.named_parameters())
    restored = ProximalAdagrad(
        [{**g, "params": [named[n] for n in g["params"]]} for g in Bag.groups],
        lr=0.1,
        **HYPER,
        emulate=emulate,
        prox_step=prox_step,
    )
    restored.load_state_dict(saved["opt"])
    assert restored.global_step == 3
    # the restored optimizer and the engine (never interrupted) continue on the same batches
    train_both(restored_model, restored, engine, engine_params, 4, seed=7)


def test_state_dict_is_a_copy_and_a_loaded_dict_is_not_shared() -> None:
    model, opt, engine, engine_params = build(Linear, None, "adaptive")
    train_both(model, opt, engine, engine_params, 1)
    state = opt.state_dict()
    before = bytes_of(*(s["accum"] for s in state["state"].values()))
    train_both(model, opt, engine, engine_params, 1, seed=2)
    assert bytes_of(*(s["accum"] for s in state["state"].values())) == before
    opt.load_state_dict(state)
    params = [p for group in opt.param_groups for p in group["params"]]
    assert bytes_of(*(opt.state[p]["accum"] for p in params)) == before
    assert all(opt.state[p]["accum"] is not state["state"][k]["accum"] for k, p in enumerate(params))


@pytest.mark.parametrize(("emulate", "prox_step"), PROFILES, ids=PROFILE_IDS)
def test_torch_lr_scheduler_equals_the_engine_given_the_same_rates(
    emulate: str | None, prox_step: str
) -> None:
    """torch's scheduler changes group['lr'] between steps; the engine gets those rates as 1-D arrays."""
    torch.manual_seed(0)
    rates: list[list[float]] = [[], []]
    probe = Linear()
    probe_opt = ProximalAdagrad(
        [{**g, "params": [dict(probe.named_parameters())[n] for n in g["params"]]} for g in Linear.groups],
        lr=0.1,
    )
    sched = torch.optim.lr_scheduler.ExponentialLR(probe_opt, gamma=0.7)
    for _ in range(STEPS):
        for k, group in enumerate(probe_opt.param_groups):
            rates[k].append(group["lr"])
        probe_opt.step()  # no gradients: only the rates are wanted
        sched.step()
    assert len(set(rates[0])) == STEPS  # a new rate every step

    model, opt, _, _ = build(Linear, emulate, prox_step)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.7)
    named = dict(model.named_parameters())
    engine_params = {n: Parameter(p.detach().numpy().copy(), n) for n, p in named.items()}
    engine = EngineOptimizer(
        [
            {**g, "lr": np.array(r, np.float64), "params": [engine_params[n] for n in g["params"]]}
            for g, r in zip(Linear.groups, rates, strict=True)
        ],
        **HYPER,
        emulate=emulate,
        prox_step=prox_step,
    )
    rng = np.random.default_rng(1)
    for t in range(STEPS):
        opt.zero_grad()
        model.loss(rng).backward()
        assert opt.current_lr() == engine.current_lr()
        grads = tuple(engine_grad(named[p.name]) for p in engine.parameters)
        opt.step()
        scheduler.step()
        engine(grads)
        assert_same_bits(
            [named[p.name].detach() for p in engine.parameters], [p.data for p in engine.parameters], t
        )


def test_an_iterator_of_rates_is_read_once_and_gives_the_engines_bits() -> None:
    """lr=iter(...) is checked when built and used at every step: it is taken as a list of its items."""
    rates = [0.3, 0.1, 0.05]
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    opt = ProximalAdagrad([w], lr=iter(rates), l1=0.01)
    ref = Parameter(np.array([1.0, -2.0, 0.5], np.float32), "w")
    engine = EngineOptimizer([ref], learning_rate=iter(rates), l1=0.01)
    for t, g in enumerate(([0.5, -1.0, 2.0], [1.0, 1.0, -0.25], [0.1, 0.2, 0.3])):
        w.grad = torch.tensor(g)
        opt.step()
        engine((np.array(g, np.float32),))
        assert_same_bits([w.detach()], [ref.data], t)


def test_engine_schedule_as_group_lr_matches_the_engine() -> None:
    schedule = ExponentialDecayLR(0.1, 0.8, 2)
    model, opt, engine, engine_params = build(Bag, "mindspore", "adaptive", lr=schedule)
    train_both(model, opt, engine, engine_params, STEPS)


# --- torch's behaviour ------------------------------------------------------------------------------------


def test_step_bumps_version_counters_and_skips_parameters_without_grad() -> None:
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    opt = ProximalAdagrad([a, b], lr=0.1)
    saved = (a * a).sum()  # saves a for backward
    a.grad = torch.ones(3)
    versions = a._version, opt.state[a]["accum"]._version
    assert opt.step(lambda: torch.tensor(2.5)).item() == 2.5  # the closure's loss
    assert (a._version, opt.state[a]["accum"]._version) > versions
    assert b.tolist() == [1.0, 1.0] and opt.state[b]["accum"].tolist() == pytest.approx([0.1, 0.1])
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        saved.backward()


# --- all or nothing ---------------------------------------------------------------------------------------


def _bad_sparse_dims(opt: Any, p: Any) -> None:
    p.grad = torch.ones_like(p).to_sparse()  # two sparse dimensions


def _bad_index(opt: Any, p: Any) -> None:
    rows = torch.ones(2, *p.shape[1:])
    p.grad = torch.sparse_coo_tensor(torch.tensor([[0, 99]]), rows, size=p.shape, check_invariants=False)


def _bad_dtype(opt: Any, p: Any) -> None:
    p.grad_dtype = None
    p.grad = torch.ones(p.shape, dtype=torch.float64)


def _negative_accum(opt: Any, p: Any) -> None:
    opt.state[p]["accum"].view(-1)[0] = -1.0


def _negative_lr(opt: Any, p: Any) -> None:
    opt.param_groups[1]["lr"] = -1.0


def _group_l1(opt: Any, p: Any) -> None:
    opt.param_groups[1]["l1"] = 0.5


def _meta_tensor(opt: Any, p: Any) -> None:
    meta = torch.nn.Parameter(torch.empty(p.shape, device="meta"))
    meta.grad = torch.empty(p.shape, device="meta")
    opt.param_groups[1]["params"][0] = meta


ALL_OR_NOTHING: dict[str, tuple[Callable[[Any, Any], None], type[Exception], str]] = {
    "sparse grad with two sparse dims": (_bad_sparse_dims, ValueError, "sparse dimensions"),
    "sparse index out of range": (_bad_index, ValueError, "indices must lie in [0, 5)"),
    "float64 grad of a float32 parameter": (_bad_dtype, TypeError, "float64"),
    "negative accumulator": (_negative_accum, ValueError, "non-negative"),
    "negative group lr set by hand": (_negative_lr, ValueError, "params[1]['lr']"),
    "group l1 changed by hand": (_group_l1, ValueError, "param_groups[1]['l1']"),
    "meta (device) tensor swapped in": (_meta_tensor, TypeError, "meta"),
}


@pytest.mark.parametrize("fault", list(ALL_OR_NOTHING))
def test_a_bad_second_parameter_leaves_everything_unchanged(fault: str) -> None:
    spoil, error, words = ALL_OR_NOTHING[fault]
    first, second = torch.nn.Parameter(torch.ones(4, 3)), torch.nn.Parameter(torch.ones(5, 3))
    opt = ProximalAdagrad([{"params": [first]}, {"params": [second]}], lr=0.1, l1=0.01)
    first.grad, second.grad = torch.full((4, 3), 0.5), torch.full((5, 3), 0.25)
    opt.step()
    spoil(opt, second)
    tensors = [first.detach(), second.detach(), *(s["accum"] for s in opt.state.values())]
    before = bytes_of(*tensors), [t._version for t in tensors], opt.global_step
    with pytest.raises(error) as info:
        opt.step()
    assert words in str(info.value), str(info.value)
    assert (bytes_of(*tensors), [t._version for t in tensors], opt.global_step) == before


def test_parameters_sharing_one_storage_are_refused_and_nothing_changes() -> None:
    """Two views of one tensor's storage: the adapter updates in place, so it refuses before any write."""
    base = torch.arange(6.0)
    first, second = base[:4], base[2:]
    opt = ProximalAdagrad([first, second], lr=0.1)
    first.grad, second.grad = torch.ones(4), torch.ones(4)
    tensors = [base, *(s["accum"] for s in opt.state.values())]
    before = bytes_of(*tensors), [t._version for t in tensors], opt.global_step
    with pytest.raises(ValueError, match="shares memory with another parameter"):
        opt.step()
    assert (bytes_of(*tensors), [t._version for t in tensors], opt.global_step) == before


# --- refusals ---------------------------------------------------------------------------------------------


def _param(dtype: Any = torch.float32, device: str = "cpu") -> Any:
    return torch.zeros(3, dtype=dtype, device=device)


CONSTRUCTION: dict[str, tuple[Callable[[], Any], type[Exception], str]] = {
    "CUDA-like (meta) tensor": (
        lambda: ProximalAdagrad([_param(device="meta")]),
        TypeError,
        "CPU tensors only",
    ),
    "bfloat16 parameter": (lambda: ProximalAdagrad([_param(torch.bfloat16)]), TypeError, "bfloat16"),
    "int32 parameter": (lambda: ProximalAdagrad([_param(torch.int32)]), TypeError, "int32"),
    "float64 under mindspore": (
        lambda: ProximalAdagrad([_param(torch.float64)], emulate="mindspore"),
        TypeError,
        "float64",
    ),
    "sparse parameter": (lambda: ProximalAdagrad([_param().to_sparse()]), TypeError, "layout"),
    "negative lr": (lambda: ProximalAdagrad([_param()], lr=-0.1), ValueError, "lr"),
    "lr of a wrong type": (lambda: ProximalAdagrad([_param()], lr="0.1"), TypeError, "lr"),
    "int accum": (lambda: ProximalAdagrad([_param()], accum=0), TypeError, "accum"),
    "negative accum": (lambda: ProximalAdagrad([_param()], accum=-0.1), ValueError, "accum"),
    "negative l1": (lambda: ProximalAdagrad([_param()], l1=-0.1), ValueError, "l1"),
    "NaN l2": (lambda: ProximalAdagrad([_param()], l2=float("nan")), ValueError, "l2"),
    "zero loss_scale": (lambda: ProximalAdagrad([_param()], loss_scale=0.0), ValueError, "loss_scale"),
    "weight_decay of a wrong type": (
        lambda: ProximalAdagrad([_param()], weight_decay="x"),
        TypeError,
        "weight_decay",
    ),
    "emulate tensorflow": (
        lambda: ProximalAdagrad([_param()], emulate="tensorflow"),
        ValueError,
        "apply_proximal_adagrad",
    ),
    "prox_step fixed under mindspore": (
        lambda: ProximalAdagrad([_param()], emulate="mindspore", prox_step="fixed"),
        ValueError,
        "prox_step",
    ),
    "grad_centralization not a bool": (
        lambda: ProximalAdagrad([_param()], grad_centralization=1),
        TypeError,
        "grad_centralization",
    ),
    "group sets l1": (
        lambda: ProximalAdagrad([{"params": [_param()]}, {"params": [_param()], "l1": 0.5}]),
        ValueError,
        "params[1]['l1']",
    ),
    "group sets emulate": (
        lambda: ProximalAdagrad([{"params": [_param()], "emulate": "mindspore"}]),
        ValueError,
        "emulate",
    ),
    "group with an unknown key": (
        lambda: ProximalAdagrad([{"params": [_param()], "momentum": 0.9}]),
        KeyError,
        "momentum",
    ),
    "group with order_params": (
        lambda: ProximalAdagrad([{"params": [_param()], "order_params": []}]),
        KeyError,
        "order_params",
    ),
    "group with a negative lr": (
        lambda: ProximalAdagrad([{"params": [_param()]}, {"params": [_param()], "lr": -1.0}]),
        ValueError,
        "params[1]['lr']",
    ),
    "tensor twice in a group": (lambda: ProximalAdagrad([{"params": _twice()}]), ValueError, "twice"),
    "engine API with use_locking": (
        lambda: EngineAPI([Parameter(np.zeros(3), "w")], use_locking=True),
        ValueError,
        "use_locking",
    ),
    "engine API on a read-only array": (lambda: EngineAPI([_read_only_parameter()]), TypeError, "read-only"),
}


def _twice() -> list[Any]:
    p = _param()
    return [p, p]


def _read_only_parameter() -> Parameter:
    data = np.zeros(3, np.float32)
    data.flags.writeable = False
    return Parameter(data, "w")


@pytest.mark.parametrize("case", list(CONSTRUCTION))
def test_construction_refusals_name_the_argument(case: str) -> None:
    make, error, words = CONSTRUCTION[case]
    with pytest.raises(error) as info:
        make()
    assert words in str(info.value), str(info.value)


def test_refused_add_param_group_adds_nothing() -> None:
    """Nothing is added, and the caller's dict is as it was (torch fills the defaults into it)."""
    opt = ProximalAdagrad([_param()], lr=0.1)
    groups, state = list(opt.param_groups), dict(opt.state)
    members = [_param(), _param(torch.bfloat16)]
    given = {"params": members, "lr": 0.5}
    with pytest.raises(TypeError, match="bfloat16"):
        opt.add_param_group(given)
    assert opt.param_groups == groups and dict(opt.state) == state
    assert given.keys() == {"params", "lr"} and given["params"] is members and given["lr"] == 0.5


def _no_step(sd: dict) -> None:
    del sd["global_step"]


def _accum_float64(sd: dict) -> None:
    sd["state"][0]["accum"] = sd["state"][0]["accum"].double()


def _accum_negative(sd: dict) -> None:
    sd["state"][0]["accum"][0] = -1.0


def _other_l1(sd: dict) -> None:
    sd["param_groups"][0]["l1"] = 0.5


def _bad_group_lr(sd: dict) -> None:
    sd["param_groups"][0]["lr"] = -1.0


def _missing_accum(sd: dict) -> None:
    del sd["state"][0]


def _extra_group(sd: dict) -> None:
    sd["param_groups"].append(dict(sd["param_groups"][0]))


LOADS: dict[str, tuple[Callable[[dict], None], str]] = {
    "no global_step": (_no_step, "global_step"),
    "float64 accumulator for float32": (_accum_float64, "float64"),
    "negative accumulator": (_accum_negative, ">= 0"),
    "another l1": (_other_l1, "['l1']"),
    "negative group lr": (_bad_group_lr, "['lr']"),
    "accumulator missing": (_missing_accum, "['accum']"),
    "one group too many": (_extra_group, "param_groups"),
}


@pytest.mark.parametrize("case", list(LOADS))
def test_bad_state_dict_is_refused_and_changes_nothing(case: str) -> None:
    spoil, words = LOADS[case]
    p = torch.nn.Parameter(torch.ones(3))
    opt = ProximalAdagrad([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.step()
    sd = opt.state_dict()
    p.grad = torch.full((3,), 0.5)
    opt.step()
    spoil(sd)
    before = bytes_of(opt.state[p]["accum"]), opt.global_step, [dict(g) for g in opt.param_groups]
    with pytest.raises((ValueError, TypeError)) as info:
        opt.load_state_dict(sd)
    assert words in str(info.value), str(info.value)
    assert (bytes_of(opt.state[p]["accum"]), opt.global_step, [dict(g) for g in opt.param_groups]) == before


def test_a_state_dict_with_a_schedulers_keys_resumes_with_its_bits() -> None:
    """OneCycleLR adds max_lr/min_lr to the groups: they are kept on load (also before a scheduler exists)."""
    def make() -> tuple[Any, Any]:
        torch.manual_seed(0)
        p = torch.nn.Parameter(torch.randn(3))
        return p, ProximalAdagrad([p], lr=0.1, l1=0.01)

    p, opt = make()
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=10, cycle_momentum=False)
    for g in ([1.0, -1.0, 0.5], [0.25, 0.5, -2.0]):
        p.grad = torch.tensor(g)
        opt.step()
        sched.step()
    saved, saved_sched = opt.state_dict(), sched.state_dict()
    assert "max_lr" in saved["param_groups"][0]
    _, early = make()
    early.load_state_dict(saved)  # before its scheduler is made again: the scheduler's keys are kept
    assert early.param_groups[0]["max_lr"] == saved["param_groups"][0]["max_lr"]
    q, resumed = make()
    q.data.copy_(p.detach())
    sched_2 = torch.optim.lr_scheduler.OneCycleLR(resumed, max_lr=0.5, total_steps=10, cycle_momentum=False)
    resumed.load_state_dict(saved)  # torch's order: optimizer and scheduler made, then their states loaded
    sched_2.load_state_dict(saved_sched)
    for g in ([0.5, 0.5, 0.5], [-1.0, 2.0, 0.125]):
        p.grad, q.grad = torch.tensor(g), torch.tensor(g)
        opt.step()
        resumed.step()
        sched.step()
        sched_2.step()
        assert bytes_of(p.detach()) == bytes_of(q.detach())


def test_state_dict_of_torch_adagrad_is_refused() -> None:
    p = torch.nn.Parameter(torch.ones(3))
    other = torch.optim.Adagrad([p]).state_dict()
    with pytest.raises(ValueError, match="global_step"):
        ProximalAdagrad([p]).load_state_dict(other)


# --- the conformance suite's optimizer trajectories, through the verifier ---------------------------------


def test_committed_optimizer_trajectories_pass_through_the_engine_api() -> None:
    declared = sum(1 for _ in select(read_suite(SUITE), op="optimizer"))
    report = verify(SUITE, candidate=EngineAPI, op="optimizer")
    assert report.not_applicable == []  # every trajectory of the suite is expressible
    assert len(report.results) == declared > 0
    assert report.passed, [r.id for r in report.failed()]


@pytest.mark.parametrize("dtype", [np.float64, np.uint8, np.int16])
def test_engine_api_refuses_indices_the_engine_refuses(dtype: type) -> None:
    """Float or narrow indices are refused as the engine refuses them, not cast to rows (nothing changes)."""
    data = np.ones((4, 2), np.float32)
    opt = EngineAPI([Parameter(data, "table")], learning_rate=0.1)
    before = data.tobytes()
    with pytest.raises(TypeError, match=f"indices must have dtype int32 or int64, got {np.dtype(dtype)}"):
        opt(((np.array([0.7, 1.2]).astype(dtype), np.ones((2, 2), np.float32)),))
    assert data.tobytes() == before and opt.global_step == 0


def test_the_modules_doctests() -> None:
    """The adapter's examples (pytest's --doctest-modules leaves its modules out: they need torch)."""
    import doctest

    import proxadagrad_ref.adapters.torch as adapter

    result = doctest.testmod(adapter, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
