"""Bad vector files: every refusal names the file and the field, and nothing of an absurd size is allocated.

The vector files' whole catalogue (``tests/reliability/test_catalogue.py`` counts it): edited cases,
corrupted or truncated payloads, paths and symlinks that escape their folder, bad manifest, case and
results fields, unparsable manifests, absurd declared shapes, and framework recordings that cannot be
imported or read.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import SMALL_PEAK, case_meta, load_script_module, peak_allocation, write_npz_recording

from proxadagrad_ref.vectors import FormatError, read_suite
from proxadagrad_ref.vectors.format import (
    Case,
    canonical_json,
    read_case,
    read_results,
    write_case,
    write_results,
)
from proxadagrad_ref.vectors.recorded import (
    import_npz_folder,
    read_provenance,
    read_records,
    read_rsqrt_probe,
)


def copy_suite(suite: Path, tmp_path: Path) -> Path:
    """A copy of `suite` under `tmp_path` that a test may edit."""
    dst = tmp_path / "s"
    shutil.copytree(suite, dst)
    return dst


# --- cases and payloads ---------------------------------------------------------------------------------


def test_edited_case_refused_by_name(smoke: Path, tmp_path: Path) -> None:
    s = copy_suite(smoke, tmp_path)
    case = sorted((s / "cases").glob("*.json"))[0]
    case.write_bytes(case.read_bytes().replace(b'"seed":', b'"seed":1'))
    with pytest.raises(FormatError, match=case.name + ".*manifest"):
        list(read_suite(s))


def test_corrupted_payload_refused_by_name(smoke: Path, tmp_path: Path) -> None:
    s = copy_suite(smoke, tmp_path)
    blob = sorted((s / "cases").glob("*.bin"))[0]
    data = bytearray(blob.read_bytes())
    data[5] ^= 1
    blob.write_bytes(bytes(data))
    with pytest.raises(FormatError, match=blob.name + ".*SHA-256"):
        list(read_suite(s))


def test_truncated_payload_refused(smoke: Path, tmp_path: Path) -> None:
    s = copy_suite(smoke, tmp_path)
    blob = sorted((s / "cases").glob("*.bin"))[0]
    blob.write_bytes(blob.read_bytes()[:-8])
    with pytest.raises(FormatError, match=blob.name + ".*truncated"):
        list(read_suite(s))


ESCAPING_NAMES = [
    "../outside.json",
    "/etc/passwd",
    "cases/../../x.json",
    "C:\\x.json",
    "cases/..",
    "./../x.json",
    "cases\\..\\..\\x.json",
    "//host/share/x.json",
    "cases/x\x00.json",
]


@pytest.mark.parametrize("name", ESCAPING_NAMES)
def test_manifest_path_escaping_folder_refused(smoke: Path, tmp_path: Path, name: str) -> None:
    s = copy_suite(smoke, tmp_path)
    manifest = json.loads((s / "manifest.json").read_text())
    manifest["cases"][0]["file"] = name
    (s / "manifest.json").write_bytes(canonical_json(manifest))
    with pytest.raises(FormatError, match=r"manifest\.json: field cases\[0\]\.file.*escapes"):
        list(read_suite(s))


def _tamper(tmp_path: Path, edit) -> Path:
    """A case whose JSON is edited (payload kept), read directly (no manifest)."""
    write_case(tmp_path, Case(case_meta(), {"inputs.var": np.arange(4, dtype=np.float32)}))
    path = tmp_path / "x.json"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_bytes(canonical_json(meta))
    return path


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda m: m["inputs"]["var"].update(dtype="float128"), r"inputs\.var\.dtype"),
        (lambda m: m["inputs"]["var"].update(shape=[5]), r"inputs\.var\.nbytes"),
        (
            lambda m: m["inputs"]["var"].update(shape=[1 << 20, 1 << 20], nbytes=4),
            r"inputs\.var\.shape.*elements",
        ),
        (lambda m: m["inputs"]["var"].update(offset=8), r"inputs\.var\.offset"),
        (lambda m: m["payload"].update(file="../x.bin"), r"payload\.file.*escapes"),
        (lambda m: m.update(op="eval"), r"field op"),
        (lambda m: m.update(format_version=2), r"format_version"),
    ],
)
def test_bad_fields_refused_naming_file_and_field(tmp_path: Path, edit, match: str) -> None:
    path = _tamper(tmp_path, edit)
    with pytest.raises(FormatError, match="x.json.*" + match):
        read_case(path)


# --- paths that escape their folder ----------------------------------------------------------------


def test_case_file_symlinked_outside_the_folder_is_refused(smoke: Path, tmp_path: Path) -> None:
    s = copy_suite(smoke, tmp_path)
    outside = tmp_path / "outside.json"
    first = sorted((s / "cases").glob("*.json"))[0]
    shutil.copy(first, outside)
    first.unlink()
    first.symlink_to(outside)
    with pytest.raises(FormatError, match=r"cases\[\d+\]\.file.*escapes"):
        list(read_suite(s))


def test_payload_symlinked_outside_the_folder_is_refused(smoke: Path, tmp_path: Path) -> None:
    s = copy_suite(smoke, tmp_path)
    blob = sorted((s / "cases").glob("*.bin"))[0]
    outside = tmp_path / "outside.bin"
    shutil.copy(blob, outside)
    blob.unlink()
    blob.symlink_to(outside)
    with pytest.raises(FormatError, match=r"payload\.file.*escapes"):
        list(read_suite(s))


# --- manifest and results refusals naming file and field ---------------------------------------------


def _edit_manifest(s: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    manifest = json.loads((s / "manifest.json").read_text())
    edit(manifest)
    (s / "manifest.json").write_bytes(canonical_json(manifest))


MANIFEST_EDITS = [
    pytest.param(lambda m: m["cases"][0].update(sha256="0" * 64), r"SHA-256.*manifest", id="case-sha"),
    pytest.param(lambda m: m["cases"][0].update(sha256="xyz"), r"cases\.0\.sha256", id="sha-not-hex"),
    pytest.param(lambda m: m["cases"][1].update(id=m["cases"][0]["id"]), r"cases\[1\]\.id", id="dup-id"),
    pytest.param(lambda m: m["cases"][0].update(file="cases/absent.json"), "not found", id="missing-file"),
    pytest.param(lambda m: m["cases"][0].update(id="other-id"), "field 'id'", id="id-mismatch"),
    pytest.param(lambda m: m.update(format_version=2), "format_version", id="format-version"),
    pytest.param(lambda m: m.update(cases={}), r"field cases", id="cases-not-list"),
    pytest.param(lambda m: m.update(extra=1), r"manifest\.json", id="unknown-field"),
    pytest.param(lambda m: m["cases"][0].pop("sha256"), r"sha256", id="no-sha"),
]


@pytest.mark.parametrize(("edit", "match"), MANIFEST_EDITS)
def test_bad_manifest_refused_naming_file_and_field(smoke: Path, tmp_path: Path, edit, match: str) -> None:
    s = copy_suite(smoke, tmp_path)
    _edit_manifest(s, edit)
    with pytest.raises(FormatError, match=match) as info:
        list(read_suite(s))
    assert ".json" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        pytest.param(b"", "not valid UTF-8 JSON", id="empty"),
        pytest.param(b'{"format": NaN}', "NaN", id="nan-constant"),
        pytest.param(b"[1, 2]", "top level", id="array"),
        pytest.param(b"\xff\xfe", "not valid UTF-8", id="not-utf8"),
        pytest.param(b'{"format": "proxadagrad-vectors"', "not valid UTF-8 JSON", id="truncated"),
    ],
)
def test_unparsable_manifest_refused(smoke: Path, tmp_path: Path, raw: bytes, match: str) -> None:
    s = copy_suite(smoke, tmp_path)
    (s / "manifest.json").write_bytes(raw)
    with pytest.raises(FormatError, match="manifest.json.*" + match):
        list(read_suite(s))


def _results(tmp_path: Path) -> Path:
    write_results(tmp_path, "c1", {"var_out": np.arange(4, dtype=np.float32)})
    return tmp_path


RESULT_EDITS = [
    pytest.param("bin", lambda b: b[:-4], "truncated", id="truncated"),
    pytest.param("bin", lambda b: bytes([b[0] ^ 1]) + b[1:], r"SHA-256.*payload\.sha256", id="checksum"),
    pytest.param(
        "json", lambda m: m["outputs"]["var_out"].update(dtype="float80"), r"var_out\.dtype", id="dtype-tag"
    ),
    pytest.param(
        "json",
        lambda m: m["outputs"]["var_out"].update(dtype="float64"),
        r"var_out\.nbytes",
        id="dtype-wider",
    ),
    pytest.param(
        "json", lambda m: m["outputs"]["var_out"].update(shape=[2, 3]), r"var_out\.nbytes", id="shape"
    ),
    pytest.param(
        "json", lambda m: m["outputs"]["var_out"].update(shape=[-4]), r"var_out", id="shape-negative"
    ),
    pytest.param("json", lambda m: m["outputs"]["var_out"].update(shape=[4.0]), r"var_out", id="shape-float"),
    pytest.param(
        "json", lambda m: m["outputs"]["var_out"].update(offset=-8), r"var_out", id="offset-negative"
    ),
    pytest.param(
        "json", lambda m: m["outputs"]["var_out"].update(offset=4), r"var_out\.offset", id="misaligned"
    ),
    pytest.param("json", lambda m: m.update(id="c2"), r"field 'id'", id="id"),
    pytest.param(
        "json",
        lambda m: m["payload"].update(file="/etc/hostname"),
        r"payload\.file.*escapes",
        id="payload-absolute",
    ),
]


@pytest.mark.parametrize(("which", "edit", "match"), RESULT_EDITS)
def test_bad_results_file_refused_naming_file_and_field(tmp_path: Path, which: str, edit, match: str) -> None:
    folder = _results(tmp_path)
    if which == "bin":
        path = folder / "c1.bin"
        path.write_bytes(edit(path.read_bytes()))
    else:
        path = folder / "c1.json"
        meta = json.loads(path.read_text())
        edit(meta)
        path.write_bytes(canonical_json(meta))
    with pytest.raises(FormatError, match=match) as info:
        read_results(folder, "c1")
    assert "c1." in str(info.value)


# --- absurd declared shapes: refused before allocating ---------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [[1 << 40], [1 << 20, 1 << 20, 1 << 20], [1 << 26], [0, 1 << 62, 1 << 62]],
    ids=["2^40", "2^60-3d", "at-limit", "zero-times-huge"],
)
def test_absurd_case_shape_refused_before_allocating(tmp_path: Path, shape: list[int]) -> None:
    write_case(tmp_path, Case(case_meta(), {"inputs.var": np.arange(4, dtype=np.float32)}))
    path = tmp_path / "x.json"
    meta = json.loads(path.read_text())
    count = 1
    for d in shape:
        count *= d
    meta["inputs"]["var"].update(shape=shape, nbytes=count * 4)
    path.write_bytes(canonical_json(meta))
    with pytest.raises(FormatError, match=r"x\.json: field inputs\.var"):
        read_case(path)
    assert peak_allocation(lambda: read_case(path), refused=(ValueError, TypeError)) < SMALL_PEAK


# --- framework recordings -------------------------------------------------------------------------


def test_import_refuses_bad_recordings(tmp_path: Path) -> None:
    write_npz_recording(tmp_path / "rec")
    np.savez(tmp_path / "rec" / "broken.npz", var=np.ones(2, np.float32))
    with pytest.raises(FormatError, match=r"broken\.npz: missing array 'accum'"):
        import_npz_folder(tmp_path / "rec", tmp_path / "out", "tensorflow")
    assert not (tmp_path / "out").exists()
    (tmp_path / "rec" / "broken.npz").unlink()
    (tmp_path / "rec" / "provenance.json").unlink()
    with pytest.raises(FormatError, match=r"provenance\.json"):
        import_npz_folder(tmp_path / "rec", tmp_path / "out", "tensorflow")


def _record_folder(folder: Path) -> Path:
    """A record folder of two records, as ``scripts/recording.py`` writes it."""
    recording = load_script_module("recording")
    folder.mkdir()
    arrays = {"a": np.arange(3, dtype=np.float32), "b": np.ones((2, 2), np.int64)}
    entries = [recording.write_record(folder, name, {"kind": "optimizer"}, arrays) for name in ("r0", "r1")]
    recording.write_records_manifest(folder, entries)
    return folder


def _edit_json(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    obj = json.loads(path.read_text())
    edit(obj)
    path.write_bytes(canonical_json(obj))


def _manifest(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    return lambda folder: _edit_json(folder / "manifest.json", edit)


def _record(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    """Edit record r0's JSON and keep the manifest's checksum of it right (only the edit is wrong)."""

    def apply(folder: Path) -> None:
        _edit_json(folder / "r0.json", edit)
        sha = hashlib.sha256((folder / "r0.json").read_bytes()).hexdigest()
        _edit_json(folder / "manifest.json", lambda m: m["records"][0].update(sha256=sha))

    return apply


def _file(name: str, change: Callable[[bytes], bytes] | None) -> Callable[[Path], None]:
    """Replace file `name` by `change` of its bytes (None: delete it)."""

    def apply(folder: Path) -> None:
        path = folder / name
        if change is None:
            path.unlink()
        else:
            path.write_bytes(change(path.read_bytes()))

    return apply


RECORD_EDITS = [
    pytest.param(_manifest(lambda m: m.update(format="other")), r"manifest\.json.*format", id="format"),
    pytest.param(_manifest(lambda m: m.update(format_version=2)), r"manifest\.json.*version", id="version"),
    pytest.param(_manifest(lambda m: m.update(records={})), r"manifest\.json: field records", id="not-list"),
    pytest.param(_file("manifest.json", lambda b: b[:1]), r"manifest\.json: not valid", id="manifest-json"),
    pytest.param(_file("manifest.json", None), r"manifest\.json: file not found", id="no-manifest"),
    pytest.param(
        _manifest(lambda m: m["records"][0].update(file="../r0.json")),
        r"records\[0\]\.file.*not a file name",
        id="record-escapes",
    ),
    pytest.param(_file("r1.json", lambda b: b + b" "), r"r1\.json: SHA-256 .*records\[1\]\.sha256", id="sha"),
    pytest.param(_file("r0.json", None), r"r0\.json: file not found", id="record-missing"),
    pytest.param(_record(lambda m: m.update(name="r1")), r"r0\.json: field name", id="name-mismatch"),
    pytest.param(_file("r0.bin", lambda b: bytes([b[0] ^ 1]) + b[1:]), r"r0\.bin: .*SHA-256", id="bin-sha"),
    pytest.param(_file("r0.bin", lambda b: b[:-8]), r"r0\.bin: size", id="payload-truncated"),
    pytest.param(
        _record(lambda m: m["payload"].update(file="/etc/hostname")),
        r"payload\.file.*not a file name",
        id="payload-absolute",
    ),
    pytest.param(_record(lambda m: m["arrays"]["a"].update(dtype="f80")), r"arrays\.a\.dtype", id="dtype"),
    pytest.param(_record(lambda m: m["arrays"]["a"].update(offset=4)), r"arrays\.a\.offset", id="misaligned"),
    pytest.param(_record(lambda m: m["arrays"]["b"].update(shape=[2, 3])), r"arrays\.b\.nbytes", id="shape"),
    pytest.param(_record(lambda m: m["arrays"]["b"].update(shape=[-4])), r"arrays\.b\.shape", id="negative"),
    pytest.param(_record(lambda m: m["arrays"]["a"].update(offset=1024)), r"arrays\.a\.nbytes", id="beyond"),
]


@pytest.mark.parametrize(("corrupt", "match"), RECORD_EDITS)
def test_bad_record_folder_refused_naming_file_and_field(tmp_path: Path, corrupt, match: str) -> None:
    folder = _record_folder(tmp_path / "records")
    assert list(read_records(folder)) == ["r0", "r1"]
    corrupt(folder)
    with pytest.raises(FormatError, match=match):
        read_records(folder)


def test_recording_without_provenance_or_probe_refused(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"provenance\.json: file not found"):
        read_provenance(tmp_path)
    (tmp_path / "provenance.json").write_text("[1]")
    with pytest.raises(FormatError, match=r"provenance\.json: top level"):
        read_provenance(tmp_path)
    with pytest.raises(FormatError, match=r"rsqrt_probe\.npz"):
        read_rsqrt_probe(tmp_path)
    np.savez(tmp_path / "rsqrt_probe.npz", x=np.array([object()], dtype=object), y=np.ones(1, np.float32))
    with pytest.raises(FormatError, match=r"rsqrt_probe\.npz: not a readable probe without pickles"):
        read_rsqrt_probe(tmp_path)
