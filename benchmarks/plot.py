"""Draw `benchmarks/run.py --json` output: `python benchmarks/plot.py results.json docs/_static/scaling.png`.

Left: ns per element of the in-place float32 step against array size, per
profile and engine, with the memory floor (5 array passes) for reference.
Right: the sparse step's time against touched rows (1 Mi x 64 float32 table).
Needs matplotlib (the ``docs`` extra).
"""

from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", help="JSON written by benchmarks/run.py --json")
    parser.add_argument("png", help="image to write")
    args = parser.parse_args()
    with open(args.results) as f:
        results = json.load(f)

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    scaling = results["scaling"]
    for profile, engine, style in (("exact", "numba", "o-"), ("mindspore", "numba", "s-"),
                                   ("exact", "numpy", "o--"), ("mindspore", "numpy", "s--")):
        pts = [r for r in scaling if r["profile"] == profile and r["engine"] == engine]
        if pts:
            left.plot([r["n"] for r in pts], [r["ms"] * 1e6 / r["n"] for r in pts], style,
                      label=f"{profile}, {engine}")
    floor = {r["n"]: r["ms"] / r["ratio"] for r in scaling if r["profile"] == "exact"}
    sizes = sorted(floor)
    left.plot(sizes, [floor[n] * 1e6 / n for n in sizes], "k:", label="memory floor (5 passes)")
    left.set(xscale="log", yscale="log", xlabel="elements (float32)", ylabel="ns per element",
             title="dense in-place step")
    left.legend(fontsize=8)

    sparse = [r for r in results["sparse"] if r["case"] == "unique"]
    right.plot([r["rows"] for r in sparse], [r["ms"] for r in sparse], "o-", label="unique rows")
    labels = {"dup50": "50 % duplicates, sum", "csr": "scipy.sparse CSR",
              "tensorflow": "TensorFlow 2.21 (same run)"}
    for case, marker in (("dup50", "^"), ("csr", "D"), ("tensorflow", "x")):
        pts = [r for r in results["sparse"] if r["case"] == case]
        if pts:
            right.plot([r["rows"] for r in pts], [r["ms"] for r in pts], marker, label=labels[case])
    right.set(xscale="log", yscale="log", xlabel="touched rows (of 1 Mi x 64 float32)", ylabel="ms",
              title="sparse in-place step")
    right.legend(fontsize=8)
    fig.suptitle(results.get("machine", ""), fontsize=7)
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)


if __name__ == "__main__":
    main()
