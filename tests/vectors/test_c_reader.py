"""examples/c_reader: an independent C99 harness passes the BOUND cases; -DWRONG_L2 is rejected."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import ROOT, SUITE

from proxadagrad_ref.cli import main
from proxadagrad_ref.vectors import read_suite

SOURCE = ROOT / "examples" / "c_reader" / "proxadagrad_reader.c"
CC = shutil.which("cc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (cc) on PATH")
FILTERS = ["--op", "dense", "--profile", "exact", "--dtype", "float32"]


def _cases() -> list[Path]:
    return [
        SUITE / "cases" / f"{c.id}.json"
        for c in read_suite(SUITE)
        if c.meta["op"] == "dense" and c.meta["profile"] == "exact" and c.meta["dtype"] == "float32"
    ]


def _build_and_run(tmp_path: Path, *defines: str) -> Path:
    exe = tmp_path / "reader"
    flags = ["-std=c99", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", *defines]
    subprocess.run([CC, *flags, "-o", str(exe), str(SOURCE), "-lm"], check=True, timeout=120)
    out = tmp_path / "results"
    out.mkdir()
    cases = _cases()
    assert len(cases) >= 30
    subprocess.run([str(exe), str(out), *map(str, cases)], check=True, timeout=120)
    assert len(list(out.glob("*.json"))) == len(cases)
    return out


def test_c_reader_passes_bound(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _build_and_run(tmp_path)
    report = tmp_path / "report.json"
    assert main(["verify", str(SUITE), "--results", str(results), *FILTERS, "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and "BOUND" in out


def test_c_reader_without_l2_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _build_and_run(tmp_path, "-DWRONG_L2")
    assert main(["verify", str(SUITE), "--results", str(results), *FILTERS]) == 1
    assert "FAIL" in capsys.readouterr().out
