"""Importing framework recordings (.npz + provenance.json) and verifying against them."""

from __future__ import annotations

from pathlib import Path

from helpers import write_npz_recording

from proxadagrad_ref.vectors import read_suite, verify
from proxadagrad_ref.vectors.recorded import import_npz_folder


def test_import_and_verify(tmp_path: Path) -> None:
    write_npz_recording(tmp_path / "rec")
    summary = import_npz_folder(tmp_path / "rec", tmp_path / "out", "mindspore")
    assert summary["cases"] == 2
    cases = {c.id: c for c in read_suite(tmp_path / "out")}
    dense = cases["recorded-mindspore-dense_a"]
    assert dense.meta["source"]["kind"] == "recorded"
    assert dense.meta["source"]["provenance"]["framework_version"] == "2.10.0"
    assert dense.meta["source"]["provenance"]["note"] == "x"
    assert cases["recorded-mindspore-sparse_b"].meta["options"]["duplicates"] == "sum"
    report = verify(tmp_path / "out")
    assert report.passed, report.table()
