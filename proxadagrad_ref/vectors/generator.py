"""Generate a suite: draw each case's inputs from its seed, compute expected outputs with the engine.

The expected outputs come from the engine's public kernels
(:func:`~proxadagrad_ref.apply_proximal_adagrad`,
:func:`~proxadagrad_ref.sparse_apply_proximal_adagrad`) and, for trajectories,
its optimizer (:class:`~proxadagrad_ref.ProximalAdagrad`), through the same
call path the verifier uses; the formula is never written here.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .candidates import call_case, engine_candidate
from .format import (
    FORMAT_NAME,
    SEMANTICS_VERSION,
    Case,
    atomic_folder,
    in_place_folder,
    sha256,
    write_case,
    write_manifest,
)
from .suites import Spec, build_inputs, build_trajectory, suite_specs
from .trajectory import run_trajectory, update_order

__all__ = ["build_case", "case_from_inputs", "check_out_folder", "generate", "repro"]


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
    return with_expected(Case(meta, {f"inputs.{k}": v for k, v in inputs.items()}))


def with_expected(case: Case) -> Case:
    """`case` with the engine's outputs as its expected ones (canonical NaNs).

    They are computed through the verifier's call path; a sparse case with
    ``duplicates="error"`` whose indices repeat expects the error instead.
    """
    engine = engine_candidate()
    sparse = case.meta["op"] == "sparse"
    try:
        outputs = call_case(engine.sparse if sparse else engine.dense, case)  # type: ignore[arg-type]
    except ValueError as exc:
        if sparse and case.meta["options"].get("duplicates") == "error" and "duplicates" in str(exc):
            case.meta["expect_error"] = "duplicate_indices"
            return case
        raise
    for k, v in outputs.items():
        case.arrays[f"expected.{k}"] = canonical_nans(v)
    return case


def case_from_inputs(
    inputs: dict[str, Any],
    *,
    profile: str = "exact",
    prox_step: str = "adaptive",
    duplicates: str = "sum",
    case_id: str = "example",
) -> Case:
    """A case in memory from kernel inputs, its expected outputs computed by the engine (as the suite's).

    Parameters
    ----------
    inputs : dict
        ``var``, ``accum``, ``grad`` (NumPy arrays of one float dtype), ``lr``,
        ``l1``, ``l2`` (numbers, rounded to that dtype as a suite stores them)
        and, for a sparse case, ``indices`` (int32 or int64).
    profile, prox_step, duplicates : str
        What the case declares; ``duplicates`` applies to sparse cases.
    case_id : str
        The case's id.

    Returns
    -------
    Case
        A dense or sparse case; with ``duplicates="error"`` and duplicate
        indices it expects the call to fail (``expect_error``).

    """
    var = np.asarray(inputs["var"])
    dtype = var.dtype
    sparse = inputs.get("indices") is not None
    arrays = {
        "var": var,
        "accum": np.asarray(inputs["accum"], dtype),
        "grad": np.asarray(inputs["grad"], dtype),
    }
    if sparse:
        arrays["indices"] = np.asarray(inputs["indices"])
    hyper = {k: float(np.asarray(inputs[k], dtype)).hex() for k in ("lr", "l1", "l2")}
    meta: dict[str, Any] = {
        "id": case_id,
        "semantics_version": SEMANTICS_VERSION,
        "op": "sparse" if sparse else "dense",
        "profile": profile,
        "prox_step": prox_step,
        "dtype": dtype.name,
        "hyper": hyper,
        "options": {"duplicates": duplicates, "grad_format": "rows"} if sparse else {},
        "compliance": _compliance(profile),
        "seed": 0,
        "repro": "",
        "source": {"kind": "engine", "suite": "in-memory"},
        "tags": ["example"],
    }
    return with_expected(Case(meta, {f"inputs.{k}": v for k, v in arrays.items()}))


def _suite_entries(folder: Path) -> set[str] | None:
    """The file names a suite's manifest accounts for under ``cases/``, or None when `folder` holds none."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        return None
    names: set[str] = set()
    for entry in manifest.get("cases", []):
        if isinstance(entry, dict) and isinstance(entry.get("file"), str):
            stem = Path(entry["file"]).name.removesuffix(".json")
            names |= {f"{stem}.json", f"{stem}.bin"}
    return names


def check_out_folder(out: Path | str, *, force: bool = False) -> tuple[Path, bool]:
    """Check that writing a suite to `out` deletes nothing it did not write; return ``(out, in_place)``.

    * a missing or empty folder is written;
    * a suite (its ``manifest.json`` names this format) is replaced; entries
      beside ``manifest.json`` and ``cases/`` (``recorded/``, notes) are kept,
      and files in ``cases/`` that its manifest does not list are refused;
    * any other non-empty folder, or a file, is refused (``FileExistsError``
      naming it) unless `force`;
    * the current folder (``--out .``) is written in place: only its
      ``manifest.json`` and ``cases/`` are replaced (``in_place`` is True); a
      folder that contains the current folder is refused.
    """
    out = Path(out)
    here = Path.cwd().resolve()
    target = out.resolve()
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a folder; choose another output folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise FileExistsError(f"{out}: {parent} is a file, not a folder")
            break
    if target != here and here.is_relative_to(target):
        raise FileExistsError(f"{out}: contains the current folder; write the suite elsewhere")
    in_place = target == here
    if not out.is_dir() or not any(out.iterdir()) or force:
        return out, in_place
    listed = _suite_entries(out)
    if listed is None:
        raise FileExistsError(
            f"{out}: not empty and not a suite (no manifest.json of a vector suite); refusing to "
            "replace it. Choose another folder, empty it, or pass --force (force=True) to replace it"
        )
    cases = out / "cases"
    strays = sorted(p.name for p in cases.iterdir() if p.name not in listed) if cases.is_dir() else []
    if strays:
        shown = ", ".join(strays[:3]) + (f" and {len(strays) - 3} more" if len(strays) > 3 else "")
        raise FileExistsError(
            f"{out}: cases/ holds files its manifest does not list ({shown}); refusing to delete them. "
            "Move them away, or pass --force (force=True)"
        )
    return out, in_place


def generate(
    out: Path | str,
    suite: str = "default",
    *,
    force: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Write suite `suite` to folder `out` and return a summary.

    The folder is checked first (:func:`check_out_folder`: nothing the
    generator did not write is deleted unless `force`), then written into a
    temporary sibling folder that replaces `out` in one rename (the current
    folder: its ``manifest.json`` and ``cases/`` are replaced in place).
    """
    specs = suite_specs(suite)
    out, in_place = check_out_folder(out, force=force)
    entries = []
    counts: dict[str, int] = {}
    total_bytes = 0
    keep: tuple[str, ...] = ()
    if out.is_dir() and not in_place:
        keep = tuple(sorted(p.name for p in out.iterdir() if p.name not in ("manifest.json", "cases")))
        if force and _suite_entries(out) is None:
            keep = ()
    folder = in_place_folder(out, ("cases", "manifest.json")) if in_place else atomic_folder(out, keep=keep)
    with folder as tmp:
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
    """Rebuild one case of `suite` from its seed with the engine, print it, and return it.

    Printing into a closed pipe (``... | head``) stops quietly.
    """
    for spec in suite_specs(suite):
        if spec.id == case_id:
            case = build_case(spec, suite)
            try:
                with np.printoptions(precision=9, threshold=64):
                    print(f"{case_id}: lr, l1, l2 = {case.meta['hyper']}")
                    for key, arr in sorted(case.arrays.items()):
                        print(f"  {key} ({arr.dtype}, {arr.shape}):\n    {arr!r}")
                sys.stdout.flush()
            except BrokenPipeError:
                _silence_stdout()
            return case
    print(f"no case {case_id!r} in suite {suite!r}", file=sys.stderr)
    raise KeyError(case_id)


def _silence_stdout() -> None:
    """Point the standard output at the null device (its reader went away): no error at exit."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
