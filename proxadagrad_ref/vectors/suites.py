"""Suite definitions: which cases exist, and how each one's inputs are drawn from its seed.

A case is fully determined by its :class:`Spec` (op, scenario, dtype, profile,
prox step, options, size and seed): inputs come from
``numpy.random.Generator(PCG64(seed))`` with explicit dtypes, expected outputs
from the engine's public kernels (:mod:`proxadagrad_ref.vectors.generator`).
Seeds are the CRC-32 of the case id, so adding a case never changes another.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backends.compat import FLOAT_NAMES
from ..numerics.profiles import PROFILES
from .trajectory import BUILDERS, encode_args

__all__ = [
    "SUITES",
    "TRAJECTORIES",
    "Spec",
    "build_inputs",
    "build_trajectory",
    "edge_values",
    "hyper_sets",
    "suite_specs",
]

FLOATS = FLOAT_NAMES
HYPERS: dict[str, tuple[float, float, float]] = {  # label -> (lr, l1, l2)
    "l1l2": (0.1, 0.05, 0.1),
    "l1": (0.1, 0.05, 0.0),
    "l2": (0.1, 0.0, 0.1),
    "noreg": (0.1, 0.0, 0.0),
    "strong": (0.5, 0.3, 2.0),
    "lrlarge": (1000.0, 0.01, 0.5),
}


@dataclass(frozen=True)
class Spec:
    """Everything that determines one case."""

    op: str
    scenario: str
    dtype: str
    profile: str
    prox_step: str
    hyper: str = "l1l2"
    size: int = 32
    duplicates: str = "sum"
    grad_format: str = "rows"
    index_dtype: str = "int64"
    variant: int = 0
    options: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def id(self) -> str:
        """Case id: readable, unique within a suite, stable."""
        if self.op == "optimizer":  # size = number of steps
            parts = [self.op, self.scenario, self.dtype, self.profile, self.prox_step, f"s{self.size}"]
            return "-".join([*parts, f"v{self.variant}"])
        parts = [self.op, self.scenario, self.hyper, self.dtype, self.profile, self.prox_step]
        if self.op == "sparse":
            parts += [self.duplicates, self.grad_format, self.index_dtype]
        parts += [f"n{self.size}", f"v{self.variant}"]
        return "-".join(parts)

    @property
    def seed(self) -> int:
        """CRC-32 of the id: deterministic on every machine."""
        return zlib.crc32(self.id.encode("ascii"))


def _hyper(spec: Spec) -> tuple[float, float, float]:
    lr, l1, l2 = HYPERS[spec.hyper] if spec.hyper in HYPERS else (0.0, 0.0, 0.0)
    info = np.finfo(spec.dtype)
    if spec.hyper == "lrtiny":
        lr, l1, l2 = float(info.smallest_normal) * 4, 0.05, 0.1
    return lr, l1, l2


def hyper_sets(dtype: str) -> dict[str, tuple[float, float, float]]:
    """The suite's (lr, l1, l2) sets by label, rounded to `dtype` as its cases store them."""
    out = {}
    for label in (*HYPERS, "lrtiny"):
        values = _hyper(Spec("dense", "random", dtype, "exact", "adaptive", label))
        out[label] = tuple(float(np.asarray(x, dtype)) for x in values)
    return out  # type: ignore[return-value]


def edge_values(dtype: str) -> dict[str, tuple[float, ...]]:
    """The special values the dense scenarios put into each input, by input name, in `dtype`.

    ``var``: signed zeros, the smallest subnormal, minus the smallest normal,
    a quarter of the largest finite (``var_special``); ``accum``: zero and
    subnormals (``accum_zero``, ``accum_subnormal``); ``grad``: signed zeros,
    subnormals, magnitudes around the square root of the largest finite (so
    ``g*g`` overflows, ``grad_huge``), infinities and NaN (``grad_inf``,
    ``grad_nan``). The hypothesis strategies of :mod:`proxadagrad_ref.testing`
    draw from them.
    """
    info = np.finfo(dtype)
    sub, normal, big = float(info.smallest_subnormal), float(info.smallest_normal), float(info.max)
    root = float(np.sqrt(big))
    values = {
        "var": (0.0, -0.0, sub, -normal, big / 4, -big / 4),
        "accum": (0.0, sub, 1023 * sub, normal),
        "grad": (0.0, -0.0, sub, -511 * sub, root / 4, -4 * root, math.inf, -math.inf, math.nan),
    }
    return {k: tuple(float(np.asarray(v, dtype)) for v in vs) for k, vs in values.items()}


def _normal(rng: np.random.Generator, n: Any, dtype: str, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(n, dtype=np.float64) * scale).astype(dtype)


def _dense(spec: Spec, rng: np.random.Generator, lr: float, l1: float) -> dict[str, np.ndarray]:
    """Dense inputs (var, accum, grad) of `spec.scenario`."""
    n, dt = spec.size, spec.dtype
    info = np.finfo(dt)
    w = _normal(rng, n, dt)
    a = rng.uniform(0.0, 2.0, n).astype(dt)
    g = _normal(rng, n, dt)
    pick = rng.random(n) < 0.5
    sc = spec.scenario
    if sc == "threshold":  # |w - eta g| within a few ulps of the threshold s*l1 (both sides)
        a64, g64 = a.astype(np.float64), g.astype(np.float64)
        eta = np.float64(np.asarray(lr, dt)) / np.sqrt(a64 + g64 * g64)
        s = eta if spec.prox_step == "adaptive" else np.float64(np.asarray(lr, dt))
        t = s * np.float64(np.asarray(l1, dt))
        rel = rng.uniform(-8.0, 8.0, n) * float(info.eps)
        sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        w = (eta * g64 + sign * t * (1.0 + rel)).astype(dt)
    elif sc == "accum_zero":
        a = np.zeros(n, dt)
        g[: n // 8] = 0  # 0/0: NaN by the IEEE rules
    elif sc == "accum_subnormal":
        a = (rng.integers(1, 1 << 10, n) * float(info.smallest_subnormal)).astype(dt)
        g = np.where(pick, g, np.zeros_like(g))
    elif sc == "grad_zero":
        g = np.where(rng.random(n) < 0.8, np.zeros_like(g), g)
        g[:2] = (0.0, -0.0)
    elif sc == "grad_huge":
        root = np.sqrt(float(info.max))
        g = (rng.uniform(0.25, 4.0, n) * root * np.where(pick, 1, -1)).astype(dt)
    elif sc == "grad_subnormal":
        g = (rng.integers(-(1 << 9), 1 << 9, n) * float(info.smallest_subnormal)).astype(dt)
        a[: n // 8] = 0
    elif sc == "grad_inf":
        g = np.where(rng.random(n) < 0.3, np.where(pick, np.inf, -np.inf).astype(dt), g)
    elif sc == "grad_nan":
        bits = np.where(rng.random(n) < 0.3, 1, 0)
        g = g.copy()
        nan_bits = {
            "float16": (np.uint16, 0x7E01),
            "float32": (np.uint32, 0x7FC00123),
            "float64": (np.uint64, 0x7FF8000000000777),
        }[dt]
        view = g.view(nan_bits[0])
        view[bits == 1] = nan_bits[0](nan_bits[1])
        view[:2] |= nan_bits[0](1 << (8 * np.dtype(dt).itemsize - 1))  # negative NaNs too
        view[:1] = nan_bits[0](nan_bits[1])
    elif sc == "var_special":
        w[:6] = np.array(
            [
                0.0,
                -0.0,
                float(info.smallest_subnormal),
                -float(info.smallest_normal),
                float(info.max) / 4,
                -float(info.max) / 4,
            ]
        ).astype(dt)
    elif sc != "random":
        raise ValueError(f"unknown dense scenario {sc!r}")
    return {"var": w, "accum": a, "grad": g}


def _sparse(spec: Spec, rng: np.random.Generator) -> dict[str, Any]:
    """Sparse inputs: a table, its accumulators and the gradient in `spec.grad_format`."""
    rows, cols, dt = spec.size, 3, spec.dtype
    var = _normal(rng, (rows, cols), dt)
    accum = rng.uniform(0.0, 2.0, (rows, cols)).astype(dt)
    sc = spec.scenario
    if sc == "empty":
        idx = np.zeros(0, np.int64)
    elif sc == "unique":
        idx = np.sort(rng.choice(rows, size=rows // 2, replace=False))
    elif sc == "unsorted":
        idx = rng.choice(rows, size=rows // 2, replace=False)
    elif sc == "duplicate":
        idx = rng.integers(0, rows // 2, size=rows)
        idx[:3] = idx[0]  # at least one index three times
    else:
        raise ValueError(f"unknown sparse scenario {sc!r}")
    idx = idx.astype(spec.index_dtype)
    values = _normal(rng, (idx.shape[0], cols), dt)
    if spec.grad_format == "rows":
        return {"var": var, "accum": accum, "grad": values, "indices": idx}
    dense = np.zeros((rows, cols), dt)
    dense[idx.astype(np.int64)] = values  # last write wins; duplicates are explored by "coo"
    if spec.grad_format == "csr":
        import scipy.sparse as sp

        csr = sp.csr_array(dense)
        csr.data[::4] = 0  # explicit zeros: a stored entry touches its row
        return {
            "var": var,
            "accum": accum,
            "grad_data": csr.data.astype(dt),
            "grad_indices": csr.indices.astype(np.int64),
            "grad_indptr": csr.indptr.astype(np.int64),
        }
    # coo: unsorted entries with a duplicated coordinate (summed by scipy)
    r = np.concatenate([idx.astype(np.int64), idx[:2].astype(np.int64)])
    c = rng.integers(0, cols, size=r.shape[0]).astype(np.int64)
    data = _normal(rng, r.shape[0], dt)
    return {"var": var, "accum": accum, "grad_row": r, "grad_col": c, "grad_data": data}


def build_inputs(spec: Spec) -> tuple[dict[str, np.ndarray], tuple[float, float, float]]:
    """Inputs and (lr, l1, l2) of one case, drawn from ``PCG64(spec.seed)``, rounded to the dtype."""
    rng = np.random.Generator(np.random.PCG64(spec.seed))
    lr, l1, l2 = (float(np.asarray(x, spec.dtype)) for x in _hyper(spec))
    with np.errstate(all="ignore"):
        arrays = _dense(spec, rng, lr, l1) if spec.op == "dense" else _sparse(spec, rng)
    return arrays, (lr, l1, l2)


# --- optimizer trajectories: the configuration as data (JSON form), see .trajectory -------------------------

NET: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("conv1.weight", (4, 16)),  # shape[1] % 16 == 0: gradient centralization applies
    ("fc.weight", (3, 5)),
    ("fc.bias", (3,)),
    ("bn.gamma", (3,)),  # ungrouped weight decay skips "beta"/"gamma" names
    ("bn.beta", (3,)),
)
EMBEDDING = ("emb.table", (6, 2))


def _lr(x: float) -> dict[str, Any]:
    return {"kind": "float", "value": float(x).hex()}


def _lr_array(values: list[float], dtype: str) -> dict[str, Any]:
    return {"kind": "array", "dtype": dtype, "values": [float(np.asarray(v, dtype)).hex() for v in values]}


def _lr_schedule(name: str, **args: Any) -> dict[str, Any]:
    return {"kind": "schedule", "name": name, "args": encode_args(args)}


def _lr_builder(name: str, **args: Any) -> dict[str, Any]:
    values = BUILDERS[name](**args)  # the engine's list builder; the values are stored as data
    return {"kind": "list", "builder": {"name": name, "args": encode_args(args)}, "values": _hex(values)}


def _hex(values: list[float]) -> list[str]:
    return [float(v).hex() for v in values]


def _wd(x: float) -> dict[str, Any]:
    return {"kind": "float", "value": float(x).hex()}


def _config(steps: int, *, sparse: bool = False, **over: Any) -> dict[str, Any]:
    params = [{"name": n, "shape": list(sh), "grad": "dense"} for n, sh in NET]
    if sparse:
        params.append({"name": EMBEDDING[0], "shape": list(EMBEDDING[1]), "grad": "rows"})
    cfg: dict[str, Any] = {
        "params": params,
        "accum": (0.1).hex(),
        "l1": (0.01).hex(),
        "l2": (0.02).hex(),
        "loss_scale": (1.0).hex(),
        "learning_rate": _lr(0.1),
        "weight_decay": _wd(0.0),
    }
    cfg.update(over)
    return cfg


def _rates(steps: int) -> list[float]:
    return [0.1, 0.08, 0.12, 0.05, 0.07, 0.03, 0.09, 0.06][: steps + 2] + [0.04] * max(0, steps - 6)


def _groups(steps: int) -> dict[str, Any]:
    return _config(
        steps,
        weight_decay=_wd(0.02),
        groups=[
            {"params": ["conv1.weight"], "weight_decay": _wd(0.01), "grad_centralization": True},
            {"params": ["fc.weight", "fc.bias"], "lr": _lr(0.05)},
            {"params": ["bn.gamma", "bn.beta"], "lr": _lr(0.2), "weight_decay": _wd(0.0)},
        ],
        order_params=["fc.bias", "conv1.weight", "bn.beta", "fc.weight", "bn.gamma"],
    )


def _groups_dynamic(steps: int) -> dict[str, Any]:
    return _config(
        steps,
        learning_rate=_lr_array(_rates(steps), "float32"),
        groups=[
            {"params": ["conv1.weight", "fc.weight"], "lr": _lr(0.05), "grad_centralization": True},
            {
                "params": ["fc.bias"],
                "lr": _lr_schedule("ExponentialDecayLR", learning_rate=0.1, decay_rate=0.9, decay_steps=2),
            },
            {"params": ["bn.gamma", "bn.beta"], "weight_decay": _wd(0.03)},
        ],
    )


_TOTAL = 2  # list builders produce steps + _TOTAL rates


_DECAYS: list[tuple[str, str, str, str, int, dict[str, Any]]] = [
    # each decay twice: as a schedule (``<what>_steps``) and as a list builder (``<what>_epoch``)
    ("exponential", "ExponentialDecayLR", "exponential_decay_lr", "decay", 2,
     {"learning_rate": 0.1, "decay_rate": 0.9}),
    ("natural_exp", "NaturalExpDecayLR", "natural_exp_decay_lr", "decay", 2,
     {"learning_rate": 0.1, "decay_rate": 0.5, "is_stair": True}),
    ("inverse", "InverseDecayLR", "inverse_decay_lr", "decay", 2, {"learning_rate": 0.1, "decay_rate": 0.5}),
    ("cosine", "CosineDecayLR", "cosine_decay_lr", "decay", 3, {"min_lr": 0.01, "max_lr": 0.1}),
    ("polynomial", "PolynomialDecayLR", "polynomial_decay_lr", "decay", 3,
     {"learning_rate": 0.1, "end_learning_rate": 0.01, "power": 0.5}),
    ("warmup", "WarmUpLR", "warmup_lr", "warmup", 3, {"learning_rate": 0.1}),
]  # fmt: skip


def _scheduled(name: str, **args: Any) -> Callable[[int], dict[str, Any]]:
    """A trajectory whose learning rate is the schedule `name` built with `args`."""
    return lambda n: _config(n, learning_rate=_lr_schedule(name, **args))


def _listed(name: str, **args: Any) -> Callable[[int], dict[str, Any]]:
    """A trajectory whose learning rate is the list builder `name`'s list (one rate per step, and spare)."""
    return lambda n: _config(
        n, learning_rate=_lr_builder(name, total_step=n + _TOTAL, step_per_epoch=1, **args)
    )

TRAJECTORIES: dict[str, Callable[[int], dict[str, Any]]] = {
    "plain": lambda n: _config(n),
    "wd_names": lambda n: _config(n, weight_decay=_wd(0.05)),
    "loss_scale": lambda n: _config(n, weight_decay=_wd(0.05), loss_scale=(1024.0).hex()),
    "wd_dynamic": lambda n: _config(
        n,
        weight_decay={
            "kind": "per_step",
            "values": _hex([0.1, 0.05, 0.0, 0.02, 0.04, 0.01, 0.03, 0.0][:n]) + _hex([0.01] * max(0, n - 8)),
        },
        loss_scale=(8.0).hex(),
    ),
    "groups": _groups,
    "groups_dynamic": _groups_dynamic,
    "lr_array": lambda n: _config(n, learning_rate=_lr_array(_rates(n), "float32")),
    "lr_array64": lambda n: _config(n, learning_rate=_lr_array(_rates(n), "float64")),
    "lr_list": lambda n: _config(n, learning_rate={"kind": "list", "values": _hex(_rates(n))}),
    **{
        f"sched_{name}": _scheduled(cls, **args, **{f"{what}_steps": n})
        for name, cls, _, what, n, args in _DECAYS
    },
    "list_piecewise": lambda n: _config(
        n,
        learning_rate=_lr_builder(
            "piecewise_constant_lr", milestone=[2, n + _TOTAL], learning_rates=[0.1, 0.05]
        ),
    ),
    **{
        f"list_{name}": _listed(fn, **args, **{f"{what}_epoch": n})
        for name, _, fn, what, n, args in _DECAYS
    },
    "sparse": lambda n: _config(n, sparse=True, weight_decay=_wd(0.05)),
}


def build_trajectory(spec: Spec) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The ``optimizer`` configuration (JSON form) and the arrays of a trajectory case.

    Arrays: ``var.<i>`` (initial parameters), ``grad.<t>.<i>`` and, for sparse
    gradients, ``indices.<t>.<i>`` (a repeated row in each step; int32 on odd
    steps). Gradients are drawn at the loss scale's magnitude.
    """
    rng = np.random.Generator(np.random.PCG64(spec.seed))
    cfg = TRAJECTORIES[spec.scenario](spec.size)
    scale = float.fromhex(cfg["loss_scale"])
    arrays: dict[str, np.ndarray] = {}
    for i, p in enumerate(cfg["params"]):
        arrays[f"var.{i}"] = _normal(rng, tuple(p["shape"]), spec.dtype)
    for t in range(spec.size):
        for i, p in enumerate(cfg["params"]):
            shape = tuple(p["shape"])
            if p["grad"] == "rows":
                idx = rng.integers(0, shape[0], size=3 + t % 2)
                idx[1] = idx[0]
                arrays[f"indices.{t}.{i}"] = idx.astype(np.int32 if t % 2 else np.int64)
                shape = (idx.shape[0], *shape[1:])
            arrays[f"grad.{t}.{i}"] = _normal(rng, shape, spec.dtype, scale)
    return cfg, arrays


def _trajectory_specs(steps: int, variant: int) -> list[Spec]:
    specs: list[Spec] = []
    for profile in ("exact", "mindspore"):  # the optimizer's pipelines (numerics_for)
        if profile not in PROFILES:
            continue
        for name in TRAJECTORIES:
            specs.append(Spec("optimizer", name, "float32", profile, "adaptive", size=steps, variant=variant))
        extra = [("float16", n, "adaptive") for n in ("plain", "loss_scale", "groups", "sparse")]
        if profile == "exact":
            extra += [("float64", n, "adaptive") for n in ("plain", "groups", "sparse")]
            extra += [("float32", n, "fixed") for n in ("plain", "groups", "sparse")]
        for dt, name, ps in extra:
            if name == "sparse" and dt not in _sparse_dtypes(profile):
                continue
            specs.append(Spec("optimizer", name, dt, profile, ps, size=steps, variant=variant))
    return specs


DENSE_SCENARIOS = (
    "random",
    "threshold",
    "accum_zero",
    "accum_subnormal",
    "grad_zero",
    "grad_huge",
    "grad_subnormal",
    "grad_inf",
    "grad_nan",
    "var_special",
)


def _sparse_dtypes(profile: str) -> tuple[str, ...]:
    """Dtypes the profile's sparse kernel defines (``sparse_dtypes`` when the profile narrows them)."""
    prof = PROFILES[profile]
    return tuple(getattr(prof, "sparse_dtypes", None) or prof.dtypes)


def _profile_grid() -> list[tuple[str, str, str]]:
    """(profile, dtype, prox_step) for every profile the engine defines."""
    grid = []
    for name in ("exact", "mindspore", "tensorflow"):
        prof = PROFILES.get(name)
        if prof is None:
            continue
        for dt in prof.dtypes:
            for ps in prof.prox_steps:
                grid.append((name, dt, ps))
    return grid


def _default(size: int, variants: int, sparse_rows: int, steps: int) -> list[Spec]:
    specs: list[Spec] = []
    for v in range(variants):
        for profile, dt, ps in _profile_grid():
            for hyper in (*HYPERS, "lrtiny"):
                specs.append(Spec("dense", "random", dt, profile, ps, hyper, size, variant=v))
            for sc in DENSE_SCENARIOS[1:]:
                specs.append(Spec("dense", sc, dt, profile, ps, "l1l2", size, variant=v))
            specs.append(Spec("dense", "threshold", dt, profile, ps, "strong", size, variant=v))
            sparse_ok = dt in _sparse_dtypes(profile)
            for sc in ("unique", "unsorted", "duplicate", "empty") if sparse_ok else ():
                for dup in ("sum", "sequential", "error"):
                    for ix in ("int32", "int64"):
                        if ix == "int32" and (sc != "duplicate" or dup != "sum"):
                            continue
                        specs.append(
                            Spec(
                                "sparse", sc, dt, profile, ps, "l1l2", sparse_rows, dup, "rows", ix, variant=v
                            )
                        )
            if profile == "exact" and dt != "float16":
                for fmt in ("csr", "coo"):
                    specs.append(
                        Spec(
                            "sparse", "duplicate", dt, profile, ps, "l1l2", sparse_rows, "sum", fmt, variant=v
                        )
                    )
        specs += _trajectory_specs(steps, v)
    return specs


def _smoke() -> list[Spec]:
    return [
        Spec("dense", "random", "float32", "exact", "adaptive", size=8),
        Spec("dense", "random", "float32", "exact", "fixed", size=8),
        Spec("dense", "random", "float64", "exact", "adaptive", size=8),
        Spec("dense", "grad_nan", "float16", "exact", "adaptive", size=8),
        Spec("dense", "random", "float32", "mindspore", "adaptive", size=8),
        Spec("sparse", "duplicate", "float32", "exact", "adaptive", size=6),
        Spec("sparse", "duplicate", "float32", "exact", "adaptive", size=6, duplicates="sequential"),
        Spec("sparse", "duplicate", "float32", "exact", "adaptive", size=6, grad_format="csr"),
        Spec("optimizer", "groups", "float32", "exact", "adaptive", size=3),
        Spec("optimizer", "sched_cosine", "float32", "mindspore", "adaptive", size=3),
    ]


SUITES: dict[str, Callable[[], list[Spec]]] = {
    "smoke": _smoke,
    "default": lambda: _default(size=24, variants=1, sparse_rows=8, steps=4),
    "full": lambda: _default(size=1024, variants=8, sparse_rows=256, steps=8),
}


def suite_specs(name: str) -> list[Spec]:
    """The specs of suite `name` (``smoke``, ``default``, ``full``)."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
    specs = SUITES[name]()
    ids = [s.id for s in specs]
    if len(set(ids)) != len(ids):  # pragma: no cover - a definition bug
        raise AssertionError("duplicate case ids in suite " + name)
    return specs
