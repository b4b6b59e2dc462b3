"""What the recording scripts share: canonical JSON, the CPU and host, and writing a recording folder.

``scripts/record_mindspore.py`` and ``scripts/record_tensorflow.py`` import it
(a script's own folder is on ``sys.path``). It needs only NumPy and the
standard library: the recording step runs in the framework's environment,
where this project need not be installed. Reading what it writes is the job of
:mod:`proxadagrad_ref.vectors.recorded` (``read_records``, ``read_provenance``,
``import_npz_folder``), which the import step and the tests use.

A recording folder, as both scripts write it::

    kernels/<case>.npz          one kernel call: var, accum, grad, [indices], 0-d lr, l1, l2,
                                and the framework's var_out, accum_out (plain numeric arrays)
    kernels/provenance.json     the provenance, with "cases": {case: description}
    provenance.json             framework and NumPy versions, Python, platform, CPU, date, ...
    cases.json                  an index of every case written
    <section>/manifest.json     (MindSpore) a record folder: see write_record
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

RECORDS_FORMAT = "proxadagrad-recorded-records"  # proxadagrad_ref.vectors.recorded.RECORDS_FORMAT reads it
RECORDS_VERSION = 1
RECORD_DTYPES = {"float16": "<f2", "float32": "<f4", "float64": "<f8", "int32": "<i4", "int64": "<i8"}


def canonical_json(obj: Any) -> bytes:
    """Encode `obj` as canonical JSON.

    Parameters
    ----------
    obj : JSON-serialisable object
        No NaN or infinite floats.

    Returns
    -------
    bytes
        UTF-8 JSON with sorted keys, no spaces, no NaN literals and a trailing newline.
    """
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def cpu_info() -> dict[str, str]:
    """Read the identification of the first CPU from ``/proc/cpuinfo``.

    Returns
    -------
    dict of str
        ``vendor_id``, ``cpu_family``, ``model``, ``model_name``, ``stepping``,
        ``microcode`` and ``flags`` (empty strings when a field or the file is
        unavailable).
    """
    keys = {
        "vendor_id": "vendor_id",
        "cpu family": "cpu_family",
        "model": "model",
        "model name": "model_name",
        "stepping": "stepping",
        "microcode": "microcode",
        "flags": "flags",
    }
    info = dict.fromkeys(keys.values(), "")
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    break  # the end of the first CPU's block
                name, _, value = line.partition(":")
                name = name.strip()
                if name in keys:
                    info[keys[name]] = value.strip()
    except OSError:
        pass
    return info


def host_description() -> dict[str, Any]:
    """Describe the machine and the software that record, for ``provenance.json``.

    Returns
    -------
    dict
        ``numpy_version``, ``python_version``, ``platform``, ``cpu`` (see
        :func:`cpu_info`), ``cpu_count`` and ``date_utc`` (ISO 8601, seconds).
    """
    return {
        "numpy_version": np.__version__,
        "python_version": sys.version,
        "platform": platform.platform(),
        "cpu": cpu_info(),
        "cpu_count": os.cpu_count(),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def save_kernel_case(folder: Path, name: str, arrays: Mapping[str, Any]) -> Path:
    """Save one kernel call as ``<folder>/<name>.npz`` (plain numeric arrays: no pickles needed to read).

    Parameters
    ----------
    folder : pathlib.Path
        The recording's ``kernels/`` folder.
    name : str
        Case name, the file stem.
    arrays : mapping of str to array_like
        ``var``, ``accum``, ``grad``, [``indices``], ``lr``, ``l1``, ``l2``,
        ``var_out``, ``accum_out``.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    TypeError
        When an array holds Python objects.
    """
    clean: dict[str, Any] = {key: np.asarray(value) for key, value in arrays.items()}
    for key, value in clean.items():
        if value.dtype == object:
            raise TypeError(f"object array {key!r} in case {name!r}")
    path = folder / f"{name}.npz"
    np.savez(path, **clean)
    return path


def write_record(
    folder: Path, name: str, config: Mapping[str, Any], arrays: Mapping[str, Any]
) -> dict[str, str]:
    """Write one record: ``<name>.json`` (`config` and where each array lies) and ``<name>.bin``.

    The payload holds the arrays raw little-endian, each at an 8-byte aligned
    offset; the JSON names the payload's size and SHA-256.

    Parameters
    ----------
    folder : pathlib.Path
        Record folder.
    name : str
        Record name (file stem).
    config : mapping
        JSON-serialisable configuration (no NaN or infinite floats).
    arrays : mapping of str to array_like
        Arrays of a dtype of :data:`RECORD_DTYPES`.

    Returns
    -------
    dict of str
        The manifest entry ``{"name", "file", "sha256"}``.

    Raises
    ------
    TypeError
        When an array has another dtype.
    """
    chunks: list[bytes] = []
    refs: dict[str, dict[str, Any]] = {}
    offset = 0
    for key in sorted(arrays):
        arr = np.asarray(arrays[key])
        if arr.dtype.name not in RECORD_DTYPES:
            raise TypeError(f"array {key!r} of record {name!r} has dtype {arr.dtype}")
        data = np.ascontiguousarray(arr, dtype=RECORD_DTYPES[arr.dtype.name]).tobytes()
        refs[key] = {"dtype": arr.dtype.name, "shape": list(arr.shape), "offset": offset, "nbytes": len(data)}
        data += b"\0" * ((-len(data)) % 8)
        chunks.append(data)
        offset += len(data)
    blob = b"".join(chunks)
    meta = {
        **config,
        "name": name,
        "arrays": refs,
        "payload": {"file": f"{name}.bin", "nbytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()},
    }
    text = canonical_json(meta)
    (folder / f"{name}.bin").write_bytes(blob)
    (folder / f"{name}.json").write_bytes(text)
    return {"name": name, "file": f"{name}.json", "sha256": hashlib.sha256(text).hexdigest()}


def write_records_manifest(folder: Path, entries: list[dict[str, str]]) -> None:
    """Write a record folder's ``manifest.json``.

    Parameters
    ----------
    folder : pathlib.Path
        Record folder.
    entries : list of dict
        The entries :func:`write_record` returned, in order.
    """
    manifest = {"format": RECORDS_FORMAT, "format_version": RECORDS_VERSION, "records": entries}
    (folder / "manifest.json").write_bytes(canonical_json(manifest))


def write_index(
    out: Path, provenance: Mapping[str, Any], cases: list[dict[str, Any]], kernel_cases: Mapping[str, Any]
) -> None:
    """Write a recording folder's ``provenance.json``, ``cases.json`` and ``kernels/provenance.json``.

    Parameters
    ----------
    out : pathlib.Path
        The recording folder (``kernels/`` exists).
    provenance : mapping
        Versions, host, date, seed, ops called, ...
    cases : list of dict
        One entry per case written (``cases.json``).
    kernel_cases : mapping
        Kernel case name (file stem) -> its description, stored as the
        ``"cases"`` of ``kernels/provenance.json`` (what ``import_npz_folder``
        copies into each case's provenance).
    """
    for path, obj in (
        (out / "provenance.json", dict(provenance)),
        (out / "cases.json", cases),
        (out / "kernels" / "provenance.json", {**provenance, "cases": dict(kernel_cases)}),
    ):
        path.write_text(json.dumps(obj, indent=1), encoding="utf-8")
