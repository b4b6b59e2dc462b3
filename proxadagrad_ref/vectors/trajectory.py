r"""Optimizer trajectories (``op: "optimizer"``): the configuration as data, running a factory, the bound.

A trajectory case describes a :class:`~proxadagrad_ref.ProximalAdagrad` run as
JSON (the case's ``optimizer`` object: parameters, groups, ``order_params``,
learning rate, weight decay, ``accum``, ``l1``, ``l2``, ``loss_scale``) plus
arrays: the initial parameters ``inputs.var.<i>``, the gradient of every step
``inputs.grad.<t>.<i>`` (with ``inputs.indices.<t>.<i>`` for a sparse one) and
the expected state after every step ``expected.var_out.<t>.<i>`` /
``expected.accum_out.<t>.<i>``. ``<i>`` indexes ``optimizer.params``, ``<t>``
the step. The format is specified in ``docs/conformance.md`` ("Optimizer
trajectories").

An implementation is tested through a *factory* with the signature of
:class:`~proxadagrad_ref.ProximalAdagrad`::

    opt = factory(params, accum=..., learning_rate=..., l1=..., l2=..., loss_scale=...,
                  weight_decay=..., emulate=None | "mindspore", prox_step="adaptive" | "fixed")
    opt(grads)      # one step; grads: one per parameter, in update order
    opt.accum       # the accumulators, in update order

:func:`run_trajectory` builds the arguments from the case, runs every step and
collects the state; the generator runs it with the engine's optimizer, the
verifier with a candidate's. :func:`trajectory_tolerance` chains the forward
bound of :mod:`.bound` along the engine's trajectory for ``BOUND`` cases.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .. import schedules
from ..backends.compat import to_numpy
from ..numerics.profiles import hyper_dtype_name
from ..optim.centralization import centralization_applies
from ..optim.parameter import Parameter
from ..optim.weight_decay import decays_by_name
from .bound import arith_for, gamma, step_bound
from .candidates import signature_of
from .format import Case

__all__ = [
    "BUILDERS",
    "SCHEDULES",
    "decode_args",
    "encode_args",
    "learning_rate_of",
    "run_trajectory",
    "trajectory_tolerance",
    "update_order",
    "weight_decay_of",
]

SCHEDULES: dict[str, Callable[..., schedules.LearningRateSchedule]] = {
    "ExponentialDecayLR": schedules.ExponentialDecayLR,
    "NaturalExpDecayLR": schedules.NaturalExpDecayLR,
    "InverseDecayLR": schedules.InverseDecayLR,
    "CosineDecayLR": schedules.CosineDecayLR,
    "PolynomialDecayLR": schedules.PolynomialDecayLR,
    "WarmUpLR": schedules.WarmUpLR,
}
BUILDERS: dict[str, Callable[..., list[float]]] = {
    "piecewise_constant_lr": schedules.piecewise_constant_lr,
    "exponential_decay_lr": schedules.exponential_decay_lr,
    "natural_exp_decay_lr": schedules.natural_exp_decay_lr,
    "inverse_decay_lr": schedules.inverse_decay_lr,
    "cosine_decay_lr": schedules.cosine_decay_lr,
    "polynomial_decay_lr": schedules.polynomial_decay_lr,
    "warmup_lr": schedules.warmup_lr,
}
U64 = 2.0**-53


# --- configuration as data ---------------------------------------------------------------------------------


def encode_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """JSON form of keyword arguments: floats as hex strings, ints and bools kept, lists item by item."""

    def enc(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [enc(x) for x in v]
        if isinstance(v, float):
            return v.hex()
        return v

    return {k: enc(v) for k, v in args.items()}


def decode_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`encode_args` (every string is a hex float)."""

    def dec(v: Any) -> Any:
        if isinstance(v, list):
            return [dec(x) for x in v]
        if isinstance(v, str):
            return float.fromhex(v)
        return v

    return {k: dec(v) for k, v in args.items()}


def learning_rate_of(spec: Mapping[str, Any], emulate: str | None) -> Any:
    """The ``learning_rate`` argument described by `spec` (``kind``: float, array, list, schedule)."""
    kind = spec["kind"]
    if kind == "float":
        return float.fromhex(spec["value"])
    if kind == "array":
        return np.array([float.fromhex(v) for v in spec["values"]], dtype=spec["dtype"])
    if kind == "list":
        return [float.fromhex(v) for v in spec["values"]]
    if kind == "schedule":
        return SCHEDULES[spec["name"]](**decode_args(spec["args"]), emulate=emulate)
    raise ValueError(f"unknown learning-rate kind {kind!r}")


class PerStep:
    """A weight decay given per step (the callable form of ``weight_decay``): ``values[step]``."""

    def __init__(self, values: list[float]) -> None:
        self.values = list(values)

    def __call__(self, step: int) -> float:
        """The weight decay of `step`."""
        return self.values[step]


def weight_decay_of(spec: Mapping[str, Any]) -> Any:
    """The ``weight_decay`` argument described by `spec` (``kind``: float, per_step)."""
    if spec["kind"] == "float":
        return float.fromhex(spec["value"])
    if spec["kind"] == "per_step":
        return PerStep([float.fromhex(v) for v in spec["values"]])
    raise ValueError(f"unknown weight-decay kind {spec['kind']!r}")


def _decay_at(spec: Mapping[str, Any], step: int) -> float:
    if spec["kind"] == "float":
        return float.fromhex(spec["value"])
    return float.fromhex(spec["values"][step])


def _decay_active(spec: Mapping[str, Any]) -> bool:
    return spec["kind"] == "per_step" or float.fromhex(spec["value"]) > 0


def emulate_of(case: Case) -> str | None:
    """The optimizer's ``emulate`` for the case's profile."""
    return None if case.meta["profile"] == "exact" else str(case.meta["profile"])


def update_order(cfg: Mapping[str, Any]) -> list[int]:
    """Indices into ``cfg["params"]`` in update order: ``order_params``, else group order, else list order."""
    index = {p["name"]: i for i, p in enumerate(cfg["params"])}
    if "order_params" in cfg:
        return [index[n] for n in cfg["order_params"]]
    if "groups" in cfg:
        return [index[n] for g in cfg["groups"] for n in g["params"]]
    return list(range(len(cfg["params"])))


def _params_argument(cfg: Mapping[str, Any], params: list[Parameter], emulate: str | None) -> list[Any]:
    if "groups" not in cfg:
        return list(params)
    by_name = {p.name: p for p in params}
    groups: list[dict[str, Any]] = []
    for g in cfg["groups"]:
        group: dict[str, Any] = {"params": [by_name[n] for n in g["params"]]}
        if "lr" in g:
            group["lr"] = learning_rate_of(g["lr"], emulate)
        if "weight_decay" in g:
            group["weight_decay"] = weight_decay_of(g["weight_decay"])
        if "grad_centralization" in g:
            group["grad_centralization"] = g["grad_centralization"]
        groups.append(group)
    if "order_params" in cfg:
        groups.append({"order_params": [by_name[n] for n in cfg["order_params"]]})
    return groups


def factory_arguments(case: Case) -> tuple[list[Parameter], list[Any], dict[str, Any]]:
    """(the Parameters in ``optimizer.params`` order, the ``params`` argument, the keyword arguments)."""
    cfg = case.meta["optimizer"]
    emulate = emulate_of(case)
    inputs = case.group("inputs")
    params = [Parameter(inputs[f"var.{i}"].copy(), p["name"]) for i, p in enumerate(cfg["params"])]
    kwargs = {
        "accum": float.fromhex(cfg["accum"]),
        "learning_rate": learning_rate_of(cfg["learning_rate"], emulate),
        "l1": float.fromhex(cfg["l1"]),
        "l2": float.fromhex(cfg["l2"]),
        "loss_scale": float.fromhex(cfg["loss_scale"]),
        "weight_decay": weight_decay_of(cfg["weight_decay"]),
        "emulate": emulate,
        "prox_step": case.meta["prox_step"],
    }
    return params, _params_argument(cfg, params, emulate), kwargs


def _grad(inputs: Mapping[str, np.ndarray], step: int, i: int) -> Any:
    values = inputs[f"grad.{step}.{i}"].copy()
    key = f"indices.{step}.{i}"
    return (inputs[key].copy(), values) if key in inputs else values


def run_trajectory(
    factory: Callable[..., Any],
    case: Case,
    *,
    pass_profile: bool = True,
    rates: list[list[float]] | None = None,
) -> dict[str, np.ndarray]:
    """Build the optimizer with `factory`, run every step of `case`; return the state after each step.

    Keys: ``var_out.<t>.<i>`` and ``accum_out.<t>.<i>``. Sparse gradients are
    passed as ``(indices, values)`` tuples. ``emulate`` and ``prox_step`` are
    passed when the factory's signature accepts them (and `pass_profile`). When `rates` is a list, the
    learning rates of each step (``opt.current_lr()``, in update order) are
    appended to it (the generator records them).
    """
    params, params_arg, kwargs = factory_arguments(case)
    sig = signature_of(factory)
    kwargs = {
        k: v
        for k, v in kwargs.items()
        if k not in ("emulate", "prox_step") or (pass_profile and sig.accepts(k))
    }
    inputs = case.group("inputs")
    order = update_order(case.meta["optimizer"])
    out: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):
        opt = factory(params_arg, **kwargs)
        for t in range(int(case.meta["options"]["steps"])):
            if rates is not None:
                rates.append([float(x) for x in opt.current_lr()])
            opt(tuple(_grad(inputs, t, i) for i in order))
            accums = list(opt.accum)
            if len(accums) != len(order):
                raise ValueError(f"opt.accum has {len(accums)} arrays, expected {len(order)}")
            for k, i in enumerate(order):
                out[f"var_out.{t}.{i}"] = np.array(to_numpy(params[i].data), copy=True)
                out[f"accum_out.{t}.{i}"] = np.array(to_numpy(accums[k]), copy=True)
    return out


# --- the chained bound -------------------------------------------------------------------------------------


def _param_rules(cfg: Mapping[str, Any]) -> list[tuple[Mapping[str, Any] | None, bool]]:
    """Per parameter (``optimizer.params`` order): its weight decay (None: not applied), centralization."""
    default_wd = cfg["weight_decay"]
    rules: list[tuple[Mapping[str, Any] | None, bool]] = []
    if "groups" not in cfg:
        for p in cfg["params"]:
            by_name = decays_by_name(p["name"])
            rules.append((default_wd if _decay_active(default_wd) and by_name else None, False))
        return rules
    group_of = {n: g for g in cfg["groups"] for n in g["params"]}
    for p in cfg["params"]:
        g = group_of[p["name"]]
        wd = g.get("weight_decay", default_wd)
        centralize = bool(g.get("grad_centralization", False)) and centralization_applies(tuple(p["shape"]))
        rules.append((wd if _decay_active(wd) else None, centralize))
    return rules


def _effective_grad(
    g: np.ndarray, w: np.ndarray, dw: np.ndarray, wd: float, s: float, centralize: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Real effective gradient rows ``(g + wd s w)/s`` (centralized) in float64, and its uncertainty.

    `w`, `dw` are the parameter rows the gradient rows meet (centre and deviation).
    The float64 stages add ``gamma_4(2^-53)`` relative; centralization adds the
    mean's error. The one rounding to the dtype is added by the caller.
    """
    pre = g / s + wd * w
    err = wd * dw + gamma(4, U64) * (np.abs(g) / s + wd * (np.abs(w) + dw))
    if centralize:
        axes = tuple(range(1, pre.ndim))
        n = math.prod(pre.shape[1:])
        absmean = np.abs(pre).mean(axis=axes, keepdims=True)
        err = err + err.mean(axis=axes, keepdims=True) + gamma(n + 2, U64) * (np.abs(pre) + absmean)
        pre = pre - pre.mean(axis=axes, keepdims=True)
    return pre, err


def trajectory_tolerance(case: Case) -> dict[str, np.ndarray]:
    """Per output (``var_out.<t>.<i>``, ...) the allowed ``|out - expected|`` of a ``BOUND`` trajectory.

    Centred on the expected (engine) state ``x_t``: a candidate whose state is
    within ``D_t`` of it and the engine (deviation 0) both take one step from
    ``x_t``; each lands within the forward bound of the real step from ``x_t``
    (:func:`~.bound.step_bound` with input uncertainties ``Ew = D_t``,
    ``Ea = DA_t`` and the effective gradient's ``Eg``), so
    ``D_{t+1} = B(x_t; D_t) + B(x_t; 0)``; ``D_1 = 2B`` as for one step.
    Untouched rows of a sparse step keep their ``D``.
    """
    cfg = case.meta["optimizer"]
    inputs, expected = case.group("inputs"), case.group("expected")
    dtype = np.dtype(case.meta["dtype"])
    arith = arith_for(dtype, k=float(case.meta["compliance"]["sqrt_ulps"]))
    hyper_dtype = np.dtype(hyper_dtype_name(dtype.name))
    l1 = float(np.asarray(float.fromhex(cfg["l1"]), hyper_dtype))
    l2 = float(np.asarray(float.fromhex(cfg["l2"]), hyper_dtype))
    s = float.fromhex(cfg["loss_scale"])
    adaptive = case.meta["prox_step"] == "adaptive"
    rules = _param_rules(cfg)
    accum0 = float(np.asarray(float.fromhex(cfg["accum"]), dtype))
    tol: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for i in range(len(cfg["params"])):
            w = inputs[f"var.{i}"].astype(np.float64)
            a = np.full(w.shape, accum0)
            dw, da = np.zeros_like(w), np.zeros_like(w)
            wd_spec, centralize = rules[i]
            for t in range(int(case.meta["options"]["steps"])):
                lr = float(np.asarray(float.fromhex(cfg["rates"][t][i]), hyper_dtype))
                wd = 0.0 if wd_spec is None else _decay_at(wd_spec, t)
                g = inputs[f"grad.{t}.{i}"].astype(np.float64)
                idx = inputs.get(f"indices.{t}.{i}")
                if idx is None:
                    rows: Any = slice(None)
                    wr, dwr, ar, dar = w, dw, a, da
                    G, E = _effective_grad(g, w, dw, wd, s, centralize)
                    G0, E0 = _effective_grad(g, w, np.zeros_like(dw), wd, s, centralize)
                else:
                    idx = idx.astype(np.int64)
                    uniq = np.array(list(dict.fromkeys(idx.tolist())), np.int64)
                    rows, wr, dwr, ar, dar = uniq, w[uniq], dw[uniq], a[uniq], da[uniq]
                    pre, err = _effective_grad(g, w[idx], dw[idx], wd, s, centralize)
                    pre0, err0 = _effective_grad(g, w[idx], np.zeros_like(dw[idx]), wd, s, centralize)
                    pos = {r: k for k, r in enumerate(uniq.tolist())}
                    G, E, G0, E0, absum = (np.zeros(wr.shape) for _ in range(5))
                    count = np.zeros(len(uniq), np.int64)
                    for k, r in enumerate(pos[r] for r in idx.tolist()):
                        G[r] += pre[k]
                        E[r] += err[k]
                        G0[r] += pre0[k]
                        E0[r] += err0[k]
                        absum[r] += np.abs(pre[k])
                        count[r] += 1
                    for r, n in enumerate(count.tolist()):  # summing n rows in float64: gamma_{n-1}
                        E[r] += gamma(n - 1, U64) * absum[r]
                        E0[r] += gamma(n - 1, U64) * absum[r]
                eg = E + arith.u * (np.abs(G) + E) + arith.tiny
                eg0 = E0 + arith.u * (np.abs(G0) + E0) + arith.tiny
                cand = step_bound(
                    wr, ar, G, lr, l1, l2, adaptive=adaptive, arith=arith, Ew=dwr, Ea=dar, Eg=eg
                )
                eng = step_bound(wr, ar, G0, lr, l1, l2, adaptive=adaptive, arith=arith, Eg=eg0)
                dw, da = dw.copy(), da.copy()
                dw[rows] = cand["Bw"] + eng["Bw"]
                da[rows] = cand["Ba"] + eng["Ba"]
                tol[f"var_out.{t}.{i}"] = dw
                tol[f"accum_out.{t}.{i}"] = da
                w = expected[f"var_out.{t}.{i}"].astype(np.float64)
                a = expected[f"accum_out.{t}.{i}"].astype(np.float64)
    return tol
