"""Check an implementation against a suite: per-case pass/fail, worst error in ulps and in bound units.

Compliance modes (``compliance.mode`` of each case, see ``docs/conformance.md``):

``EXACT``
    Every output bit equals the expected bit, signed zeros included; a NaN
    matches any NaN (payloads are not compared).
``BOUND``
    ``|out - expected| <= 2 B`` per element, with ``B`` the forward error bound
    of :mod:`.bound` (the expected output is itself one correct implementation,
    so both lie within ``B`` of the real result). FP_SPECIAL rules: a NaN must be
    matched by a NaN, an infinity by the same infinity, a finite value by a
    finite value; the sign of a zero is not compared; where ``a + g*g`` may
    overflow the dtype, ``accum_out = +inf`` and the ``var_out`` of a step with
    ``a' = inf`` (``eta = 0``) are accepted too. Elements whose bound is infinite
    (the accumulator underflows so the step is not determined in the dtype) are
    counted as *unconstrained*.
``ERROR``
    The case expects the call to fail (``expect_error``: ``duplicates="error"``
    with duplicate indices); it passes when the candidate raises.

Trajectories (``op: "optimizer"``) are compared step by step: ``EXACT`` bit for
bit; ``BOUND`` within the chained tolerance of
:func:`~.trajectory.trajectory_tolerance`.

A candidate is a plain callable (the protocol is in :mod:`.candidates`); a
case it cannot express is *not applicable*: counted by reason in the report,
never run, never a failure.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shlex
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .bound import arith_for, gamma, step_bound
from .candidates import Candidate, Declared, as_candidate, call_case, engine_candidate, hyper_values
from .candidates import not_applicable as _not_applicable
from .format import Case, FormatError, read_manifest, read_results, read_suite
from .trajectory import run_trajectory, trajectory_tolerance

__all__ = [
    "MODES",
    "CaseResult",
    "VerifyReport",
    "case_bound",
    "compare",
    "plain",
    "rerun_command",
    "run_case",
    "select",
    "verify",
    "write_report",
]

MODES: dict[str, str] = {
    "EXACT": "every bit (a NaN matches any NaN)",
    "BOUND": "within 2B, the derived error bound (worst/bound <= 1 passes)",
    "ERROR": "the call must raise (duplicates='error' with duplicate indices)",
}
MAX_ELEMENTS_SHOWN = 3  # differing elements reported per output of a failing case


def plain(x: Any) -> str:
    """A number as people write it: ``0.61515063`` (shortest round trip in its own dtype), ``-0.0``, ``nan``.

    Examples
    --------
    >>> plain(np.float32(0.1)), plain(np.float16(1e-7)), plain(2.5), plain(np.float64(np.inf))
    ('0.1', '1e-07', '2.5', 'inf')

    """
    if isinstance(x, np.generic) and x.dtype.kind == "f":
        return str(x)
    if isinstance(x, np.generic):
        return str(x.item())
    if isinstance(x, float):
        return repr(x)
    return str(x)


def _bits(x: np.generic) -> str:
    arr = np.asarray(x)
    return f"0x{int(arr.view(f'u{arr.dtype.itemsize}')):0{2 * arr.dtype.itemsize}X}"


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


@dataclass
class CaseResult:
    """Outcome of one case.

    ``repro`` reruns the candidate on this case (a command line, or a Python
    call when the candidate cannot be imported by name); ``rebuild`` is the
    case's own ``repro`` line, which rebuilds it with the engine. ``details``
    lists the first differing elements of a failing case: output name, index,
    got and expected (plain decimals and bits), ulps, the bound (``2B``, BOUND
    mode) and the element's inputs.
    """

    id: str
    op: str
    profile: str
    prox_step: str
    dtype: str
    mode: str
    passed: bool
    worst_ulps: float = 0.0
    worst_bound: float = 0.0
    failures: int = 0
    unconstrained: int = 0
    message: str = ""
    repro: str = ""
    rebuild: str = ""
    elements: int = 0
    hyper: dict[str, str] = field(default_factory=dict)
    details: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class VerifyReport:
    """All case outcomes of one verification run.

    ``results`` holds the cases that ran; ``not_applicable`` the ``(id,
    reason)`` of the cases the candidate cannot express (never run, never
    failures); ``filtered_out`` counts the cases the filters left out.
    """

    candidate: str
    suite: str
    results: list[CaseResult] = field(default_factory=list)
    not_applicable: list[tuple[str, str]] = field(default_factory=list)
    filtered_out: int = 0
    filters: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    folder: str = ""

    @property
    def passed(self) -> bool:
        """True when at least one case ran and none failed."""
        return bool(self.results) and all(r.passed for r in self.results)

    def failed(self) -> list[CaseResult]:
        """The failing cases."""
        return [r for r in self.results if not r.passed]

    def not_applicable_counts(self) -> dict[str, int]:
        """Number of not-applicable cases per reason, most frequent first."""
        counts: dict[str, int] = {}
        for _, reason in self.not_applicable:
            counts[reason] = counts.get(reason, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per (op, profile, dtype): cases, passed, failed, modes, worst error in bound units."""
        groups: dict[tuple[str, str, str], list[CaseResult]] = {}
        for r in self.results:
            groups.setdefault((r.op, r.profile, r.dtype), []).append(r)
        rows = []
        for (op, profile, dtype), rs in sorted(groups.items()):
            bound = [r.worst_bound for r in rs if r.mode == "BOUND"]
            rows.append(
                {
                    "op": op,
                    "profile": profile,
                    "dtype": dtype,
                    "modes": sorted({r.mode for r in rs}),
                    "cases": len(rs),
                    "passed": sum(r.passed for r in rs),
                    "failed": sum(not r.passed for r in rs),
                    "worst_bound": _finite_or_none(max(bound)) if bound else None,
                }
            )
        return rows

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dictionary (``--report`` and ``--format json``)."""

        def clean(x: Any) -> Any:
            return None if isinstance(x, float) and not np.isfinite(x) else x

        return {
            "candidate": self.candidate,
            "suite": self.suite,
            "folder": self.folder,
            "filters": dict(self.filters),
            "passed": self.passed,
            "cases": len(self.results),
            "failures": len(self.failed()),
            "not_applicable": self.not_applicable_counts(),
            "not_applicable_cases": [{"id": i, "reason": r} for i, r in self.not_applicable],
            "filtered_out": self.filtered_out,
            "modes": dict(MODES),
            "notes": list(self.notes),
            "worst_bound": clean(max((r.worst_bound for r in self.results), default=0.0)),
            "summary": self.summary_rows(),
            "results": [{k: clean(v) for k, v in asdict(r).items()} for r in self.results],
        }

    def summary_lines(self) -> list[str]:
        """The summary table: one line per (op, profile, dtype), then what each mode means."""
        head = (
            f"{'op':<10} {'profile':<10} {'dtype':<8} {'modes':<12} {'cases':>5} {'passed':>6} "
            f"{'failed':>6} {'worst/bound':>11}"
        )
        lines = [head]
        for row in self.summary_rows():
            worst = row["worst_bound"]
            shown = "-" if "BOUND" not in row["modes"] else ("inf" if worst is None else f"{worst:.3g}")
            lines.append(
                f"{row['op']:<10} {row['profile']:<10} {row['dtype']:<8} {'+'.join(row['modes']):<12} "
                f"{row['cases']:>5} {row['passed']:>6} {row['failed']:>6} {shown:>11}"
            )
        modes = sorted({r.mode for r in self.results})
        lines += [f"  {m}: {MODES[m]}" for m in modes]
        return lines

    def closing_line(self) -> str:
        """``N passed, N failed[, N not applicable] (candidate on suite)``."""
        fails = len(self.failed())
        na = f", {len(self.not_applicable)} not applicable" if self.not_applicable else ""
        return f"{len(self.results) - fails} passed, {fails} failed{na} ({self.candidate} on {self.suite})"

    def format_text(self, *, verbose: bool = False, quiet: bool = False) -> str:
        """The report people read (the CLI's output).

        Default: the summary by op/profile/dtype, the not-applicable counts by
        reason, for each failing case its first differing element per output
        with its inputs, a ``repro`` line that reruns the candidate on it and a
        ``rebuild`` line that rebuilds the case with the engine, and the
        closing count. `verbose` adds one row per case and shows up to
        :data:`MAX_ELEMENTS_SHOWN` elements per output; `quiet` keeps the
        failures and the closing line only.
        """
        lines: list[str] = []
        if verbose:
            lines += [*self._case_rows(), ""]
        if not quiet:
            lines += self.summary_lines()
            counts = self.not_applicable_counts()
            if counts:
                lines += ["", f"not applicable ({len(self.not_applicable)} cases, not run):"]
                lines += [f"  {n:>5}  {reason}" for reason, n in counts.items()]
                if any("declare:" in reason for reason in counts):
                    lines.append(
                        "  (a declaration also selects: the candidate then runs on those cases only;"
                        "\n   in Python: profile=, prox_step=, duplicates=)"
                    )
            if self.filtered_out:
                shown = ", ".join(f"{k}={v}" for k, v in self.filters.items())
                lines.append(f"left out by the filters ({shown}): {self.filtered_out} cases")
            lines += [f"note: {n}" for n in self.notes]
        for r in self.failed():
            lines += ["", *_failure_lines(r, MAX_ELEMENTS_SHOWN if verbose else 1)]
        lines += ["", self.closing_line()]
        return "\n".join(lines).lstrip("\n")

    def _case_rows(self) -> list[str]:
        head = f"{'result':<6} {'worst ulps':>11} {'worst/bound':>11} {'mode':<5} case"
        lines = [head, "-" * len(head)]
        for r in self.results:
            ulps = f"{r.worst_ulps:11.3g}" if np.isfinite(r.worst_ulps) else f"{'inf':>11}"
            if r.mode != "BOUND":
                bnd = f"{'-':>11}"
            else:
                bnd = f"{r.worst_bound:11.3g}" if np.isfinite(r.worst_bound) else f"{'inf':>11}"
            extra = f"  [{r.message}]" if r.message else ""
            lines.append(f"{'PASS' if r.passed else 'FAIL':<6} {ulps} {bnd} {r.mode:<5} {r.id}{extra}")
        return lines

    def table(self) -> str:
        """The verbose text: one line per case, the summary, and each failure with its repro line."""
        return self.format_text(verbose=True)


def _num(x: float | None) -> str:
    """A measure for a report line: three significant digits, ``inf`` for None (not finite)."""
    return "inf" if x is None or not np.isfinite(x) else f"{x:.3g}"


def _failure_lines(r: CaseResult, elements: int) -> list[str]:
    """A failing case: what differs, its first `elements` differing elements per output, repro lines."""
    lines = [f"FAIL {r.id} ({r.mode}): {r.message}"]
    if r.hyper:
        lines.append("  " + ", ".join(f"{k} {v}" for k, v in r.hyper.items()))
    shown: dict[str, int] = {}
    for d in r.details:
        shown[d["output"]] = shown.get(d["output"], 0) + 1
        if shown[d["output"]] > elements:
            continue
        where = f"{d['output']}{d['index']}"
        if d.get("bound") is not None:
            size = f"{_num(d['ulps'])} ulps, {_num(d['bound_units'])} x the bound 2B = {_num(d['bound'])}"
        else:
            size = f"{_num(d['ulps'])} ulps; bits {d['got_bits']}, expected {d['expected_bits']}"
        lines.append(f"  {where}: got {d['got']}, expected {d['expected']} ({size})")
        if d.get("inputs"):
            lines.append("      inputs: " + ", ".join(f"{k} {v}" for k, v in d["inputs"].items()))
    if r.repro:
        lines.append(f"  repro:   {r.repro}")
    if r.rebuild and r.rebuild != r.repro:
        lines.append(f"  rebuild: {r.rebuild}")
    return lines


def _flush(x: np.ndarray, dtype: Any) -> np.ndarray:
    tiny = np.finfo(dtype).smallest_normal
    return np.where(np.abs(x) < tiny, np.copysign(0.0, x), x)


def case_bound(case: Case) -> dict[str, np.ndarray]:
    """Per-element real results and bounds ``Bw``, ``Ba`` of a case (shape of ``var``)."""
    inp = {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in case.group("inputs").items()}
    dtype = case.group("inputs")["var"].dtype
    ftz = case.meta["compliance"]["fp_special"] == "tensorflow"
    arith = arith_for(dtype, flush_to_zero=ftz, k=float(case.meta["compliance"]["sqrt_ulps"]))
    lr, l1, l2 = hyper_values(case)
    adaptive = case.meta["prox_step"] == "adaptive"
    if ftz:
        inp = {k: _flush(v, dtype) if v.dtype.kind == "f" else v for k, v in inp.items()}
    w, a = inp["var"], inp["accum"]

    def step(w_: Any, a_: Any, g_: Any, **e: Any) -> dict[str, Any]:
        return step_bound(w_, a_, g_, lr, l1, l2, adaptive=adaptive, arith=arith, **e)

    if case.meta["op"] == "dense":
        r = step(w, a, inp["grad"])
        return {"Bw": r["Bw"], "Ba": r["Ba"], "a_overflow": r["a_overflow"]}
    Bw, Ba = np.zeros_like(w), np.zeros_like(w)
    overflow = np.zeros(w.shape, bool)
    fmt = case.meta["options"].get("grad_format", "rows")
    dup = case.meta["options"].get("duplicates", "sum")
    contributions: dict[int, list[np.ndarray]] = {}
    if fmt == "rows":
        for i, row in zip(inp["indices"].tolist(), inp["grad"], strict=True):
            contributions.setdefault(int(i), []).append(row)
    else:
        if fmt == "csr":
            ptr = inp["grad_indptr"]
            rows_of: Any = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
            cols = inp["grad_indices"]
        else:
            rows_of, cols = inp["grad_row"], inp["grad_col"]
        for r_, c_, v_ in zip(rows_of.tolist(), cols.tolist(), inp["grad_data"], strict=True):
            entry = np.zeros((2, w.shape[1]))
            entry[0, c_] = v_  # one entry; several entries of a row are summed like duplicates
            contributions.setdefault(int(r_), []).append(entry[0])
        dup = "sum"
    for i, rows in sorted(contributions.items()):
        if dup == "sequential":
            wi, ai, ew, ea = w[i], a[i], np.zeros_like(w[i]), np.zeros_like(w[i])
            for g in rows:
                r = step(wi, ai, g, Ew=ew, Ea=ea)
                wi, ai, ew, ea = r["w_new"], r["a_new"], r["Bw"], r["Ba"]
                overflow[i] |= r["a_overflow"]
        else:
            stack = np.stack(rows)
            g = stack.sum(axis=0)
            eg = gamma(len(rows) - 1, arith.u) * np.abs(stack).sum(axis=0) if len(rows) > 1 else 0.0
            r = step(w[i], a[i], g, Eg=eg)
            ew, ea = r["Bw"], r["Ba"]
            overflow[i] = r["a_overflow"]
        Bw[i], Ba[i] = ew, ea
    return {"Bw": Bw, "Ba": Ba, "a_overflow": overflow}


def _difference(exp: np.ndarray, got: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both outputs in float64, where both are NaN, and ``|got - exp|`` (0 if equal or both NaN; NaN: inf)."""
    e, c = exp.astype(np.float64), got.astype(np.float64)
    both_nan = np.isnan(e) & np.isnan(c)
    diff = np.where(both_nan | (e == c), 0.0, np.abs(c - e))
    return e, c, both_nan, np.where(np.isnan(diff), np.inf, diff)


def _ulps(diff: np.ndarray, expected: np.ndarray) -> np.ndarray:
    spacing = np.spacing(np.abs(expected.astype(expected.dtype)).astype(expected.dtype)).astype(np.float64)
    return np.where(diff == 0, 0.0, np.where(spacing > 0, diff / np.where(spacing > 0, spacing, 1.0), np.inf))


def _new_result(case: Case, mode: str) -> CaseResult:
    meta = case.meta
    return CaseResult(
        meta["id"],
        meta["op"],
        meta["profile"],
        meta["prox_step"],
        meta["dtype"],
        mode,
        True,
        repro=meta.get("repro", ""),
        rebuild=meta.get("repro", ""),
    )


def _where(case: Case, key: str) -> str:
    """``var_out.2.1`` -> ``var_out after step 2 of 'fc.weight'``."""
    name, step, i = key.split(".")
    return f"{name} after step {step} of {case.meta['optimizer']['params'][int(i)]['name']!r}"


def _element_inputs(case: Case, at: tuple[int, ...]) -> dict[str, str]:
    """The inputs that element `at` of a kernel case's ``var`` depends on, as plain decimals."""
    inp = case.group("inputs")
    out = {"var": plain(inp["var"][at]), "accum": plain(inp["accum"][at])}
    if case.meta["op"] == "dense":
        out["grad"] = plain(inp["grad"][at])
    else:
        row, col = at[0], at[1:]
        fmt = case.meta["options"].get("grad_format", "rows")
        if fmt == "rows":
            rows = [inp["grad"][j][col] for j, i in enumerate(inp["indices"].tolist()) if i == row]
        elif fmt == "csr":
            ptr = inp["grad_indptr"]
            lo, hi = int(ptr[row]), int(ptr[row + 1])
            rows = [
                v
                for c, v in zip(inp["grad_indices"][lo:hi], inp["grad_data"][lo:hi], strict=True)
                if (int(c),) == col
            ]
        else:
            rows = [
                v
                for r_, c, v in zip(inp["grad_row"], inp["grad_col"], inp["grad_data"], strict=True)
                if int(r_) == row and (int(c),) == col
            ]
        out["grad"] = " + ".join(plain(g) for g in rows) if rows else "(row not touched)"
    return out


def _hyper_text(case: Case) -> dict[str, str]:
    """lr, l1, l2 of a kernel case, as plain decimals of the case's dtype (they are exact there)."""
    dtype = case.group("inputs")["var"].dtype
    return {
        k: plain(np.asarray(v, dtype)[()])
        for k, v in zip(("lr", "l1", "l2"), hyper_values(case), strict=True)
    }


def _trajectory_inputs(case: Case, key: str, at: tuple[int, ...]) -> dict[str, str]:
    """For ``var_out.<t>.<i>``: the expected state before step t and the raw gradient at `at`."""
    _, step, i = key.split(".")
    t = int(step)
    inp, exp = case.group("inputs"), case.group("expected")
    before = inp[f"var.{i}"] if t == 0 else exp[f"var_out.{t - 1}.{i}"]
    out = {"var before (expected)": plain(before[at])}
    if t > 0:
        out["accum before (expected)"] = plain(exp[f"accum_out.{t - 1}.{i}"][at])
    if f"indices.{t}.{i}" not in inp:
        out["raw grad"] = plain(inp[f"grad.{t}.{i}"][at])
    rates = case.meta["optimizer"].get("rates")
    if rates:
        out["lr"] = plain(float.fromhex(rates[t][int(i)]))
    return out


def _details(
    label: str,
    got: np.ndarray,
    exp: np.ndarray,
    bad: np.ndarray,
    ulps: np.ndarray,
    units: np.ndarray | None,
    tol: np.ndarray | None,
    inputs: Callable[[tuple[int, ...]], dict[str, str]],
) -> list[dict[str, Any]]:
    """The first :data:`MAX_ELEMENTS_SHOWN` differing elements of one output."""
    out = []
    for idx in np.argwhere(bad)[:MAX_ELEMENTS_SHOWN]:
        at = tuple(int(i) for i in idx)
        item: dict[str, Any] = {
            "output": label,
            "index": list(at),
            "got": plain(got[at]),
            "expected": plain(exp[at]),
            "got_bits": _bits(got[at]),
            "expected_bits": _bits(exp[at]),
            "ulps": _finite_or_none(float(ulps[at])),
            "bound_units": None,
            "bound": None,
            "inputs": inputs(at),
        }
        if units is not None and tol is not None:
            item["bound_units"] = _finite_or_none(float(units[at]))
            item["bound"] = _finite_or_none(float(tol[at]))
        if item["ulps"] is None:
            item["ulps"] = float("inf")
        out.append(item)
    return out


def _compare_trajectory(case: Case, outputs: dict[str, np.ndarray], strict: bool) -> CaseResult:
    """Every step's parameters and accumulators: bit for bit (EXACT) or within the chained tolerance."""
    mode = "EXACT" if strict else case.meta["compliance"]["mode"]
    res = _new_result(case, mode)
    expected = case.group("expected")
    for key, exp in expected.items():
        got = outputs.get(key)
        if got is None:
            return _fail(res, f"{key} missing")
        if got.dtype != exp.dtype or got.shape != exp.shape:
            return _fail(
                res,
                f"{_where(case, key)}: {got.dtype}{list(got.shape)}, expected {exp.dtype}{list(exp.shape)}",
            )
    tol = trajectory_tolerance(case) if mode == "BOUND" else None
    first: tuple[int, str, list[dict[str, Any]]] | None = None
    with np.errstate(all="ignore"):
        for key, exp in expected.items():
            got = np.asarray(outputs[key])
            res.elements += int(exp.size)
            e, c, both_nan, diff = _difference(exp, got)
            if tol is None:
                bits = f"u{exp.dtype.itemsize}"
                ok = (exp.view(bits) == got.view(bits)) | both_nan
                units = np.where(ok, 0.0, np.inf)
            else:
                units = np.where(diff == 0, 0.0, diff / tol[key])
                ok = np.where(np.isnan(e), np.isnan(c), np.isfinite(c) & (units <= 1))
            bad = ~ok
            ulps = _ulps(diff, exp)
            res.failures += int(bad.sum())
            res.worst_ulps = max(res.worst_ulps, float(np.max(ulps, initial=0.0)))
            res.worst_bound = max(
                res.worst_bound, float(np.max(np.where(np.isnan(units), np.inf, units), initial=0.0))
            )
            if bad.any():
                step = int(key.split(".")[1])
                text = f"first failure: {_where(case, key)} ({int(bad.sum())} of {exp.size} elements)"
                if first is None or step < first[0]:
                    details = _details(
                        _where(case, key),
                        got,
                        exp,
                        bad,
                        ulps,
                        units if tol is not None else None,
                        tol[key] if tol is not None else None,
                        functools.partial(_trajectory_inputs, case, key),
                    )
                    first = (step, text, details)
    if first is not None:
        res.passed = False
        res.message = first[1]
        res.details = first[2]
    return res


def compare(case: Case, outputs: dict[str, np.ndarray], *, strict: bool = False) -> CaseResult:
    """Compare `outputs` with the case's expected outputs under the case's compliance mode."""
    if case.meta["op"] == "optimizer":
        return _compare_trajectory(case, outputs, strict)
    meta = case.meta
    mode = "EXACT" if strict else meta["compliance"]["mode"]
    res = _new_result(case, mode)
    expected = case.group("expected")
    for name, exp in expected.items():
        if name not in outputs:
            return _fail(res, f"{name} missing")
        got = np.asarray(outputs[name])
        if got.dtype != exp.dtype:
            return _fail(res, f"{name} has dtype {got.dtype}, expected {exp.dtype}")
        if got.shape != exp.shape:
            return _fail(res, f"{name} has shape {got.shape}, expected {exp.shape}")
    with np.errstate(all="ignore"):  # special values (inf - inf in a duplicate sum) are the bound's data
        bounds = case_bound(case) if mode == "BOUND" else None
    messages = []
    with np.errstate(all="ignore"):
        for name, exp in expected.items():
            got = np.asarray(outputs[name])
            res.elements += int(exp.size)
            e, c, both_nan, diff = _difference(exp, got)
            ulps = _ulps(diff, exp)
            tol = None
            special = np.zeros(exp.shape, bool)  # accepted by an FP_SPECIAL rule or unconstrained
            if bounds is None:
                same_bits = exp.view(f"u{exp.dtype.itemsize}") == got.view(f"u{exp.dtype.itemsize}")
                ok = same_bits | both_nan
                units = np.where(ok, 0.0, np.inf)
            else:
                tol = 2.0 * (bounds["Bw"] if name == "var_out" else bounds["Ba"])
                unconstrained = np.isinf(tol) & np.isfinite(e)
                units = np.where(diff == 0, 0.0, diff / np.where(tol > 0, tol, 0.0))
                units = np.where(unconstrained, 0.0, units)
                ok = np.where(
                    np.isnan(e), np.isnan(c), np.where(np.isinf(e), c == e, np.isfinite(c) & (units <= 1))
                )
                ok |= unconstrained
                if name == "accum_out":
                    ok |= bounds["a_overflow"] & (c == np.inf)
                else:
                    alt = _eta_zero(case)
                    alt_ok = np.abs(c - alt) <= 8 * np.finfo(exp.dtype).eps * np.abs(alt) + bounds_tiny(
                        exp.dtype
                    )
                    ok |= bounds["a_overflow"] & alt_ok
                res.unconstrained += int(unconstrained.sum())
                special = unconstrained | (ok & ~(units <= 1))
                units = np.where(ok & ~(units <= 1), 0.0, units)  # accepted by an FP_SPECIAL rule
            bad = ~ok
            res.failures += int(bad.sum())
            res.worst_ulps = max(res.worst_ulps, float(np.max(np.where(special, 0.0, ulps), initial=0.0)))
            res.worst_bound = max(res.worst_bound, float(np.max(units, initial=0.0)))
            if bad.any():
                messages.append(f"{name}: {int(bad.sum())} of {exp.size} elements differ")
                res.details += _details(
                    name,
                    got,
                    exp,
                    bad,
                    ulps,
                    units if tol is not None else None,
                    tol,
                    lambda at: _element_inputs(case, at),
                )
    if messages:
        res.passed = False
        res.message = "; ".join(messages)
        res.hyper = _hyper_text(case)
    elif res.unconstrained:
        res.message = f"{res.unconstrained} unconstrained elements"
    return res


def bounds_tiny(dtype: Any) -> float:
    """Absolute slack of the overflow alternative: a few smallest normals."""
    return 4 * float(np.finfo(dtype).smallest_normal)


def _eta_zero(case: Case) -> np.ndarray:
    """``var_out`` of a step whose accumulator overflowed to +inf (``eta = 0``), in float64."""
    from .. import apply_proximal_adagrad

    inp = case.group("inputs")
    w = inp["var"].astype(np.float64)
    if case.meta["op"] != "dense":
        return np.full(w.shape, np.nan)
    lr, l1, l2 = hyper_values(case)
    with np.errstate(all="ignore"):
        out, _ = apply_proximal_adagrad(
            w,
            np.full_like(w, np.inf),
            lr,
            l1,
            l2,
            inp["grad"].astype(np.float64),
            prox_step=case.meta["prox_step"],
        )
    return np.asarray(out)


def _fail(res: CaseResult, message: str) -> CaseResult:
    res.passed, res.message, res.failures = False, message, res.failures + 1
    res.worst_bound = res.worst_ulps = float("inf")
    return res


def select(
    cases: Iterable[Case],
    *,
    op: str | None = None,
    prox_step: str | None = None,
    profile: str | None = None,
    dtype: str | None = None,
    duplicates: str | None = None,
    case: str | None = None,
) -> Iterator[Case]:
    """The cases matching the filters (None matches everything; `case` is one case id)."""
    for c in cases:
        m = c.meta
        if (
            (op is None or m["op"] == op)
            and (prox_step is None or m["prox_step"] == prox_step)
            and (profile is None or m["profile"] == profile)
            and (dtype is None or m["dtype"] == dtype)
            and (duplicates is None or m["options"].get("duplicates", duplicates) == duplicates)
            and (case is None or m["id"] == case)
        ):
            yield c


def run_case(
    case: Case,
    candidate: Candidate | None = None,
    *,
    results: Path | str | None = None,
    strict: bool = False,
) -> CaseResult:
    """Run one case: call `candidate` (or read its output from the `results` folder) and compare.

    A candidate that raises is a failure reported with its exception, unless the
    case expects an error (``ERROR`` mode). Applicability is not checked here
    (:func:`verify` does it, see :func:`.candidates.not_applicable`).
    """
    meta = case.meta
    expect_error = meta.get("expect_error")
    error: str | None = None
    outputs: dict[str, np.ndarray] = {}
    if results is not None:
        try:
            outputs, error = read_results(Path(results), case.id)
        except FormatError as exc:
            return _fail(_new_result(case, meta["compliance"]["mode"]), str(exc))
    else:
        if candidate is None:
            raise ValueError("run_case needs a candidate or a results folder")
        func = candidate.for_op(meta["op"])
        if func is None:
            raise LookupError(meta["op"])
        try:
            if meta["op"] == "optimizer":
                outputs = run_trajectory(func, case, pass_profile=candidate.pass_profile)
            else:
                outputs = call_case(func, case, pass_profile=candidate.pass_profile)
        except Exception as exc:  # a candidate may raise anything; it is reported, not re-raised
            error = f"{type(exc).__name__}: {exc}"
    if expect_error or error is not None:
        res = _new_result(case, "ERROR" if expect_error else meta["compliance"]["mode"])
        if expect_error and error is None:
            return _fail(res, f"expected an error ({expect_error}), the call succeeded")
        if not expect_error:
            return _fail(res, f"raised {error}")
        return res
    return compare(case, outputs, strict=strict)


def _cache_root() -> Path:
    """Where named suites are generated: ``$PROXADAGRAD_REF_CACHE``, else the user's cache folder."""
    env = os.environ.get("PROXADAGRAD_REF_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "proxadagrad_ref"


def _package_fingerprint() -> str:
    """SHA-256 (16 hex digits) of the package's code and data: a changed engine gets a fresh suite."""
    import hashlib

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".npy", ".json") and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


_SUITE_FOLDERS: dict[str, Path] = {}


def suite_folder(name: str) -> Path:
    """The folder of the named suite (``smoke``, ``default``, ``full``), generated once and cached.

    Generation is deterministic (byte-identical on every machine), so the
    suite is written once per package version and content into the user's cache
    folder (``$PROXADAGRAD_REF_CACHE``, else ``$XDG_CACHE_HOME/proxadagrad_ref``
    or ``~/.cache/proxadagrad_ref``) and reused, its checksums verified on
    every read. Where that folder cannot be written, the suite is generated
    into a temporary folder once per process. ``default`` is the suite committed
    as ``conformance_vectors/`` in the source repository.
    """
    from .. import __version__
    from .generator import generate
    from .suites import SUITES

    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
    if name in _SUITE_FOLDERS and (_SUITE_FOLDERS[name] / "manifest.json").is_file():
        return _SUITE_FOLDERS[name]
    folder = _cache_root() / "suites" / f"{name}-{__version__}-{_package_fingerprint()}"
    if not (folder / "manifest.json").is_file():
        try:
            generate(folder, name)
        except OSError:
            if not (folder / "manifest.json").is_file():  # not written by a concurrent process either
                scratch = tempfile.mkdtemp(prefix=f"proxadagrad-{name}-")
                atexit.register(shutil.rmtree, scratch, True)  # once per process, removed at exit
                folder = Path(scratch) / name
                generate(folder, name)
    _SUITE_FOLDERS[name] = folder
    return folder


def resolve_suite(folder_or_suite: Path | str) -> tuple[Path, str]:
    """``(folder, label)``: an existing folder as given, else a suite name's cached folder."""
    from .suites import SUITES

    path = Path(folder_or_suite)
    if path.exists() or str(folder_or_suite) not in SUITES:
        if not path.is_dir():
            raise FormatError(
                f"{path}: not a folder (no such file or folder)"
                if not path.exists()
                else f"{path}: not a folder"
            )
        return path, str(folder_or_suite)
    return suite_folder(str(folder_or_suite)), str(folder_or_suite)


def rerun_command(
    label: str,
    case_id: str,
    op: str,
    candidate: Candidate | None,
    results: str | None,
    declared: dict[str, str],
) -> str:
    """The command that reruns `candidate` (or rereads `results`) on one case of suite `label`, verbosely.

    A candidate that cannot be imported by name (no ``spec``) gets the Python
    call instead. `declared` holds the ``profile``/``prox_step``/``duplicates``
    declarations to repeat.
    """
    words = ["proxadagrad-ref", "verify", label]
    if results is not None:
        words += ["--results", results]
    elif candidate is not None and candidate.spec is None and candidate.name != "proxadagrad_ref":
        return f"verify({label!r}, candidate=<{candidate.name}>, case={case_id!r}).format_text(verbose=True)"
    elif candidate is not None and candidate.spec is not None:
        words += ["--candidate", candidate.spec, "--op", op]
    for key, value in declared.items():
        words += [f"--{key.replace('_', '-')}", value]
    words += ["--case", case_id, "--verbose"]
    return " ".join(shlex.quote(w) for w in words)


def verify(
    folder_or_suite: Path | str = "conformance_vectors",
    *,
    candidate: Any = None,
    results: Path | str | None = None,
    op: str | None = None,
    prox_step: str | None = None,
    profile: str | None = None,
    strict: bool | None = None,
    dtype: str | None = None,
    duplicates: str | None = None,
    case: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> VerifyReport:
    """Verify a candidate (default: the engine itself, bit for bit) or a results folder against a suite.

    Parameters
    ----------
    folder_or_suite : path or str
        A suite folder, or the name of a suite (``"smoke"``, ``"default"``,
        ``"full"``) generated once into the cache (:func:`suite_folder`).
    candidate : callable, Candidate or object, optional
        A plain kernel ``f(var, accum, lr, l1, l2, grad[, indices])``, an
        optimizer factory, an object with ``dense``/``sparse``/``optimizer``
        attributes or a :class:`~.candidates.Candidate`; it receives only the
        keywords its signature accepts (the protocol: :mod:`.candidates`).
    results : path, optional
        A results folder written by a harness, instead of a candidate.
    op, prox_step, profile, dtype, duplicates : str, optional
        Filters; ``profile``, ``prox_step`` and ``duplicates`` also declare what
        a candidate implements where its signature does not say.
    strict : bool, optional
        Compare every case bit for bit (default for the engine itself).
    case : str, optional
        Run this one case (its id).
    progress : callable, optional
        Called as ``progress(done, total, case_id)`` after each case of the suite.

    Returns
    -------
    VerifyReport
        Cases the candidate cannot express are listed as not applicable, never
        run and never failures; ``report.passed`` needs at least one case run.

    Examples
    --------
    A candidate with the dense kernel's positional signature and no keyword
    (the plain kernel of :func:`proxadagrad_ref.testing.assert_conforms`'s
    example would do as well):

    >>> from proxadagrad_ref import apply_proximal_adagrad
    >>> def my_kernel(var, accum, lr, l1, l2, grad):
    ...     return apply_proximal_adagrad(var, accum, lr, l1, l2, grad)
    >>> report = verify("smoke", candidate=my_kernel)
    >>> report.passed, len(report.results), len(report.not_applicable)
    (True, 3, 7)

    """
    folder, label = resolve_suite(folder_or_suite)
    if results is not None and not Path(results).is_dir():
        raise FormatError(f"results folder {results}: not a folder")
    engine = candidate is None and results is None
    cand = engine_candidate() if engine else (as_candidate(candidate) if candidate is not None else None)
    if engine:
        strict = True if strict is None else strict
    filters = {
        k: v
        for k, v in {
            "op": op,
            "profile": profile,
            "prox_step": prox_step,
            "dtype": dtype,
            "duplicates": duplicates,
            "case": case,
        }.items()
        if v is not None
    }
    declared = {k: v for k, v in filters.items() if k in ("profile", "prox_step", "duplicates")}
    name = str(results) if results is not None else cand.name  # type: ignore[union-attr]
    report = VerifyReport(name, label, filters=filters, folder=str(folder))
    total = len(read_manifest(folder)["cases"])
    found = False
    for done, c in enumerate(read_suite(folder), 1):
        chosen = next(
            select(
                [c],
                op=op,
                prox_step=prox_step,
                profile=profile,
                dtype=dtype,
                duplicates=duplicates,
                case=case,
            ),
            None,
        )
        found |= c.id == case
        if chosen is None:
            report.filtered_out += 1
        elif cand is not None and (reason := _not_applicable(c, cand, Declared(**declared))) is not None:
            report.not_applicable.append((c.id, reason))
        else:
            res = run_case(c, cand, results=results, strict=bool(strict))
            res.repro = rerun_command(
                label, c.id, c.meta["op"], cand, None if results is None else str(results), declared
            )
            report.results.append(res)
        if progress is not None:
            progress(done, total, c.id)
    if case is not None and not found:
        raise FormatError(f"{label}: no case {case!r} in this suite")
    return report


def write_report(report: VerifyReport, path: Path | str) -> None:
    """Write the JSON report (atomically: a temporary file beside `path`, then renamed)."""
    path = Path(path)
    text = json.dumps(report.to_json(), indent=1, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a report is an ordinary file
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
