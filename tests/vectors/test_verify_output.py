"""What the verifier prints: a summary people read, JSON on request, plain numbers, a repro that reruns
the candidate, a progress counter on a terminal only, and every mode documented."""

from __future__ import annotations

import io
import json
import re
import shlex
from pathlib import Path

import pytest

from proxadagrad_ref import vectors
from proxadagrad_ref.cli import main
from proxadagrad_ref.vectors.verifier import MODES

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "conformance_vectors"


def test_default_output_is_a_summary_not_one_row_per_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(SUITE)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) < 40  # 370 before: one row per case
    assert not any(line.startswith("PASS ") for line in lines)
    assert re.search(r"^dense +exact +float32 +EXACT +34 +34 +0 ", out, re.M), out
    assert lines[-1] == "354 passed, 0 failed (proxadagrad_ref on " + str(SUITE) + ")"


def test_verbose_adds_one_row_per_case(capsys: pytest.CaptureFixture[str], smoke: Path) -> None:
    assert main(["verify", str(smoke), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert sum(line.startswith("PASS ") for line in out.splitlines()) == 10


def test_quiet_prints_the_last_line_only(capsys: pytest.CaptureFixture[str], smoke: Path) -> None:
    assert main(["verify", str(smoke), "--quiet"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == [
        f"10 passed, 0 failed (proxadagrad_ref on {smoke})"
    ]


def test_format_json_goes_to_stdout_and_equals_the_report(
    capsys: pytest.CaptureFixture[str], smoke: Path, tmp_path: Path
) -> None:
    report = tmp_path / "r.json"
    argv = ["verify", str(smoke), "--candidate", "kernels_plain:wrong_l2", "--format", "json"]
    assert main([*argv, "--report", str(report)]) == 1
    captured = capsys.readouterr()
    shown = json.loads(captured.out)  # nothing but JSON on stdout
    assert shown == json.loads(report.read_text())
    assert shown["passed"] is False and shown["cases"] == 3 and shown["failures"] >= 1
    assert shown["not_applicable"]["op sparse: no sparse kernel"] == 3
    assert set(shown["modes"]) == set(MODES)
    first = next(r for r in shown["results"] if not r["passed"])
    element = first["details"][0]
    assert set(element) >= {"output", "index", "got", "expected", "ulps", "bound", "inputs"}
    assert float(element["got"]) != float(element["expected"]) and element["bound"] > 0
    assert f"report written to {report}" in captured.err


def test_failures_show_elements_with_inputs_in_plain_numbers(
    capsys: pytest.CaptureFixture[str], smoke: Path
) -> None:
    assert main(["verify", str(smoke), "--candidate", "kernels_plain:wrong_l2"]) == 1
    out = capsys.readouterr().out
    assert "np.float" not in out and "array(" not in out
    m = re.search(
        r"^  var_out\[(\d+)\]: got (\S+), expected (\S+) \((\S+) ulps, (\S+) x the bound 2B = (\S+)\)$",
        out,
        re.M,
    )
    assert m, out
    got, expected, units = float(m.group(2)), float(m.group(3)), float(m.group(5))
    assert got != expected and units > 1
    inputs = re.search(r"^      inputs: var (\S+), accum (\S+), grad (\S+)$", out, re.M)
    assert inputs and all(float(x) == float(x) for x in inputs.groups())
    assert re.search(r"^  lr 0\.1, l1 0\.05, l2 0\.1$", out, re.M)


def test_repro_line_reruns_the_candidate_on_that_case(
    capsys: pytest.CaptureFixture[str], smoke: Path
) -> None:
    assert main(["verify", str(smoke), "--candidate", "kernels_plain:wrong_l2"]) == 1
    out = capsys.readouterr().out
    first = re.search(r"^FAIL (\S+) ", out, re.M).group(1)  # type: ignore[union-attr]
    line = re.search(r"^  repro:   (.*)$", out, re.M).group(1)  # type: ignore[union-attr]
    words = shlex.split(line)
    assert words[:2] == ["proxadagrad-ref", "verify"] and "kernels_plain:wrong_l2" in words
    assert main(words[1:]) == 1  # the same candidate, one case, verbosely
    again = capsys.readouterr().out
    assert again.strip().splitlines()[-1].startswith("0 passed, 1 failed")
    assert f"FAIL {first} " in again and again.count("FAIL ") == 2  # its row and its failure block


def test_repro_of_a_callable_without_a_name_says_how_to_call_it(smoke: Path) -> None:
    import kernels_plain

    report = vectors.verify(smoke, candidate=lambda *a: kernels_plain.wrong_l2(*a))
    assert report.failed()[0].repro.startswith(f"verify({str(smoke)!r}, candidate=<")


def test_progress_counter_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch, smoke: Path) -> None:
    import sys

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, shown in ((io.StringIO(), False), (Terminal(), True)):
        monkeypatch.setattr(sys, "stderr", stream)
        monkeypatch.setattr(sys, "stdout", io.StringIO())
        assert main(["verify", str(smoke)]) == 0
        assert ("[10/10]" in stream.getvalue()) is shown
        assert ("[1/10]" in stream.getvalue()) is shown


def test_every_mode_in_the_summary_is_documented() -> None:
    doc = (ROOT / "docs" / "conformance.md").read_text()
    section = doc.split("## Compliance modes", 1)[1].split("\n## ", 1)[0]
    for mode in MODES:
        assert f"**{mode}**" in section, mode
    from proxadagrad_ref import apply_proximal_adagrad, sparse_apply_proximal_adagrad

    engine_kernels = vectors.Candidate("kernels", apply_proximal_adagrad, sparse_apply_proximal_adagrad)
    report = vectors.verify(SUITE, candidate=engine_kernels)  # not strict: the cases' own modes
    assert report.passed and {r.mode for r in report.results} == set(MODES)


def test_summary_legend_explains_each_mode_shown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(SUITE), "--op", "sparse", "--profile", "exact", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert "ERROR: the call must raise" in out and "EXACT: every bit" in out
