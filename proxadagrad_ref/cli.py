"""Command line: ``proxadagrad-ref``.

``proxadagrad-ref demo`` prints a dense and a sparse step and the difference
between the printed formula and what the framework kernels compute.
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
    print(f"one coordinate (float32): w={w[0]:.9g}, accum={a[0]:.9g}, grad={g[0]:.9g}, lr={lr}, l1={l1}, l2={l2}")
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
        print(f"  row {i} ({touched:>9}): {np.array2string(new[i], precision=6)}  accum {np.array2string(new_acc[i], precision=4)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``proxadagrad-ref`` argument parser."""
    parser = argparse.ArgumentParser(prog="proxadagrad-ref", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="print a dense and a sparse step")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``proxadagrad-ref``."""
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
