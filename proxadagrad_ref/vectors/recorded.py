"""Outputs recorded from TensorFlow / MindSpore: importing them into the vector format, and reading them.

Importing (:func:`import_npz_folder`): a raw recording folder holds one ``.npz``
per case (arrays ``var``, ``accum``, ``grad``, optional ``indices``, 0-d ``lr``,
``l1``, ``l2``, and the framework's ``var_out``, ``accum_out``) and a
``provenance.json`` (framework version, device, build flags, date, ...;
optionally ``"cases": {stem: {...}}`` per file). Each becomes a case whose
``source`` is ``{"kind": "recorded", "framework", "provenance"}``, with
profile = the framework and compliance ``EXACT``.

Reading a committed recording folder (``conformance_vectors/recorded/<framework>``):

* :func:`read_recorded_kernels` -- the recorded kernel calls, as vector cases
  (the suite in ``kernels/``, MindSpore's layout, or the folder itself,
  TensorFlow's);
* :func:`read_provenance` -- ``provenance.json``: versions, CPU, date, ...;
* :func:`read_records` -- a *record folder* (MindSpore's ``trajectories/`` and
  ``behaviour/``): ``manifest.json`` (``{"format":
  "proxadagrad-recorded-records", "format_version": 1, "records": [{"name",
  "file", "sha256"}]}``) and per record ``<name>.json`` (the configuration,
  ``"arrays": {key: {"dtype", "shape", "offset", "nbytes"}}`` and
  ``"payload": {"file", "nbytes", "sha256"}``) plus ``<name>.bin`` (the arrays,
  raw little-endian, each at an 8-byte aligned offset);
* :func:`read_rsqrt_probe` -- TensorFlow's ``rsqrt_probe.npz`` (``x``, ``y``).

Nothing is unpickled or evaluated; every checksum is checked.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .format import (
    DTYPES,
    SEMANTICS_VERSION,
    Case,
    FormatError,
    atomic_folder,
    read_case,
    read_suite,
    sha256,
    write_case,
    write_manifest,
)

__all__ = [
    "DUPLICATES",
    "RECORDS_FORMAT",
    "Record",
    "import_npz_folder",
    "read_provenance",
    "read_recorded_kernels",
    "read_records",
    "read_rsqrt_probe",
    "repro_recorded",
]

DUPLICATES = {"tensorflow": "sequential", "mindspore": "sum"}  # what each framework's sparse op does
RECORDS_FORMAT = "proxadagrad-recorded-records"  # the format of a record folder's manifest.json
RECORDS_VERSION = 1
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


# --- reading committed recordings ------------------------------------------------------------------


class Record(NamedTuple):
    """One record of a record folder: a recorded optimizer run, schedule or behaviour note.

    Attributes
    ----------
    meta : dict
        The record's JSON: its ``name``, ``kind`` and configuration as the
        recording script wrote them, and where its arrays lie (``arrays``,
        ``payload``).
    arrays : dict of numpy.ndarray
        The arrays by key, in native byte order.

    """

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def name(self) -> str:
        """The record's name (its file stem)."""
        return str(self.meta["name"])


def _json_object(raw: bytes, label: str) -> dict[str, Any]:
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{label}: not valid UTF-8 JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise FormatError(f"{label}: top level must be a JSON object")
    return obj


def _file_in(folder: Path, name: object, label: str) -> Path:
    """`folder`/`name` for a plain file name (no folders, no ``..``)."""
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name or "\\" in name:
        raise FormatError(f"{label}: {name!r} is not a file name in its folder")
    return folder / name


def _read_bytes(path: Path, label: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"{label}: file not found") from None


def _record_arrays(meta: dict[str, Any], blob: bytes, label: str) -> dict[str, np.ndarray]:
    arrays = {}
    refs = meta.get("arrays")
    if not isinstance(refs, dict):
        raise FormatError(f"{label}: field arrays must be an object")
    for key, ref in refs.items():
        where = f"{label}: field arrays.{key}"
        if not isinstance(ref, dict) or ref.get("dtype") not in DTYPES:
            raise FormatError(f"{where}.dtype must be one of {', '.join(DTYPES)}")
        shape, offset, nbytes = ref.get("shape"), ref.get("offset"), ref.get("nbytes")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise FormatError(f"{where}.shape must be a list of non-negative integers")
        dt = np.dtype(DTYPES[ref["dtype"]])
        count = math.prod(shape)
        if not isinstance(offset, int) or offset < 0 or offset % 8:
            raise FormatError(f"{where}.offset must be a non-negative multiple of 8")
        if nbytes != count * dt.itemsize or offset + count * dt.itemsize > len(blob):
            raise FormatError(f"{where}.nbytes does not match its shape and dtype within the payload")
        raw = np.frombuffer(blob, dt, count=count, offset=offset)
        arrays[key] = raw.astype(dt.newbyteorder("=")).reshape(shape)
    return arrays


def read_records(folder: Path | str) -> dict[str, Record]:
    """Read a record folder: every record by name, each file's SHA-256 checked against its reference.

    Parameters
    ----------
    folder : path-like
        A record folder (``manifest.json``, ``<name>.json``, ``<name>.bin``),
        e.g. ``conformance_vectors/recorded/mindspore/trajectories``.

    Returns
    -------
    dict of str to Record
        The records in manifest order, keyed by name.

    Raises
    ------
    FormatError
        When the manifest is not a record manifest of this format version, a
        file is missing, lies outside the folder or differs from its checksum,
        or an array reference does not fit its payload. The message names the
        file and the field.

    """
    folder = Path(folder)
    label = f"{folder.name}/manifest.json"
    manifest = _json_object(_read_bytes(folder / "manifest.json", label), label)
    if (manifest.get("format"), manifest.get("format_version")) != (RECORDS_FORMAT, RECORDS_VERSION):
        raise FormatError(f"{label}: not a {RECORDS_FORMAT!r} manifest of format_version {RECORDS_VERSION}")
    entries = manifest.get("records")
    if not isinstance(entries, list):
        raise FormatError(f"{label}: field records must be a list")
    out: dict[str, Record] = {}
    for i, entry in enumerate(entries):
        where = f"{label}: field records[{i}]"
        if not isinstance(entry, dict):
            raise FormatError(f"{where} must be an object")
        path = _file_in(folder, entry.get("file"), f"{where}.file")
        text = _read_bytes(path, path.name)
        if sha256(text) != entry.get("sha256"):
            raise FormatError(f"{path.name}: SHA-256 differs from {where}.sha256")
        meta = _json_object(text, path.name)
        if meta.get("name") != entry.get("name") or entry.get("name") in out:
            raise FormatError(f"{path.name}: field name {meta.get('name')!r} differs from {where}.name")
        payload = meta.get("payload")
        if not isinstance(payload, dict):
            raise FormatError(f"{path.name}: field payload must be an object")
        blob_path = _file_in(folder, payload.get("file"), f"{path.name}: field payload.file")
        blob = _read_bytes(blob_path, blob_path.name)
        if len(blob) != payload.get("nbytes") or sha256(blob) != payload.get("sha256"):
            raise FormatError(f"{blob_path.name}: size or SHA-256 differs from {path.name}'s field payload")
        out[meta["name"]] = Record(meta, _record_arrays(meta, blob, path.name))
    return out


def read_provenance(folder: Path | str) -> dict[str, Any]:
    """Read a recording folder's ``provenance.json``.

    Parameters
    ----------
    folder : path-like
        A recording folder, e.g. ``conformance_vectors/recorded/tensorflow``.

    Returns
    -------
    dict
        What the recording script wrote: framework version, CPU
        (``cpu.model_name``, ``cpu.flags``, ...), date, seed, ops called, ...

    Raises
    ------
    FormatError
        When the file is missing or not a JSON object.

    """
    path = Path(folder) / "provenance.json"
    return _json_object(_read_bytes(path, str(path)), str(path))


def read_recorded_kernels(folder: Path | str) -> list[Case]:
    """Read the recorded kernel calls of a recording folder as vector cases (checksums checked).

    Parameters
    ----------
    folder : path-like
        A recording folder: its suite lies in ``kernels/`` (MindSpore's layout,
        beside ``trajectories/`` and ``behaviour/``) or in the folder itself
        (TensorFlow's).

    Returns
    -------
    list of Case
        The cases in manifest order (profile = the framework, compliance ``EXACT``).

    Raises
    ------
    FormatError
        As :func:`proxadagrad_ref.vectors.read_suite`.

    """
    folder = Path(folder)
    suite = folder / "kernels" if (folder / "kernels" / "manifest.json").is_file() else folder
    return list(read_suite(suite))


def read_rsqrt_probe(folder: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """Read TensorFlow's recorded ``tf.math.rsqrt`` probe (``rsqrt_probe.npz``, without pickles).

    Parameters
    ----------
    folder : path-like
        The TensorFlow recording folder.

    Returns
    -------
    x, y : numpy.ndarray
        8192 float32 inputs, one per ``vrsqrtps`` table entry, and
        ``tf.math.rsqrt(x)`` as recorded.

    Raises
    ------
    FormatError
        When the file is missing, holds objects, or lacks ``x`` or ``y``.

    """
    path = Path(folder) / "rsqrt_probe.npz"
    try:
        with np.load(path, allow_pickle=False) as probe:
            return np.asarray(probe["x"]), np.asarray(probe["y"])
    except (OSError, ValueError, KeyError) as exc:
        raise FormatError(f"{path.name}: not a readable probe without pickles ({exc})") from None
