"""Suite definitions: which cases exist, and how each one's inputs are drawn from its seed.

A case is fully determined by its :class:`Spec` (op, scenario, dtype, profile,
prox step, options, size and seed): inputs come from
``numpy.random.Generator(PCG64(seed))`` with explicit dtypes, expected outputs
from the engine's public kernels (:mod:`proxadagrad_ref.vectors.generator`).
Seeds are the CRC-32 of the case id, so adding a case never changes another.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._profiles import PROFILES

__all__ = ["SUITES", "Spec", "build_inputs", "suite_specs"]

FLOATS = ("float16", "float32", "float64")
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


def _default(size: int, variants: int, sparse_rows: int) -> list[Spec]:
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
    ]


SUITES: dict[str, Callable[[], list[Spec]]] = {
    "smoke": _smoke,
    "default": lambda: _default(size=24, variants=1, sparse_rows=8),
    "full": lambda: _default(size=1024, variants=8, sparse_rows=256),
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
