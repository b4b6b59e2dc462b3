"""The command line: generate, verify (engine, candidate, results folder), crosscheck."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import vector_impls as impls

from proxadagrad_ref.cli import main
from proxadagrad_ref.vectors import read_suite
from proxadagrad_ref.vectors.candidates import call_case
from proxadagrad_ref.vectors.format import write_results


def test_readme_first_command(cli_smoke: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    assert main(["verify", str(cli_smoke), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "10 passed, 0 failed" in out
    assert "optimizer  exact" in out  # the per-op summary
    assert json.loads(report.read_text())["passed"] is True


def test_candidate_and_filters(cli_smoke: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(cli_smoke), "--candidate", "vector_impls:native", "--profile", "exact"]) == 0
    assert (
        main(
            [
                "verify",
                str(cli_smoke),
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
    cli_smoke: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setattr(impls, "bad", impls.MUTANTS["l2_dropped"], raising=False)
    assert main(["verify", str(cli_smoke), "--candidate", "vector_impls:bad", "--profile", "exact"]) == 1
    out = capsys.readouterr().out
    assert "FAIL dense-" in out and "from proxadagrad_ref.vectors import repro" in out
    # the repro line reruns the candidate, not the engine, on the failing case
    assert "repro:   proxadagrad-ref verify " in out and "--candidate vector_impls:bad --op dense" in out
    assert "--profile exact --case dense-" in out


def test_results_folder(cli_smoke: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    results.mkdir()
    for case in read_suite(cli_smoke):
        if case.meta["op"] == "dense" and case.meta["profile"] == "exact":
            write_results(results, case.id, call_case(impls.CORRECT["fma"].dense, case))
    dense_exact = ["--op", "dense", "--profile", "exact"]
    assert main(["verify", str(cli_smoke), "--results", str(results), *dense_exact]) == 0
    # a missing results file is a failure naming the file
    assert main(["verify", str(cli_smoke), "--results", str(results), "--op", "sparse"]) == 1
    assert "not found" in capsys.readouterr().out


def test_optimizer_factory_candidate_and_trajectory_results(
    cli_smoke: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from proxadagrad_ref import ProximalAdagrad
    from proxadagrad_ref.vectors.trajectory import run_trajectory

    candidate = ["--candidate", "vector_impls:float64_optimizer", "--profile", "exact"]
    assert main(["verify", str(cli_smoke), *candidate]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
    assert main(["verify", str(cli_smoke), "--candidate", "proxadagrad_ref:ProximalAdagrad"]) == 0
    results = tmp_path / "results"
    results.mkdir()
    for case in read_suite(cli_smoke):
        if case.meta["op"] == "optimizer":
            write_results(results, case.id, run_trajectory(ProximalAdagrad, case))
    assert main(["verify", str(cli_smoke), "--results", str(results), "--op", "optimizer"]) == 0
    optimizers = (c for c in read_suite(cli_smoke) if c.meta["op"] == "optimizer")
    case = next(c for c in optimizers if c.meta["profile"] == "exact")
    outputs = run_trajectory(impls.OPTIMIZER_MUTANTS["accum_init_zero"], case)
    write_results(results, case.id, outputs)
    assert main(["verify", str(cli_smoke), "--results", str(results), "--op", "optimizer"]) == 1
    assert "accum_out after step 0" in capsys.readouterr().out
