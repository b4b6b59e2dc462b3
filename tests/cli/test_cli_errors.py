"""Bad command lines: the exit status, a message on stderr that names the problem, no traceback.

The CLI's whole catalogue of misuse (``tests/reliability/test_catalogue.py`` counts it): ``generate``,
``verify``, ``crosscheck`` and ``explain`` through ``main(argv)``, and one real process; a suite the
command was pointed at is never touched.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import SUITE

from proxadagrad_ref.cli import main
from proxadagrad_ref.explain import explain_element

# (id, argv with {suite}/{tmp} placeholders, exit status, words stderr must contain)
CLI_CASES: list[tuple[str, list[str], int, list[str]]] = [
    ("no-command", [], 2, ["command"]),
    ("unknown-command", ["frobnicate"], 2, ["frobnicate"]),
    ("unknown-flag", ["verify", "{suite}", "--fast"], 2, ["--fast"]),
    ("verify-no-dir", ["verify"], 2, ["dir"]),
    ("verify-missing-dir", ["verify", "{tmp}/nope"], 2, ["nope", "not a folder"]),
    ("verify-dir-is-file", ["verify", "{tmp}/file.txt"], 2, ["file.txt"]),
    ("verify-dir-no-manifest", ["verify", "{tmp}"], 2, ["manifest.json"]),
    ("verify-bad-op", ["verify", "{suite}", "--op", "adam"], 2, ["--op", "adam"]),
    ("verify-bad-profile", ["verify", "{suite}", "--profile", "torch"], 2, ["--profile"]),
    ("verify-bad-prox-step", ["verify", "{suite}", "--prox-step", "both"], 2, ["--prox-step"]),
    (
        "verify-candidate-and-results",
        ["verify", "{suite}", "--candidate", "a:b", "--results", "{tmp}"],
        2,
        ["--results", "--candidate"],
    ),
    ("verify-candidate-no-colon", ["verify", "{suite}", "--candidate", "numpy"], 2, ["MODULE:FUNC"]),
    (
        "verify-candidate-missing-attr",
        ["verify", "{suite}", "--candidate", "numpy:no_such_kernel"],
        2,
        ["no_such_kernel"],
    ),
    (
        "verify-no-case-matches",
        ["verify", "{suite}", "--profile", "mindspore", "--prox-step", "fixed"],
        2,
        ["no case"],
    ),
    ("generate-bad-suite", ["generate", "--out", "{tmp}/x", "--suite", "huge"], 2, ["--suite", "huge"]),
    (
        "generate-out-unwritable",
        ["generate", "--out", "{tmp}/file.txt/sub", "--suite", "smoke"],
        2,
        ["file.txt"],
    ),
    ("crosscheck-no-framework", ["crosscheck", "{suite}"], 2, ["--framework"]),
    ("crosscheck-bad-framework", ["crosscheck", "{suite}", "--framework", "jax"], 2, ["--framework", "jax"]),
]


@pytest.mark.parametrize(
    ("argv", "status", "words"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_cli_bad_invocation(
    argv: list[str],
    status: int,
    words: list[str],
    cli_smoke: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "file.txt").write_text("not a suite")  # before any --out below is created
    before = sorted(p.name for p in cli_smoke.rglob("*"))
    args = [a.format(suite=cli_smoke, tmp=tmp_path) for a in argv]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse refusals
        code = exc.code if isinstance(exc.code, int) else 1
    err = capsys.readouterr().err
    assert code == status, err
    for word in words:
        assert word in err, err
    assert "Traceback" not in err
    assert sorted(p.name for p in cli_smoke.rglob("*")) == before  # the suite is never touched


def test_cli_exit_status_through_a_real_process(tmp_path: Path) -> None:
    """The installed entry point's exit status and message, in a fresh interpreter."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from proxadagrad_ref.cli import main; sys.exit(main())",
            "verify",
            str(tmp_path / "absent"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "absent" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_candidate_and_missing_framework(cli_smoke: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(cli_smoke), "--candidate", "no_such_module_xyz:f"]) == 2
    if importlib.util.find_spec("tensorflow") is None:
        assert main(["crosscheck", str(cli_smoke), "--framework", "tensorflow"]) == 3
        assert "tensorflow is not importable" in capsys.readouterr().err


# --- explain ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--var", "1"], "give --accum, --grad, --lr"),
        (["--var", "x", "--accum", "1", "--grad", "1", "--lr", "1"], "--var must be a decimal or hex float"),
        (["--var", "1", "--accum", "-1", "--grad", "1", "--lr", "1"], "--accum must be non-negative"),
        (["--var", "1", "--accum", "1", "--grad", "1", "--lr", "-1"], "lr must be a finite number >= 0"),
        (["--var", "1", "--accum", "1", "--grad", "1", "--lr", "1", "--l1", "inf"], "l1 must be a finite"),
        (["--var", "1", "--accum", "1", "--grad", "1", "--lr", "1", "--index", "3"], "--index only applies"),
        (["--case", "nowhere/none", "--index", "0"], "no case file"),
        (["--case", str(SUITE / "dense-random-strong-float16-mindspore-adaptive-n24-v0")], "needs --index"),
        (
            ["--case", str(SUITE / "dense-random-strong-float16-mindspore-adaptive-n24-v0"), "--index", "24"],
            "--index must lie in [0, 24)",
        ),
        (
            [
                "--case",
                str(SUITE / "dense-random-strong-float16-mindspore-adaptive-n24-v0"),
                "--index",
                "0",
                "--var",
                "1",
            ],
            "--case takes its values from the case",
        ),
    ],
)
def test_bad_arguments_give_clear_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("proxadagrad-ref explain: ") and message in err


def test_bad_dtype_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["explain", "--var", "1", "--accum", "1", "--grad", "1", "--lr", "1", "--dtype", "int8"])
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--dtype must be one of"):
        explain_element(var=1, accum=1, grad=1, lr=1, dtype="bfloat16")
