"""The command line: generate, verify (engine, candidate, results folder), crosscheck."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import vector_impls as impls

from proxadagrad_ref.cli import main
from proxadagrad_ref.vectors import read_suite
from proxadagrad_ref.vectors.candidates import call_case
from proxadagrad_ref.vectors.format import write_results


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "vectors"
    assert main(["generate", "--out", str(out), "--suite", "smoke"]) == 0
    return out


def test_readme_first_command(suite: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    assert main(["verify", str(suite), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "10 passed, 0 failed" in out
    assert "optimizer  exact" in out  # the per-op summary
    assert json.loads(report.read_text())["passed"] is True


def test_candidate_and_filters(suite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(suite), "--candidate", "vector_impls:native", "--profile", "exact"]) == 0
    assert (
        main(
            [
                "verify",
                str(suite),
                "--candidate",
                "vector_impls:native_dense",
                "--op",
                "dense",
                "--prox-step",
                "fixed",
            ]
        )
        == 0
    )
    assert "1 passed, 0 failed" in capsys.readouterr().out


def test_failures_exit_non_zero_with_repro(
    suite: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setattr(impls, "bad", impls.MUTANTS["l2_dropped"], raising=False)
    assert main(["verify", str(suite), "--candidate", "vector_impls:bad", "--profile", "exact"]) == 1
    out = capsys.readouterr().out
    assert "FAIL dense-" in out and "from proxadagrad_ref.vectors import repro" in out
    # the repro line reruns the candidate, not the engine, on the failing case
    assert "repro:   proxadagrad-ref verify " in out and "--candidate vector_impls:bad --op dense" in out
    assert "--profile exact --case dense-" in out


def test_results_folder(suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    results.mkdir()
    for case in read_suite(suite):
        if case.meta["op"] == "dense" and case.meta["profile"] == "exact":
            write_results(results, case.id, call_case(impls.CORRECT["fma"].dense, case))
    assert main(["verify", str(suite), "--results", str(results), "--op", "dense", "--profile", "exact"]) == 0
    # a missing results file is a failure naming the file
    assert main(["verify", str(suite), "--results", str(results), "--op", "sparse"]) == 1
    assert "not found" in capsys.readouterr().out


def test_bad_candidate_and_missing_framework(suite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(suite), "--candidate", "no_such_module_xyz:f"]) == 2
    if importlib.util.find_spec("tensorflow") is None:
        assert main(["crosscheck", str(suite), "--framework", "tensorflow"]) == 3
        assert "tensorflow is not importable" in capsys.readouterr().err


def test_optimizer_factory_candidate_and_trajectory_results(
    suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from proxadagrad_ref import ProximalAdagrad
    from proxadagrad_ref.vectors.trajectory import run_trajectory

    assert (
        main(["verify", str(suite), "--candidate", "vector_impls:float64_optimizer", "--profile", "exact"])
        == 0
    )
    assert "1 passed, 0 failed" in capsys.readouterr().out
    assert main(["verify", str(suite), "--candidate", "proxadagrad_ref:ProximalAdagrad"]) == 0
    results = tmp_path / "results"
    results.mkdir()
    for case in read_suite(suite):
        if case.meta["op"] == "optimizer":
            write_results(results, case.id, run_trajectory(ProximalAdagrad, case))
    assert main(["verify", str(suite), "--results", str(results), "--op", "optimizer"]) == 0
    case = next(c for c in read_suite(suite) if c.meta["op"] == "optimizer" and c.meta["profile"] == "exact")
    outputs = run_trajectory(impls.OPTIMIZER_MUTANTS["accum_init_zero"], case)
    write_results(results, case.id, outputs)
    assert main(["verify", str(suite), "--results", str(results), "--op", "optimizer"]) == 1
    assert "accum_out after step 0" in capsys.readouterr().out
