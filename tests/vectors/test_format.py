"""The vector file format: bit-exact round trips, schema, and refusal of bad files by name."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from helpers import case_meta, copy_suite

from proxadagrad_ref.vectors import FormatError, read_suite
from proxadagrad_ref.vectors.format import (
    Case,
    atomic_folder,
    canonical_json,
    load_schema,
    read_case,
    read_results,
    write_case,
    write_results,
)


@pytest.mark.parametrize("dtype,utype", [("<f2", "<u2"), ("<f4", "<u4"), ("<f8", "<u8")])
def test_every_bit_pattern_round_trips(tmp_path: Path, dtype: str, utype: str) -> None:
    rng = np.random.Generator(np.random.PCG64(7))
    info = np.iinfo(utype)
    bits = rng.integers(0, info.max, 4096, dtype=utype, endpoint=True)
    special = np.array([0, 1 << (8 * np.dtype(utype).itemsize - 1)], utype)  # +0, -0
    bits = np.concatenate([bits, special])
    arr = bits.view(dtype)  # includes NaNs with arbitrary payloads, signalling NaNs, subnormals, infs
    write_case(tmp_path, Case(case_meta(), {"inputs.var": arr, "inputs.idx": np.arange(3, dtype=np.int32)}))
    back = read_case(tmp_path / "x.json")
    assert back.arrays["inputs.var"].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.arrays["inputs.var"].view(utype), bits)
    assert back.arrays["inputs.idx"].dtype == np.int32


def test_files_validate_against_schema(smoke: Path) -> None:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    defs = schema["$defs"]
    validate = lambda obj, kind: jsonschema.validate(obj, {"$ref": f"#/$defs/{kind}", "$defs": defs})  # noqa: E731
    validate(json.loads((smoke / "manifest.json").read_text()), "manifest")
    for path in (smoke / "cases").glob("*.json"):
        validate(json.loads(path.read_text()), "case")


def test_json_is_canonical(smoke: Path) -> None:
    for path in [smoke / "manifest.json", *sorted((smoke / "cases").glob("*.json"))]:
        raw = path.read_bytes()
        assert canonical_json(json.loads(raw)) == raw


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


@pytest.mark.parametrize("name", ["../outside.json", "/etc/passwd", "cases/../../x.json", "C:\\x.json"])
def test_manifest_path_escaping_folder_refused(smoke: Path, tmp_path: Path, name: str) -> None:
    s = copy_suite(smoke, tmp_path)
    manifest = json.loads((s / "manifest.json").read_text())
    manifest["cases"][0]["file"] = name
    (s / "manifest.json").write_bytes(canonical_json(manifest))
    with pytest.raises(FormatError, match=r"cases\[0\]\.file.*escapes"):
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


def test_results_round_trip(tmp_path: Path) -> None:
    out = {"var_out": np.array([np.nan, -0.0], np.float32), "accum_out": np.ones(2, np.float32)}
    write_results(tmp_path, "c1", out)
    back, err = read_results(tmp_path, "c1")
    assert err is None and back["var_out"].view(np.uint32).tolist() == out["var_out"].view(np.uint32).tolist()


def test_interrupted_generation_leaves_old_folder(tmp_path: Path) -> None:
    dest = tmp_path / "suite"
    dest.mkdir()
    (dest / "keep").write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_folder(dest) as tmp:
        (tmp / "half").write_text("x")
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["suite"]
    assert (dest / "keep").read_text() == "old"
