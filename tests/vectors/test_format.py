"""The vector file format: bit-exact round trips, schema, canonical JSON, reading without pickle or eval."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from helpers import case_meta

from proxadagrad_ref.vectors import read_suite, verify
from proxadagrad_ref.vectors.format import (
    Case,
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


def test_results_round_trip(tmp_path: Path) -> None:
    out = {"var_out": np.array([np.nan, -0.0], np.float32), "accum_out": np.ones(2, np.float32)}
    write_results(tmp_path, "c1", out)
    back, err = read_results(tmp_path, "c1")
    assert err is None and back["var_out"].view(np.uint32).tolist() == out["var_out"].view(np.uint32).tolist()


def test_suite_and_results_read_without_pickle_or_eval(
    smoke: Path, tmp_path: Path, no_code_from_files: list[str]
) -> None:
    cases = list(read_suite(smoke))
    assert cases
    report = verify(smoke)
    assert report.passed
    write_results(tmp_path, cases[0].id, {"var_out": np.ones(2, np.float32)})
    read_results(tmp_path, cases[0].id)
    assert no_code_from_files == []
