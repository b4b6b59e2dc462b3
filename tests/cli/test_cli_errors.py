"""Bad command lines: the exit status, a message on stderr that names the problem, no traceback.

The CLI's whole catalogue of misuse (``tests/reliability/test_catalogue.py`` counts it): ``generate``,
``verify``, ``crosscheck`` and ``explain`` through ``main(argv)``, and one real process; a suite the
command was pointed at is never touched.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import ROOT, SUITE

from proxadagrad_ref.cli import main
from proxadagrad_ref.explain import explain_element
from proxadagrad_ref.vectors import generator as generator_module

# (id, argv with {suite}/{tmp} placeholders, exit status, words stderr must contain)
CLI_CASES: list[tuple[str, list[str], int, list[str]]] = [
    ("no-command", [], 2, ["command"]),
    ("unknown-command", ["frobnicate"], 2, ["frobnicate"]),
    ("unknown-flag", ["verify", "{suite}", "--fast"], 2, ["--fast"]),
    ("verify-default-dir-absent", ["verify"], 2, ["conformance_vectors", "not a folder"]),
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
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "file.txt").write_text("not a suite")  # before any --out below is created
    monkeypatch.chdir(tmp_path)  # default folders (verify's conformance_vectors) are looked up here
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

# --- the catalogue of command-line misuse: each exits with its status and one line naming the problem, no
# traceback, and deletes nothing it did not write; then broken pipes, Ctrl-C and ``python -m``.


def _setup(tmp: Path, suite: Path) -> None:
    """The folders and modules the catalogue's invocations refer to."""
    (tmp / "other").mkdir()
    (tmp / "other" / "keep.txt").write_text("mine")
    (tmp / "file.txt").write_text("not a folder")
    (tmp / "emptydir").mkdir()
    (tmp / "reports").mkdir()
    shutil.copytree(suite, tmp / "suite_with_stray")
    (tmp / "suite_with_stray" / "cases" / "my_notes.txt").write_text("mine")
    (tmp / "mods").mkdir()
    (tmp / "mods" / "broken_syntax.py").write_text("def f(:\n")
    (tmp / "mods" / "raises_at_import.py").write_text("raise RuntimeError('no GPU here')\n")
    (tmp / "mods" / "not_callable.py").write_text("kernel = 42\n")


# (id, argv with {suite}/{tmp} placeholders, exit status, words stderr must contain)
MISUSE: list[tuple[str, list[str], int, list[str]]] = [
    # generate never deletes what it did not write
    (
        "generate-into-non-suite-folder",
        ["generate", "--suite", "smoke", "--out", "{tmp}/other"],
        2,
        ["other", "not a suite", "--force"],
    ),
    (
        "generate-into-a-file",
        ["generate", "--suite", "smoke", "--out", "{tmp}/file.txt"],
        2,
        ["file.txt", "not a folder"],
    ),
    (
        "generate-into-current-non-suite-folder",
        ["generate", "--suite", "smoke", "--out", "."],
        2,
        ["not a suite"],
    ),
    (
        "generate-into-a-folder-holding-the-current-one",
        ["generate", "--suite", "smoke", "--out", ".."],
        2,
        ["contains the current folder"],
    ),
    (
        "generate-over-stray-case-files",
        ["generate", "--suite", "smoke", "--out", "{tmp}/suite_with_stray"],
        2,
        ["my_notes.txt", "refusing"],
    ),
    (
        "generate-under-a-file",
        ["generate", "--suite", "smoke", "--out", "{tmp}/file.txt/sub"],
        2,
        ["file.txt"],
    ),
    # output paths are checked before any work
    (
        "verify-report-unwritable",
        ["verify", "{suite}", "--report", "/proc/x.json"],
        2,
        ["--report", "/proc/x.json"],
    ),
    (
        "verify-report-is-a-folder",
        ["verify", "{suite}", "--report", "{tmp}/reports"],
        2,
        ["--report", "folder"],
    ),
    (
        "verify-report-folder-missing",
        ["verify", "{suite}", "--report", "{tmp}/nope/r.json"],
        2,
        ["--report", "does not exist"],
    ),
    (
        "crosscheck-report-unwritable",
        ["crosscheck", "{suite}", "--framework", "tensorflow", "--report", "/proc/x.json"],
        2,
        ["--report", "/proc/x.json"],
    ),
    # verify names the path that is missing
    (
        "verify-results-folder-missing",
        ["verify", "{suite}", "--results", "{tmp}/nonexist"],
        2,
        ["results folder", "nonexist"],
    ),
    ("verify-results-is-a-file", ["verify", "{suite}", "--results", "{tmp}/file.txt"], 2, ["file.txt"]),
    ("verify-folder-without-manifest", ["verify", "{tmp}/emptydir"], 2, ["emptydir", "manifest.json"]),
    ("verify-no-such-case", ["verify", "{suite}", "--case", "dense-nothing-v9"], 2, ["dense-nothing-v9"]),
    ("verify-unknown-suite-name", ["verify", "tiny"], 2, ["tiny", "not a folder"]),
    # candidates that cannot be loaded
    (
        "candidate-syntax-error",
        ["verify", "{suite}", "--candidate", "broken_syntax:f"],
        2,
        ["broken_syntax", "SyntaxError"],
    ),
    (
        "candidate-raises-at-import",
        ["verify", "{suite}", "--candidate", "raises_at_import:f"],
        2,
        ["raises_at_import", "no GPU here"],
    ),
    (
        "candidate-not-callable",
        ["verify", "{suite}", "--candidate", "not_callable:kernel"],
        2,
        ["not callable"],
    ),
    ("candidate-empty-module", ["verify", "{suite}", "--candidate", ":f"], 2, ["MODULE:FUNC"]),
    ("candidate-empty-function", ["verify", "{suite}", "--candidate", "numpy:"], 2, ["MODULE:FUNC"]),
    # options
    ("verify-verbose-and-quiet", ["verify", "{suite}", "--verbose", "--quiet"], 2, ["--quiet", "--verbose"]),
    ("verify-bad-format", ["verify", "{suite}", "--format", "xml"], 2, ["--format", "xml"]),
    ("verify-bad-duplicates", ["verify", "{suite}", "--duplicates", "max"], 2, ["--duplicates", "max"]),
    ("verify-nothing-ran", ["verify", "{suite}", "--dtype", "bfloat16"], 2, ["no case ran"]),
    ("generate-force-takes-no-value", ["generate", "--force", "yes"], 2, ["yes"]),
    ("explain-case-missing", ["explain", "--case", "{tmp}/nope.json", "--index", "0"], 2, ["nope.json"]),
    (
        "explain-bad-format",
        ["explain", "--var", "1", "--accum", "1", "--grad", "1", "--lr", "1", "--format", "yaml"],
        2,
        ["--format"],
    ),
]


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b""
        for p in sorted(folder.rglob("*"))
        if ".proxadagrad" not in str(p)
    }


@pytest.mark.parametrize(("argv", "status", "words"), [m[1:] for m in MISUSE], ids=[m[0] for m in MISUSE])
def test_cli_misuse(
    argv: list[str],
    status: int,
    words: list[str],
    smoke: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _setup(tmp_path, smoke)
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    monkeypatch.chdir(tmp_path / "other")
    before = _tree(tmp_path)
    try:
        code = main([a.format(suite=smoke, tmp=tmp_path) for a in argv])
    except SystemExit as exc:  # argparse refusals
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert code == status, err
    for word in words:
        assert word in err, err
    assert "Traceback" not in err and "Traceback" not in out
    assert "passed" not in out  # refused before the work
    assert _tree(tmp_path) == before  # nothing created, changed or deleted


def test_generate_into_a_suite_replaces_it_and_keeps_what_is_beside_it(smoke: Path, tmp_path: Path) -> None:
    dest = tmp_path / "suite"
    shutil.copytree(smoke, dest)
    (dest / "recorded").mkdir()
    (dest / "recorded" / "r.txt").write_text("recording")
    (dest / "NOTES.md").write_text("mine")
    (dest / "cases" / next(p.name for p in (dest / "cases").iterdir())).write_bytes(b"stale")
    assert main(["generate", "--suite", "smoke", "--out", str(dest)]) == 0
    assert (dest / "recorded" / "r.txt").read_text() == "recording" and (
        dest / "NOTES.md"
    ).read_text() == "mine"
    assert _tree(dest / "cases") == _tree(smoke / "cases")
    assert sorted(os.listdir(tmp_path)) == ["suite"]  # no temporary folder left


def test_generate_force_replaces_a_non_suite_folder(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    assert main(["generate", "--suite", "smoke", "--out", str(tmp_path / "other"), "--force"]) == 0
    assert not (tmp_path / "other" / "keep.txt").exists() and (tmp_path / "other" / "manifest.json").is_file()


@pytest.mark.parametrize("start", ["empty", "suite"])
def test_generate_out_dot_writes_the_current_folder_in_place(
    start: str, smoke: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    if start == "suite":
        shutil.copytree(smoke, here)
        (here / "NOTES.md").write_text("mine")
    else:
        here.mkdir()
    inode = here.stat().st_ino
    monkeypatch.chdir(here)
    assert main(["generate", "--suite", "smoke", "--out", "."]) == 0
    assert here.stat().st_ino == inode  # the same folder, not a replacement
    assert _tree(here / "cases") == _tree(smoke / "cases")
    assert (here / "manifest.json").read_bytes() == (smoke / "manifest.json").read_bytes()
    assert sorted(os.listdir(here)) == (["NOTES.md"] if start == "suite" else []) + ["cases", "manifest.json"]


def test_ctrl_c_in_generate_exits_130_with_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(generator_module, "write_case", interrupted)
    assert main(["generate", "--suite", "smoke", "--out", str(tmp_path / "v")]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "proxadagrad-ref: interrupted"
    assert os.listdir(tmp_path) == []


def test_ctrl_c_in_verify_exits_130(
    smoke: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import proxadagrad_ref.vectors.verifier as verifier_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(verifier_module, "run_case", interrupted)
    assert main(["verify", str(smoke)]) == 130
    assert capsys.readouterr().err.strip() == "proxadagrad-ref: interrupted"


def _pipe_to_head(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run Python `code` with `args`, its output piped into `head -n 1`, in a shell pipeline."""
    script = f"{shlex_join([sys.executable, '-c', code, *args])} | head -n 1"
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        check=False,
    )


def shlex_join(words: list[str]) -> str:
    import shlex

    return " ".join(shlex.quote(w) for w in words)


class _ClosedPipe(io.StringIO):
    """A standard output whose reader went away after the first write (``... | head -c 1``)."""

    def write(self, text: str) -> int:
        if self.tell():
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text[:1])


@pytest.mark.parametrize(
    "argv",
    [
        ["explain", "--var", "1", "--accum", "0.1", "--grad", "0.3", "--lr", "0.1", "--format", "json"],
        ["explain", "--var", "1", "--accum", "0.1", "--grad", "0.3", "--lr", "0.1"],
        ["verify", "{suite}", "--verbose"],
        ["generate", "--suite", "smoke", "--out", "{tmp}/v"],
    ],
    ids=["explain-json", "explain-text", "verify-verbose", "generate"],
)
def test_closed_output_pipe_ends_quietly_with_141(
    argv: list[str], smoke: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, err = _ClosedPipe(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    assert main([a.format(suite=smoke, tmp=tmp_path) for a in argv]) == 141
    assert err.getvalue() == ""


@pytest.mark.skipif(
    shutil.which("head") is None or shutil.which("bash") is None, reason="needs bash and head"
)
@pytest.mark.parametrize(
    "argv",
    [["verify", "{suite}", "--verbose"], ["verify", "{suite}", "--format", "json"]],
    ids=["verify-verbose", "verify-json"],
)
def test_broken_pipe_is_quiet(argv: list[str], smoke: Path) -> None:
    code = "import sys; from proxadagrad_ref.cli import main; sys.exit(main())"
    proc = _pipe_to_head(code, *[a.format(suite=smoke) for a in argv])
    assert proc.stdout.strip(), proc.stderr
    assert proc.stderr == "", proc.stderr  # no BrokenPipeError, no traceback
    assert proc.returncode in (0, 141)  # head's status, or the writer's 141 (128 + SIGPIPE)


@pytest.mark.skipif(
    shutil.which("head") is None or shutil.which("bash") is None, reason="needs bash and head"
)
def test_repro_line_into_head_is_quiet() -> None:
    case = "dense-random-l1l2-float32-exact-adaptive-n8-v0"
    code = f"from proxadagrad_ref.vectors import repro; repro('smoke', {case!r})"
    proc = _pipe_to_head(code)
    assert proc.stdout.startswith("dense-random-l1l2-float32-exact-adaptive-n8-v0: lr, l1, l2")
    assert proc.stderr == "" and proc.returncode == 0


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "proxadagrad_ref", "verify", str(tmp_path / "absent")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2 and "absent" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "proxadagrad_ref", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("proxadagrad-ref ")


def _all_parsers():
    from proxadagrad_ref.cli import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return parser, subs


def test_every_subcommand_has_a_description_and_every_option_a_help_with_its_default() -> None:
    _, subs = _all_parsers()
    assert set(subs.choices) == {"demo", "generate", "verify", "crosscheck", "explain"}
    for name, sub in subs.choices.items():
        assert sub.description and len(sub.description) > 40, name
        for action in sub._actions:
            if action.dest == "help":
                continue
            assert action.help, (name, action.dest)
            assert "default" in action.help or "required" in action.help, (name, action.dest, action.help)


def test_help_has_no_markup(capsys: pytest.CaptureFixture[str]) -> None:
    parser, subs = _all_parsers()
    texts = [parser.format_help(), *(sub.format_help() for sub in subs.choices.values())]
    for text in texts:
        assert "``" not in text and ":mod:" not in text and ":func:" not in text, text


def test_verify_folder_defaults_like_crosscheck(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, subs = _all_parsers()
    ver, crx = subs.choices["verify"], subs.choices["crosscheck"]
    assert ver.parse_args([]).dir == crx.parse_args(["--framework", "mindspore"]).dir == "conformance_vectors"
    monkeypatch.chdir(ROOT)
    assert main(["verify", "--quiet", "--op", "dense", "--dtype", "float64", "--profile", "tensorflow"]) == 0


def test_a_kernel_module_in_a_users_folder(tmp_path: Path) -> None:
    """A kernel module written to a file is found through --candidate when its folder is on sys.path."""
    (tmp_path / "k.py").write_text(
        textwrap.dedent("""
        from proxadagrad_ref import apply_proximal_adagrad as my_kernel
    """)
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "proxadagrad_ref",
            "verify",
            str(ROOT / "conformance_vectors"),
            "--candidate",
            "k:my_kernel",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().startswith("170 passed, 0 failed, 184 not applicable")
