"""Import outputs recorded from TensorFlow / MindSpore into the vector format.

A recording folder holds one ``.npz`` per case (arrays ``var``, ``accum``,
``grad``, optional ``indices``, 0-d ``lr``, ``l1``, ``l2``, and the framework's
``var_out``, ``accum_out``) and a ``provenance.json`` (framework version,
device, build flags, date, ...; optionally ``"cases": {stem: {...}}`` per file).
Each becomes a case whose ``source`` is ``{"kind": "recorded", "framework",
"provenance"}``, with profile = the framework and compliance ``EXACT``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from .format import (
    SEMANTICS_VERSION,
    Case,
    FormatError,
    atomic_folder,
    read_case,
    sha256,
    write_case,
    write_manifest,
)

__all__ = ["DUPLICATES", "import_npz_folder", "repro_recorded"]

DUPLICATES = {"tensorflow": "sequential", "mindspore": "sum"}  # what each framework's sparse op does
_REQUIRED = ("var", "accum", "grad", "lr", "l1", "l2", "var_out", "accum_out")


def _case_from_npz(path: Path, framework: str, provenance: dict[str, Any]) -> Case:
    label = path.name
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError) as exc:
        raise FormatError(f"{label}: not a readable .npz without pickles ({exc})") from None
    for key in _REQUIRED:
        if key not in arrays:
            raise FormatError(f"{label}: missing array {key!r}")
    var = arrays["var"]
    if var.dtype.kind != "f":
        raise FormatError(f"{label}: field var has dtype {var.dtype}, expected a float dtype")
    for key in ("accum", "var_out", "accum_out"):
        if arrays[key].dtype != var.dtype or arrays[key].shape != var.shape:
            raise FormatError(f"{label}: field {key} must have var's dtype {var.dtype} and shape {var.shape}")
    for key in ("lr", "l1", "l2"):
        if arrays[key].shape != ():
            raise FormatError(f"{label}: field {key} must be 0-d, got shape {arrays[key].shape}")
    sparse = "indices" in arrays
    stem = re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower()).strip("-.")
    case_id = f"recorded-{framework}-{stem}"
    hyper = {k: float(np.asarray(arrays[k], var.dtype)).hex() for k in ("lr", "l1", "l2")}
    per_case = provenance.get("cases", {}).get(path.stem, {})
    prov = {k: v for k, v in provenance.items() if k != "cases"}
    prov.update({"file": path.name, "sha256": sha256(path.read_bytes()), **per_case})
    meta: dict[str, Any] = {
        "id": case_id,
        "semantics_version": SEMANTICS_VERSION,
        "op": "sparse" if sparse else "dense",
        "profile": framework,
        "prox_step": "adaptive",
        "dtype": var.dtype.name,
        "hyper": hyper,
        "options": {"duplicates": DUPLICATES[framework], "grad_format": "rows"} if sparse else {},
        "compliance": {"mode": "EXACT", "fp_special": framework, "bound": "forward-v1", "sqrt_ulps": 3},
        "seed": int(per_case.get("seed", 0)) if str(per_case.get("seed", 0)).isdigit() else 0,
        "repro": f'python -c "from proxadagrad_ref.vectors.recorded import repro_recorded; '
        f"repro_recorded('cases/{case_id}.json')\"",
        "source": {"kind": "recorded", "framework": framework, "provenance": prov},
        "tags": ["recorded"],
    }
    inputs = {"var": var, "accum": arrays["accum"], "grad": arrays["grad"]}
    if sparse:
        if arrays["indices"].dtype not in (np.int32, np.int64):
            raise FormatError(f"{label}: field indices must be int32 or int64, got {arrays['indices'].dtype}")
        inputs["indices"] = arrays["indices"]
    case = Case(meta, {f"inputs.{k}": v for k, v in inputs.items()})
    case.arrays["expected.var_out"] = arrays["var_out"]
    case.arrays["expected.accum_out"] = arrays["accum_out"]
    return case


def import_npz_folder(src: Path | str, dst: Path | str, framework: str) -> dict[str, Any]:
    """Convert a recording folder into a suite at `dst` (written atomically); return a summary."""
    if framework not in DUPLICATES:
        raise ValueError(f"framework must be 'tensorflow' or 'mindspore', got {framework!r}")
    src = Path(src)
    prov_path = src / "provenance.json"
    try:
        provenance = json.loads(prov_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError(f"{prov_path}: provenance.json is required") from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"{prov_path}: not valid JSON ({exc})") from None
    files = sorted(src.glob("*.npz"))
    if not files:
        raise FormatError(f"{src}: no .npz files")
    entries = []
    with atomic_folder(Path(dst)) as tmp:
        (tmp / "cases").mkdir()
        for path in files:
            case = _case_from_npz(path, framework, provenance)
            name, data = write_case(tmp / "cases", case)
            entries.append({"id": case.id, "file": f"cases/{name}", "sha256": sha256(data)})
        write_manifest(tmp, f"recorded-{framework}", entries)
    return {"cases": len(entries), "out": str(dst), "framework": framework}


def repro_recorded(path: str) -> None:
    """Run the engine's profile on one recorded case file and print the outputs next to the recorded ones."""
    from .candidates import call_case, engine_candidate

    case = read_case(Path(path))
    engine = engine_candidate()
    func = engine.sparse if case.meta["op"] == "sparse" else engine.dense
    assert func is not None
    out = call_case(func, case)
    for name, exp in case.group("expected").items():
        print(f"{name}: recorded {exp!r}\n{' ' * len(name)}  engine   {out[name]!r}")
