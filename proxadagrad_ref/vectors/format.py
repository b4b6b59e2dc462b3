"""The conformance-vector file format, version 1: canonical JSON metadata plus raw little-endian blobs.

A suite is a folder::

    manifest.json          suite name, format version, one entry per case (file + SHA-256)
    cases/<id>.json        one case: metadata, hyper-parameters, array references
    cases/<id>.bin         the case's payload: its arrays, raw little-endian, 8-byte aligned

Every JSON file is canonical (UTF-8, sorted keys, ``separators=(",", ":")``, one
trailing newline) so two generations give identical bytes. Files are data only:
no pickle, no code; every reference is checked (path inside the folder, dtype
tag, shape, offset and length inside the payload, SHA-256) before an array is
built, and every refusal names the file and the field. The full specification
is ``docs/conformance.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_ELEMENTS",
    "RESULTS_FORMAT_NAME",
    "SEMANTICS_VERSION",
    "Case",
    "FormatError",
    "atomic_folder",
    "canonical_json",
    "in_place_folder",
    "load_schema",
    "read_case",
    "read_manifest",
    "read_results",
    "read_suite",
    "write_case",
    "write_manifest",
    "write_results",
]

FORMAT_NAME = "proxadagrad-vectors"
RESULTS_FORMAT_NAME = "proxadagrad-vectors-results"
FORMAT_VERSION = 1
SEMANTICS_VERSION = 1
MAX_ELEMENTS = 1 << 26  # an array declaring more elements than this is refused before allocating
ALIGN = 8

DTYPES: dict[str, str] = {  # tag -> little-endian NumPy dtype string
    "float16": "<f2",
    "float32": "<f4",
    "float64": "<f8",
    "int32": "<i4",
    "int64": "<i8",
}
OPTIONAL_DTYPES = ("bfloat16",)  # read and written through ml_dtypes when it is installed


class FormatError(ValueError):
    """A suite, case or results file that does not conform; the message names the file and the field."""


def canonical_json(obj: Any) -> bytes:
    """UTF-8 JSON with sorted keys, no spaces and a trailing newline (byte-identical across runs)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def sha256(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def load_schema() -> dict[str, Any]:
    """The JSON Schema of case, manifest and results files (package data ``schema.json``)."""
    text = (Path(__file__).with_name("schema.json")).read_text(encoding="utf-8")
    return dict(json.loads(text))


def _numpy_dtype(tag: str, where: str) -> np.dtype[Any]:
    if tag in DTYPES:
        return np.dtype(DTYPES[tag])
    if tag == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise FormatError(f"{where}: dtype 'bfloat16' needs the ml_dtypes package") from None
        return np.dtype(ml_dtypes.bfloat16)
    raise FormatError(
        f"{where}: unknown dtype tag {tag!r} (allowed: {', '.join([*DTYPES, *OPTIONAL_DTYPES])})"
    )


def dtype_tag(dtype: Any) -> str:
    """The format's tag for a NumPy dtype."""
    dt = np.dtype(dtype)
    if dt.name == "bfloat16":
        return "bfloat16"
    for tag, code in DTYPES.items():
        if dt == np.dtype(code):
            return tag
    raise FormatError(f"dtype {dt} has no tag in the vector format")


@dataclass
class Case:
    """One conformance case in memory: its metadata and its named arrays.

    ``meta`` is the case JSON without the array references and the payload
    entry (those are rebuilt on writing); ``arrays`` maps ``"inputs.var"``,
    ``"expected.var_out"`` and so on to NumPy arrays.
    """

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The case id."""
        return str(self.meta["id"])

    def group(self, name: str) -> dict[str, np.ndarray]:
        """Arrays of one group (``"inputs"``, ``"expected"``), without the prefix."""
        prefix = name + "."
        return {k[len(prefix) :]: v for k, v in self.arrays.items() if k.startswith(prefix)}


def _pack(arrays: Mapping[str, np.ndarray]) -> tuple[bytes, dict[str, dict[str, dict[str, Any]]]]:
    """Concatenate arrays (little-endian, 8-byte aligned) and return the blob and the references."""
    chunks: list[bytes] = []
    refs: dict[str, dict[str, dict[str, Any]]] = {}
    offset = 0
    for key in sorted(arrays):
        group, name = key.split(".", 1)
        arr = np.asarray(arrays[key])
        tag = dtype_tag(arr.dtype)
        data = np.ascontiguousarray(arr, dtype=DTYPES.get(tag, arr.dtype)).tobytes()
        refs.setdefault(group, {})[name] = {
            "dtype": tag,
            "shape": list(arr.shape),
            "offset": offset,
            "nbytes": len(data),
        }
        pad = (-len(data)) % ALIGN
        chunks.append(data + b"\0" * pad)
        offset += len(data) + pad
    return b"".join(chunks), refs


def _safe_child(folder: Path, name: object, where: str) -> Path:
    """`folder`/`name`, refusing absolute paths, ``..`` and anything that resolves outside `folder`."""
    if not isinstance(name, str) or not name:
        raise FormatError(f"{where}: must be a non-empty relative path, got {name!r}")
    pure = PurePosixPath(name)
    if pure.is_absolute() or "\\" in name or any(part in ("..", "") for part in pure.parts) or ":" in name:
        raise FormatError(f"{where}: path {name!r} escapes its folder")
    path = folder.joinpath(*pure.parts)
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        raise FormatError(f"{where}: path {name!r} escapes its folder") from None
    return path


def _read_json(path: Path, label: str) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"{label}: file not found") from None
    try:
        obj = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{label}: not valid UTF-8 JSON ({exc})") from None
    except FormatError as exc:  # NaN / Infinity: name the file too
        raise FormatError(f"{label}: {exc}") from None
    if not isinstance(obj, dict):
        raise FormatError(f"{label}: top level must be a JSON object")
    return obj


def _refuse_constant(name: str) -> None:
    raise FormatError(f"JSON constant {name} is not allowed (floats are stored as hex strings or in blobs)")


def _require(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], label: str) -> Any:
    if key not in obj:
        raise FormatError(f"{label}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise FormatError(f"{label}: field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _unpack(blob: bytes, refs: Mapping[str, Any], label: str) -> dict[str, np.ndarray]:
    """Build arrays from `blob` after checking every reference."""
    arrays: dict[str, np.ndarray] = {}
    for group in ("inputs", "expected", "outputs"):
        entries = refs.get(group, {})
        if not isinstance(entries, dict):
            raise FormatError(f"{label}: field {group!r} must be an object")
        for name, ref in sorted(entries.items()):
            where = f"{label}: field {group}.{name}"
            if not isinstance(ref, dict):
                raise FormatError(f"{where} must be an object")
            tag = _require(ref, "dtype", str, where)
            shape = _require(ref, "shape", list, where)
            offset = _require(ref, "offset", int, where)
            nbytes = _require(ref, "nbytes", int, where)
            dt = _numpy_dtype(tag, f"{where}.dtype")
            if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
                raise FormatError(f"{where}.shape must be a list of non-negative integers, got {shape!r}")
            count = 1
            for d in shape:
                count *= d
                if count > MAX_ELEMENTS or d > MAX_ELEMENTS:  # a zero dimension must not hide a huge one
                    raise FormatError(f"{where}.shape {shape} declares more than {MAX_ELEMENTS} elements")
            if nbytes != count * dt.itemsize:
                raise FormatError(
                    f"{where}.nbytes is {nbytes} but shape {shape} of {tag} needs {count * dt.itemsize}"
                )
            if offset < 0 or offset % ALIGN or offset + nbytes > len(blob):
                raise FormatError(
                    f"{where}.offset {offset} (+{nbytes} bytes) lies outside the payload "
                    f"of {len(blob)} bytes or is not {ALIGN}-byte aligned (truncated file?)"
                )
            arr = np.frombuffer(blob, dtype=dt, count=count, offset=offset).reshape(shape)
            arrays[f"{group}.{name}"] = arr.astype(arr.dtype.newbyteorder("="), copy=True)
    return arrays


def write_case(folder: Path, case: Case) -> tuple[str, bytes]:
    """Write ``<id>.json`` and ``<id>.bin`` under `folder`; return the JSON file name and its bytes."""
    blob, refs = _pack(case.arrays)
    meta = dict(case.meta)
    meta.update({"inputs": {}, "expected": {}})
    meta.update(refs)
    meta["format"] = FORMAT_NAME
    meta["format_version"] = FORMAT_VERSION
    meta["payload"] = {"file": f"{case.id}.bin", "nbytes": len(blob), "sha256": sha256(blob)}
    data = canonical_json(meta)
    (folder / f"{case.id}.bin").write_bytes(blob)
    (folder / f"{case.id}.json").write_bytes(data)
    return f"{case.id}.json", data


def _load_payload(folder: Path, meta: Mapping[str, Any], label: str) -> bytes:
    payload = _require(meta, "payload", dict, label)
    path = _safe_child(folder, payload.get("file"), f"{label}: field payload.file")
    nbytes = _require(payload, "nbytes", int, f"{label}: field payload")
    digest = _require(payload, "sha256", str, f"{label}: field payload")
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"{label}: field payload.file: {path.name} not found") from None
    if len(blob) != nbytes:
        raise FormatError(
            f"{path.name}: payload has {len(blob)} bytes, {label} declares {nbytes} (truncated?)"
        )
    if sha256(blob) != digest:
        raise FormatError(
            f"{path.name}: SHA-256 does not match field payload.sha256 of {label} (corrupted or edited)"
        )
    return blob


def read_case(path: Path, *, expected_sha256: str | None = None) -> Case:
    """Read and check one case file (and its payload)."""
    label = path.name
    if expected_sha256 is not None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise FormatError(f"{label}: listed in the manifest but not found") from None
        if sha256(raw) != expected_sha256:
            raise FormatError(f"{label}: SHA-256 does not match the manifest (corrupted or edited)")
    meta = _read_json(path, label)
    if meta.get("format") != FORMAT_NAME:
        raise FormatError(f"{label}: field 'format' must be {FORMAT_NAME!r}, got {meta.get('format')!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise FormatError(
            f"{label}: field 'format_version' is {meta.get('format_version')!r}; "
            f"this reader reads {FORMAT_VERSION}"
        )
    _validate(meta, "case", label)
    blob = _load_payload(path.parent, meta, label)
    arrays = _unpack(blob, meta, label)
    for key in ("inputs", "expected", "outputs", "payload", "format", "format_version"):
        meta.pop(key, None)
    return Case(meta, arrays)


def write_manifest(folder: Path, suite: str, entries: list[dict[str, Any]]) -> None:
    """Write ``manifest.json`` listing `entries` (``id``, ``file``, ``sha256``)."""
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "semantics_version": SEMANTICS_VERSION,
        "suite": suite,
        "cases": entries,
    }
    (folder / "manifest.json").write_bytes(canonical_json(manifest))


def read_manifest(folder: Path) -> dict[str, Any]:
    """Read and check ``manifest.json`` of a suite folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FormatError(f"{folder}: not a folder")
    if not (folder / "manifest.json").is_file():
        raise FormatError(
            f"{folder}: no manifest.json in this folder (not a suite; write one with "
            f"proxadagrad-ref generate --out FOLDER)"
        )
    manifest = _read_json(folder / "manifest.json", "manifest.json")
    if manifest.get("format") != FORMAT_NAME or manifest.get("format_version") != FORMAT_VERSION:
        raise FormatError(
            f"manifest.json: fields 'format'/'format_version' must be {FORMAT_NAME!r}/{FORMAT_VERSION}"
        )
    _validate(manifest, "manifest", "manifest.json")
    seen: set[str] = set()
    for i, entry in enumerate(manifest["cases"]):
        _safe_child(folder, entry["file"], f"manifest.json: field cases[{i}].file")
        if entry["id"] in seen:
            raise FormatError(f"manifest.json: field cases[{i}].id {entry['id']!r} is listed twice")
        seen.add(entry["id"])
    return manifest


def read_suite(folder: Path | str) -> Iterator[Case]:
    """Yield the cases of a suite folder in manifest order, checking every checksum."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    for i, entry in enumerate(manifest["cases"]):
        path = _safe_child(folder, entry["file"], f"manifest.json: field cases[{i}].file")
        case = read_case(path, expected_sha256=entry["sha256"])
        if case.id != entry["id"]:
            raise FormatError(
                f"{path.name}: field 'id' is {case.id!r} but the manifest lists {entry['id']!r}"
            )
        yield case


def write_results(
    folder: Path, case_id: str, outputs: Mapping[str, np.ndarray] | None, *, error: str | None = None
) -> None:
    """Write a candidate's outputs for one case (what a non-Python harness writes too)."""
    blob, refs = _pack({f"outputs.{k}": v for k, v in (outputs or {}).items()})
    meta: dict[str, Any] = {
        "format": RESULTS_FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "id": case_id,
        "outputs": refs.get("outputs", {}),
        "payload": {"file": f"{case_id}.bin", "nbytes": len(blob), "sha256": sha256(blob)},
    }
    if error is not None:
        meta["error"] = error
    (folder / f"{case_id}.bin").write_bytes(blob)
    (folder / f"{case_id}.json").write_bytes(canonical_json(meta))


def read_results(folder: Path, case_id: str) -> tuple[dict[str, np.ndarray], str | None]:
    """Read a results file: the outputs and the error string (None when the call succeeded)."""
    path = _safe_child(Path(folder), f"{case_id}.json", f"results for case {case_id!r}")
    label = f"results/{path.name}"
    meta = _read_json(path, label)
    if meta.get("format") != RESULTS_FORMAT_NAME or meta.get("format_version") != FORMAT_VERSION:
        raise FormatError(
            f"{label}: fields 'format'/'format_version' must be {RESULTS_FORMAT_NAME!r}/{FORMAT_VERSION}"
        )
    _validate(meta, "results", label)
    if meta["id"] != case_id:
        raise FormatError(f"{label}: field 'id' is {meta['id']!r}, expected {case_id!r}")
    blob = _load_payload(path.parent, meta, label)
    arrays = _unpack(blob, meta, label)
    return {k.split(".", 1)[1]: v for k, v in arrays.items()}, meta.get("error")


_VALIDATORS: dict[str, Any] = {}


def _validate(obj: Mapping[str, Any], kind: str, label: str) -> None:
    """Check `obj` against the package schema's definition `kind` (when jsonschema is installed)."""
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - the structural checks above still run
        return
    validator = _VALIDATORS.get(kind)
    if validator is None:
        schema = load_schema()
        sub = {"$ref": f"#/$defs/{kind}", "$defs": schema["$defs"]}
        validator = _VALIDATORS[kind] = jsonschema.Draft202012Validator(sub)
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        raise FormatError(f"{label}: field {where}: {error.message}")


@contextlib.contextmanager
def in_place_folder(dest: Path, names: tuple[str, ...]) -> Iterator[Path]:
    """Yield a temporary folder inside `dest`; on success move its `names` into `dest`, replacing them.

    For a `dest` that must stay the same folder (the current working folder):
    only the entries `names` (``manifest.json``, ``cases``) are replaced, each
    by one rename, and nothing else in `dest` is touched. An interruption while
    the entries are written leaves the old ones; the replacement itself is
    ``len(names)`` renames, not one.
    """
    dest = Path(dest)
    tmp = Path(tempfile.mkdtemp(prefix=".proxadagrad-tmp-", dir=dest))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        yield tmp
        old = Path(tempfile.mkdtemp(prefix=".proxadagrad-old-", dir=dest))
        for name in names:
            if os.path.lexists(dest / name):
                os.replace(dest / name, old / name)
        for name in names:
            os.replace(tmp / name, dest / name)
        shutil.rmtree(old)
        shutil.rmtree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_folder(dest: Path, keep: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a temporary folder next to `dest`; on success replace `dest` by it, on any error remove it.

    An interrupted generation (Ctrl-C included) therefore never leaves a
    half-written suite at `dest`: either the old folder or the new one.
    Entries of the old `dest` named in `keep` (e.g. ``recorded``, the framework
    recordings that live beside a generated suite) move into the new folder.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private (0700); a suite is an ordinary folder
    try:
        yield tmp
        for name in keep:
            if (dest / name).exists() and not (tmp / name).exists():
                os.replace(dest / name, tmp / name)
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
