"""Generate a suite: draw each case's inputs from its seed, compute expected outputs with the engine.

The expected outputs come from the engine's public kernels
(:func:`~proxadagrad_ref.apply_proximal_adagrad`,
:func:`~proxadagrad_ref.sparse_apply_proximal_adagrad`) and, for trajectories,
its optimizer (:class:`~proxadagrad_ref.ProximalAdagrad`), through the same
call path the verifier uses; the formula is never written here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .candidates import call_case, engine_candidate
from .format import SEMANTICS_VERSION, Case, atomic_folder, sha256, write_case, write_manifest
from .suites import Spec, build_inputs, build_trajectory, suite_specs
from .trajectory import run_trajectory, update_order

__all__ = ["build_case", "generate", "repro"]


def _repro_line(suite: str, case_id: str) -> str:
    return f'python -c "from proxadagrad_ref.vectors import repro; repro({suite!r}, {case_id!r})"'


def _compliance(profile: str) -> dict[str, Any]:
    return {
        "mode": "BOUND" if profile == "exact" else "EXACT",
        "fp_special": "ieee" if profile == "exact" else profile,
        "bound": "forward-v1",
        "sqrt_ulps": 3,
    }


def _trajectory_case(spec: Spec, suite: str) -> Case:
    """A trajectory case: the configuration as data, run with the engine's own ProximalAdagrad."""
    from ..optim import ProximalAdagrad

    cfg, arrays = build_trajectory(spec)
    meta: dict[str, Any] = {
        "id": spec.id,
        "semantics_version": SEMANTICS_VERSION,
        "op": "optimizer",
        "profile": spec.profile,
        "prox_step": spec.prox_step,
        "dtype": spec.dtype,
        "options": {"steps": spec.size},
        "optimizer": cfg,
        "compliance": _compliance(spec.profile),
        "seed": spec.seed,
        "repro": _repro_line(suite, spec.id),
        "source": {"kind": "engine", "suite": suite},
        "tags": [spec.scenario],
    }
    case = Case(meta, {f"inputs.{k}": v for k, v in arrays.items()})
    rates: list[list[float]] = []
    outputs = run_trajectory(ProximalAdagrad, case, rates=rates)
    position = {i: k for k, i in enumerate(update_order(cfg))}  # rates come in update order
    cfg["rates"] = [[float(step[position[i]]).hex() for i in range(len(cfg["params"]))] for step in rates]
    meta["hyper"] = {"lr": cfg["rates"][0][0], "l1": cfg["l1"], "l2": cfg["l2"]}
    for k, v in outputs.items():
        case.arrays[f"expected.{k}"] = canonical_nans(v)
    return case


def canonical_nans(x: np.ndarray) -> np.ndarray:
    """Write every NaN as the dtype's canonical quiet NaN.

    NaN sign and payload are not part of the semantics (they vary with the
    machine and with which SIMD loop produced them), so expected outputs store
    one pattern and the suite's bytes do not depend on the machine.
    """
    if x.dtype.kind != "f" or not np.isnan(x).any():
        return x
    return np.where(np.isnan(x), np.array(np.nan, x.dtype), x)


def build_case(spec: Spec, suite: str) -> Case:
    """The case of `spec`: metadata, inputs and the engine's expected outputs."""
    if spec.op == "optimizer":
        return _trajectory_case(spec, suite)
    inputs, (lr, l1, l2) = build_inputs(spec)
    options: dict[str, Any] = {}
    if spec.op == "sparse":
        options = {"duplicates": spec.duplicates, "grad_format": spec.grad_format}
    meta: dict[str, Any] = {
        "id": spec.id,
        "semantics_version": SEMANTICS_VERSION,
        "op": spec.op,
        "profile": spec.profile,
        "prox_step": spec.prox_step,
        "dtype": spec.dtype,
        "hyper": {"lr": lr.hex(), "l1": l1.hex(), "l2": l2.hex()},
        "options": options,
        "compliance": _compliance(spec.profile),
        "seed": spec.seed,
        "repro": _repro_line(suite, spec.id),
        "source": {"kind": "engine", "suite": suite},
        "tags": [spec.scenario, spec.hyper],
    }
    case = Case(meta, {f"inputs.{k}": v for k, v in inputs.items()})
    try:
        outputs = call_case(
            engine_candidate().sparse if spec.op == "sparse" else engine_candidate().dense,  # type: ignore[arg-type]
            case,
        )
    except ValueError as exc:
        if spec.duplicates == "error" and "duplicates" in str(exc):
            meta["expect_error"] = "duplicate_indices"
            return case
        raise
    for k, v in outputs.items():
        case.arrays[f"expected.{k}"] = canonical_nans(v)
    return case


def generate(
    out: Path | str, suite: str = "default", *, progress: Callable[[int, int, str], None] | None = None
) -> dict[str, Any]:
    """Write suite `suite` to folder `out` (atomically) and return a summary."""
    specs = suite_specs(suite)
    out = Path(out)
    entries = []
    counts: dict[str, int] = {}
    total_bytes = 0
    with atomic_folder(out, keep=("recorded",)) as tmp:
        cases_dir = tmp / "cases"
        cases_dir.mkdir()
        for i, spec in enumerate(specs):
            case = build_case(spec, suite)
            name, data = write_case(cases_dir, case)
            entries.append({"id": case.id, "file": f"cases/{name}", "sha256": sha256(data)})
            key = f"{spec.op}/{spec.profile}"
            counts[key] = counts.get(key, 0) + 1
            total_bytes += len(data) + (cases_dir / f"{case.id}.bin").stat().st_size
            if progress is not None:
                progress(i + 1, len(specs), case.id)
        write_manifest(tmp, suite, entries)
        total_bytes += (tmp / "manifest.json").stat().st_size
    return {
        "suite": suite,
        "out": str(out),
        "cases": len(entries),
        "bytes": total_bytes,
        "by_op_profile": counts,
    }


def repro(suite: str, case_id: str) -> Case:
    """Rebuild one case of `suite` from its seed with the engine, print it, and return it."""
    for spec in suite_specs(suite):
        if spec.id == case_id:
            case = build_case(spec, suite)
            with np.printoptions(precision=9, threshold=64):
                print(f"{case_id}: lr, l1, l2 = {case.meta['hyper']}")
                for key, arr in sorted(case.arrays.items()):
                    print(f"  {key} ({arr.dtype}, {arr.shape}):\n    {arr!r}")
            return case
    print(f"no case {case_id!r} in suite {suite!r}", file=sys.stderr)
    raise KeyError(case_id)
