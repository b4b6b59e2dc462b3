"""Command line: ``proxadagrad-ref``.

``demo``        print a dense and a sparse step and the difference between the
                printed formula and what the framework kernels compute;
``generate``    write a conformance-vector suite (``--out DIR --suite NAME``);
``verify``      check the engine, a Python callable (``--candidate MODULE:FUNC``)
                or a harness's results folder (``--results DIR``) against a suite;
``crosscheck``  run an installed framework (TensorFlow, MindSpore) against a suite;
``explain``     trace one element's update through every profile: each intermediate value
                as decimal and bits, and where two profiles first differ.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from . import __version__, apply_proximal_adagrad, sparse_apply_proximal_adagrad


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


def _progress(done: int, total: int, case_id: str) -> None:
    if sys.stderr.isatty() or done == total or done % 50 == 0:
        end = "\n" if done == total else "\r" if sys.stderr.isatty() else "\n"
        print(f"  [{done}/{total}] {case_id[:70]:<70}", end=end, file=sys.stderr, flush=True)


def _generate(args: argparse.Namespace) -> int:
    from .vectors.generator import generate

    try:
        summary = generate(args.out, args.suite, progress=_progress)
    except OSError as exc:  # unwritable or impossible --out: a message, not a traceback
        print(f"proxadagrad-ref generate: cannot write {args.out!r}: {exc}", file=sys.stderr)
        return 2
    parts = ", ".join(f"{k} {v}" for k, v in sorted(summary["by_op_profile"].items()))
    print(
        f"wrote suite {summary['suite']!r} to {summary['out']}: {summary['cases']} cases, "
        f"{summary['bytes']} bytes ({parts})"
    )
    return 0


def _finish(report: object, args: argparse.Namespace) -> int:
    from .vectors.verifier import VerifyReport, write_report

    assert isinstance(report, VerifyReport)
    print(report.table())
    if args.report:
        write_report(report, args.report)
        print(f"report written to {args.report}")
    if not report.results:
        print("no case matched the filters", file=sys.stderr)
        return 2
    return 0 if report.passed else 1


def _verify(args: argparse.Namespace) -> int:
    from .vectors.candidates import load_candidate
    from .vectors.format import FormatError
    from .vectors.verifier import verify

    try:
        candidate = load_candidate(args.candidate, args.op) if args.candidate else None
        report = verify(
            args.dir,
            candidate=candidate,
            results=args.results,
            op=args.op,
            prox_step=args.prox_step,
            profile=args.profile,
            dtype=args.dtype,
            strict=True if args.strict else None,
        )
    except (FormatError, ValueError) as exc:
        print(f"proxadagrad-ref verify: {exc}", file=sys.stderr)
        return 2
    return _finish(report, args)


def _crosscheck(args: argparse.Namespace) -> int:
    from .vectors.format import FormatError
    from .vectors.frameworks import FrameworkUnavailable, crosscheck

    try:
        report = crosscheck(args.dir, args.framework, op=args.op)
    except FrameworkUnavailable as exc:
        print(f"proxadagrad-ref crosscheck: {exc}", file=sys.stderr)
        return 3
    except FormatError as exc:
        print(f"proxadagrad-ref crosscheck: {exc}", file=sys.stderr)
        return 2
    return _finish(report, args)


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
    except (FormatError, ValueError, TypeError) as exc:
        print(f"proxadagrad-ref explain: {exc}", file=sys.stderr)
        return 2
    print(to_json(report) if args.format == "json" else format_text(report))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``proxadagrad-ref`` argument parser."""
    parser = argparse.ArgumentParser(prog="proxadagrad-ref", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="print a dense and a sparse step")
    demo.set_defaults(run=_demo)

    gen = commands.add_parser("generate", help="write a conformance-vector suite")
    gen.add_argument(
        "--out", default="conformance_vectors", help="folder to (re)write (default: %(default)s)"
    )
    gen.add_argument("--suite", default="default", choices=("smoke", "default", "full"))
    gen.set_defaults(run=_generate)

    ver = commands.add_parser("verify", help="verify an implementation against a suite")
    ver.add_argument("dir", help="suite folder (with manifest.json)")
    who = ver.add_mutually_exclusive_group()
    who.add_argument(
        "--candidate",
        metavar="MODULE:FUNC",
        help="Python kernel (dense, or sparse if 'sparse' is in its name), optimizer factory with "
        "ProximalAdagrad's signature (a class, 'optim' in its name, or --op optimizer), or an object "
        "with dense/sparse/optimizer attributes",
    )
    who.add_argument("--results", metavar="RESULTS_DIR", help="outputs written by a harness, same format")
    ver.add_argument("--strict", action="store_true", help="compare every case bit for bit (EXACT)")
    crx = commands.add_parser("crosscheck", help="run an installed framework against a suite")
    crx.add_argument(
        "dir", nargs="?", default="conformance_vectors", help="suite folder (default: %(default)s)"
    )
    crx.add_argument("--framework", required=True, choices=("tensorflow", "mindspore"))
    for sub in (ver, crx):
        sub.add_argument("--op", choices=("dense", "sparse", "optimizer"))
        sub.add_argument("--report", metavar="FILE", help="write a JSON report")
    ver.add_argument("--prox-step", choices=("adaptive", "fixed"))
    ver.add_argument("--profile", choices=("exact", "mindspore", "tensorflow"))
    ver.add_argument("--dtype", choices=("float16", "float32", "float64", "bfloat16"))
    ver.set_defaults(run=_verify)
    crx.set_defaults(run=_crosscheck)

    exp = commands.add_parser("explain", help="trace one element's update through every profile")
    for name, meaning in (
        ("var", "parameter w"),
        ("accum", "accumulator a (>= 0)"),
        ("grad", "gradient g"),
        ("lr", "learning rate"),
        ("l1", "l1 strength (default 0)"),
        ("l2", "l2 strength (default 0)"),
    ):
        exp.add_argument(f"--{name}", metavar="X", help=f"{meaning}: decimal or hex float")
    exp.add_argument(
        "--dtype", choices=("float16", "float32", "float64"), help="parameter dtype (default float32)"
    )
    exp.add_argument("--case", metavar="DIR/ID", help="take the element from a vector case")
    exp.add_argument("--index", type=int, metavar="K", help="flat index of the element in the case")
    exp.add_argument("--format", choices=("text", "json"), default="text")
    exp.set_defaults(run=_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``proxadagrad-ref``."""
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
