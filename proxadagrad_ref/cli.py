"""Command line: ``proxadagrad-ref`` (also ``python -m proxadagrad_ref``).

Subcommands: ``demo``, ``generate``, ``verify``, ``crosscheck``, ``explain``
(``--help``). Exit status: 0 success; 1 a case failed; 2 a usage
error (bad arguments, unreadable or unsafe paths, no case ran); 3 a framework
is missing; 130 interrupted (Ctrl-C); 141 the output pipe closed. A user error
prints one line, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, apply_proximal_adagrad, sparse_apply_proximal_adagrad

DESCRIPTION = """\
Reference implementation of the Proximal Adagrad update, and a conformance
checker for other implementations. Run 'proxadagrad-ref command --help' for a
command's options.
"""
EPILOG = """\
exit status: 0 success, 1 a case failed, 2 usage error, 3 framework missing,
130 interrupted (Ctrl-C), 141 output pipe closed
"""

PROFILES = ("exact", "mindspore", "tensorflow")
FLOATS = ("float16", "float32", "float64", "bfloat16")
SUITE_NAMES = ("smoke", "default", "full")


def _demo(_: argparse.Namespace) -> int:
    w, a, g = (np.array([x], np.float32) for x in (1.0, 0.1, 0.3))
    lr, l1, l2 = 0.1, 0.05, 0.1
    print(
        f"one coordinate (float32): w={w[0]:.9g}, accum={a[0]:.9g}, grad={g[0]:.9g}, "
        f"lr={lr}, l1={l1}, l2={l2}"
    )
    rows = []
    for label, kwargs in (
        ("exact, kernels' form (adaptive)", {}),
        ("exact, printed formula (fixed)", {"prox_step": "fixed"}),
        ("MindSpore CPU kernel", {"emulate": "mindspore"}),
    ):
        w1, a1 = apply_proximal_adagrad(w, a, lr, l1, l2, g, **kwargs)  # type: ignore[arg-type]
        rows.append((label, float(w1[0]), float(a1[0])))
    for label, w1, a1 in rows:
        print(f"  {label:<34} w' = {w1:.9g}   accum' = {a1:.9g}")
    print(f"  printed formula - kernels' form   = {rows[1][1] - rows[0][1]:+.6g}")

    table = np.ones((5, 3), np.float32)
    accum = np.full((5, 3), 0.1, np.float32)
    indices = np.array([3, 0, 3])
    values = np.array([[0.3, -0.2, 0.0], [0.1, 0.1, 0.1], [0.2, 0.0, -0.4]], np.float32)
    new, new_acc = sparse_apply_proximal_adagrad(table, accum, lr, l1, l2, values, indices)
    print("sparse step on a 5x3 table, indices [3, 0, 3] (duplicate rows summed):")
    for i in range(table.shape[0]):
        touched = "touched" if i in indices else "untouched"
        print(
            f"  row {i} ({touched:>9}): {np.array2string(new[i], precision=6)}"
            f"  accum {np.array2string(new_acc[i], precision=4)}"
        )
    return 0


def _progress_printer() -> Any:
    """A progress counter on the standard error when it is a terminal, else None."""
    stream = sys.stderr
    if not stream.isatty():
        return None

    def show(done: int, total: int, case_id: str) -> None:
        end = "\n" if done == total else ""
        print(f"\r\033[K  [{done}/{total}] {case_id[:60]}", end=end, file=stream, flush=True)

    return show


def _check_output_file(path: str, option: str) -> None:
    """Refuse an output file that cannot be written, before any work: a ValueError naming it."""
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{option} {path}: is a folder; give a file name")
    parent = target.parent
    if not parent.is_dir():
        raise ValueError(f"{option} {path}: folder {parent} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{target.name}."):
            pass
    except OSError as exc:
        raise ValueError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None


def _generate(args: argparse.Namespace) -> int:
    from .vectors.generator import generate

    try:
        summary = generate(args.out, args.suite, force=args.force, progress=_progress_printer())
    except OSError as exc:  # unwritable, unsafe or impossible --out: a message, not a traceback
        if exc.filename is None:  # the refusals of check_out_folder name the folder themselves
            print(f"proxadagrad-ref generate: {exc}", file=sys.stderr)
        else:
            reason = exc.strerror or str(exc)
            print(f"proxadagrad-ref generate: --out {args.out}: {reason} ({exc.filename})", file=sys.stderr)
        return 2
    parts = ", ".join(f"{k} {v}" for k, v in sorted(summary["by_op_profile"].items()))
    print(
        f"wrote suite {summary['suite']!r} to {summary['out']}: {summary['cases']} cases, "
        f"{summary['bytes']} bytes ({parts})"
    )
    return 0


def _finish(report: Any, args: argparse.Namespace, command: str) -> int:
    import json

    from .vectors.verifier import VerifyReport, write_report

    assert isinstance(report, VerifyReport)
    if not report.results:  # a usage error: say why, print no empty report
        counts = report.not_applicable_counts()
        why = f"{report.filtered_out} cases left out by the filters"
        if counts:
            why += f", {len(report.not_applicable)} not applicable ({'; '.join(counts)})"
        print(f"proxadagrad-ref {command}: no case ran ({why})", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=1, sort_keys=True))
    else:
        print(report.format_text(verbose=args.verbose, quiet=args.quiet))
    if args.report:
        write_report(report, args.report)
        print(f"report written to {args.report}", file=sys.stderr)
    return 0 if report.passed else 1


def _verify(args: argparse.Namespace) -> int:
    from .vectors.candidates import load_candidate
    from .vectors.format import FormatError
    from .vectors.verifier import verify

    try:
        if args.report:
            _check_output_file(args.report, "--report")
        candidate = load_candidate(args.candidate, args.op) if args.candidate else None
        report = verify(
            args.dir,
            candidate=candidate,
            results=args.results,
            op=args.op,
            prox_step=args.prox_step,
            profile=args.profile,
            dtype=args.dtype,
            duplicates=args.duplicates,
            case=args.case,
            strict=True if args.strict else None,
            progress=_progress_printer(),
        )
    except (FormatError, ValueError, OSError) as exc:
        print(f"proxadagrad-ref verify: {exc}", file=sys.stderr)
        return 2
    return _finish(report, args, "verify")


def _crosscheck(args: argparse.Namespace) -> int:
    from .vectors.format import FormatError
    from .vectors.frameworks import FrameworkUnavailable, crosscheck

    try:
        if args.report:
            _check_output_file(args.report, "--report")
        report = crosscheck(args.dir, args.framework, op=args.op)
    except FrameworkUnavailable as exc:
        print(f"proxadagrad-ref crosscheck: {exc}", file=sys.stderr)
        return 3
    except (FormatError, ValueError, OSError) as exc:
        print(f"proxadagrad-ref crosscheck: {exc}", file=sys.stderr)
        return 2
    return _finish(report, args, "crosscheck")


def _explain(args: argparse.Namespace) -> int:
    from .explain import explain_case, explain_element, format_text, to_json
    from .vectors.format import FormatError

    given = {k: getattr(args, k) for k in ("var", "accum", "grad", "lr", "l1", "l2", "dtype")}
    try:
        if args.case is not None:
            extra = [k for k, v in given.items() if v is not None]
            if extra:
                raise ValueError(f"--case takes its values from the case; drop --{', --'.join(extra)}")
            if args.index is None:
                raise ValueError("--case needs --index K (the element to explain)")
            report = explain_case(args.case, args.index)
        else:
            if args.index is not None:
                raise ValueError("--index only applies with --case")
            missing = [k for k in ("var", "accum", "grad", "lr") if given[k] is None]
            if missing:
                raise ValueError(
                    f"give --{', --'.join(missing)} (and optionally --l1, --l2, --dtype), "
                    "or --case DIR/ID --index K"
                )
            values = {k: v for k, v in given.items() if v is not None}
            report = explain_element(**values)
    except (FormatError, ValueError, TypeError, OSError) as exc:
        print(f"proxadagrad-ref explain: {exc}", file=sys.stderr)
        return 2
    print(to_json(report) if args.format == "json" else format_text(report))
    return 0


def _add_output_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--report", metavar="FILE", help="also write the report as JSON to FILE (default: not written)"
    )
    sub.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="standard output: a text summary, or the JSON report (default: %(default)s)",
    )
    loud = sub.add_mutually_exclusive_group()
    loud.add_argument(
        "-v", "--verbose", action="store_true", help="also print one row per case (default: off)"
    )
    loud.add_argument(
        "-q", "--quiet", action="store_true", help="print only the failures and the last line (default: off)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``proxadagrad-ref`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="proxadagrad-ref",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=description)

    demo = command(
        "demo",
        "print a dense and a sparse step",
        "Print one float32 coordinate updated by the kernels' form, the printed formula and MindSpore's "
        "CPU kernel, and a sparse step on a 5x3 table with a duplicate index.",
    )
    demo.set_defaults(run=_demo)

    gen = command(
        "generate",
        "write a conformance-vector suite",
        "Write a conformance-vector suite (manifest.json and cases/) to a folder. Generation is "
        "deterministic: every machine writes the same bytes. An existing suite is replaced in one "
        "rename; a folder that is not empty and holds no suite is refused unless --force.",
    )
    gen.add_argument(
        "--out", metavar="DIR", default="conformance_vectors", help="folder to write (default: %(default)s)"
    )
    gen.add_argument(
        "--suite",
        default="default",
        choices=SUITE_NAMES,
        help="smoke: 10 cases; default: the committed 354; full: 2832 larger ones (default: %(default)s)",
    )
    gen.add_argument(
        "--force",
        action="store_true",
        help="replace DIR even if it is not empty and holds no suite (default: off)",
    )
    gen.set_defaults(run=_generate)

    ver = command(
        "verify",
        "check an implementation against a suite",
        "Check a Python kernel, an optimizer factory, a harness's results folder or (by default) the "
        "engine itself against a suite. A kernel is any callable f(var, accum, lr, l1, l2, grad) or "
        "f(..., grad, indices); it receives only the keywords its signature accepts (prox_step, "
        "emulate, duplicates). Cases it cannot express are counted as not applicable, never as "
        "failures. --profile, --prox-step and --duplicates select cases and declare what the "
        "candidate computes where its signature does not say. Exit status 0 when every case that "
        "ran passed and at least one ran, 1 on a failure, 2 on a usage error.",
    )
    ver.add_argument(
        "dir",
        nargs="?",
        default="conformance_vectors",
        help="suite folder, or a suite name (smoke, default, full) generated once into the user's "
        "cache (default: %(default)s)",
    )
    who = ver.add_mutually_exclusive_group()
    who.add_argument(
        "--candidate",
        metavar="MODULE:FUNC",
        help="the implementation: a kernel (dense with 6 positional parameters, sparse with 7), an "
        "optimizer factory with ProximalAdagrad's signature (a class, 'optim' in its name, or "
        "--op optimizer), or an object with dense/sparse/optimizer attributes (default: the engine)",
    )
    who.add_argument(
        "--results",
        metavar="RESULTS_DIR",
        help="outputs written by a harness in another language, same format (default: none)",
    )
    ver.add_argument(
        "--strict",
        action="store_true",
        help="compare every case bit for bit, BOUND cases too (default: off; on for the engine)",
    )
    crx = command(
        "crosscheck",
        "run an installed framework against a suite",
        "Run TensorFlow's or MindSpore's CPU kernels (imported here) on the suite's cases of that "
        "framework's profile (bit for bit), or on the exact profile's cases (within the bound) when "
        "the suite has none. Exit status 3 when the framework cannot be imported.",
    )
    crx.add_argument(
        "dir", nargs="?", default="conformance_vectors", help="suite folder (default: %(default)s)"
    )
    crx.add_argument(
        "--framework", required=True, choices=("tensorflow", "mindspore"), help="the framework (required)"
    )
    for sub in (ver, crx):
        sub.add_argument(
            "--op",
            choices=("dense", "sparse", "optimizer"),
            help="only cases of this op; for --candidate also the op FUNC implements (default: all)",
        )
    ver.add_argument(
        "--profile",
        choices=PROFILES,
        help="only cases of this profile; declares the profile a candidate without emulate= computes "
        "(default: all; such a candidate is taken to compute exact)",
    )
    ver.add_argument(
        "--prox-step",
        choices=("adaptive", "fixed"),
        help="only cases of this form; declares the form a candidate without prox_step= computes "
        "(default: all; such a candidate is taken to compute adaptive, the kernels' form)",
    )
    ver.add_argument(
        "--duplicates",
        choices=("sum", "sequential", "error"),
        help="only sparse cases of this duplicates policy; declares the policy of a sparse candidate "
        "without duplicates= (default: all; such a candidate is taken to sum)",
    )
    ver.add_argument("--dtype", choices=FLOATS, help="only cases of this parameter dtype (default: all)")
    ver.add_argument(
        "--case", metavar="ID", help="only the case with this id (what a repro line uses; default: all)"
    )
    for sub in (ver, crx):
        _add_output_options(sub)
    ver.set_defaults(run=_verify)
    crx.set_defaults(run=_crosscheck)

    exp = command(
        "explain",
        "trace one element's update through every profile",
        "Trace one element's update through every profile: each intermediate value as decimal and "
        "bits, and where two profiles first differ. Give the element's values, or take it from a case.",
    )
    for name, meaning in (
        ("var", "parameter w (required without --case)"),
        ("accum", "accumulator a >= 0 (required without --case)"),
        ("grad", "gradient g (required without --case)"),
        ("lr", "learning rate (required without --case)"),
        ("l1", "l1 strength (default: 0)"),
        ("l2", "l2 strength (default: 0)"),
    ):
        exp.add_argument(f"--{name}", metavar="X", help=f"{meaning}; decimal or hex float")
    exp.add_argument(
        "--dtype", choices=("float16", "float32", "float64"), help="parameter dtype (default: float32)"
    )
    exp.add_argument(
        "--case", metavar="DIR/ID", help="take the element from a vector case file (default: none)"
    )
    exp.add_argument(
        "--index", type=int, metavar="K", help="flat index of the element in the case (required with --case)"
    )
    exp.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: %(default)s)"
    )
    exp.set_defaults(run=_explain)
    return parser


def _silence_stdout() -> None:
    """Point the standard output at the null device (its reader went away): no error at exit."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``proxadagrad-ref``: run one subcommand and return its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        code = int(args.run(args))
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        print("proxadagrad-ref: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head`: the reader has what it wanted
        _silence_stdout()
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
