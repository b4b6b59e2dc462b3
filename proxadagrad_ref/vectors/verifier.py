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

Trajectories (``op: "optimizer"``) are compared step by step: ``EXACT`` bit for
bit; ``BOUND`` within the chained tolerance of
:func:`~.trajectory.trajectory_tolerance`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .bound import arith_for, gamma, step_bound
from .candidates import Candidate, call_case, engine_candidate, hyper_values
from .format import Case, FormatError, read_results, read_suite
from .trajectory import run_trajectory, trajectory_tolerance

__all__ = ["CaseResult", "VerifyReport", "case_bound", "compare", "verify"]


@dataclass
class CaseResult:
    """Outcome of one case."""

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


@dataclass
class VerifyReport:
    """All case outcomes of one verification run."""

    candidate: str
    suite: str
    results: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when at least one case ran and none failed."""
        return bool(self.results) and all(r.passed for r in self.results)

    def failed(self) -> list[CaseResult]:
        """The failing cases."""
        return [r for r in self.results if not r.passed]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dictionary (``--report``)."""

        def clean(x: Any) -> Any:
            return None if isinstance(x, float) and not np.isfinite(x) else x

        return {
            "candidate": self.candidate,
            "suite": self.suite,
            "passed": self.passed,
            "cases": len(self.results),
            "failures": len(self.failed()),
            "worst_bound": clean(max((r.worst_bound for r in self.results), default=0.0)),
            "results": [{k: clean(v) for k, v in asdict(r).items()} for r in self.results],
        }

    def summary_lines(self) -> list[str]:
        """One line per (op, profile, mode): cases, failures and the worst error in bound units."""
        groups: dict[tuple[str, str, str], list[CaseResult]] = {}
        for r in self.results:
            groups.setdefault((r.op, r.profile, r.mode), []).append(r)
        lines = [f"{'op':<10} {'profile':<10} {'mode':<5} {'cases':>5} {'failed':>6} {'worst/bound':>11}"]
        for (op, profile, mode), rs in sorted(groups.items()):
            worst = max(r.worst_bound for r in rs)
            shown = f"{worst:11.3g}" if np.isfinite(worst) else f"{'inf':>11}"
            failed = sum(not r.passed for r in rs)
            lines.append(f"{op:<10} {profile:<10} {mode:<5} {len(rs):>5} {failed:>6} {shown}")
        return lines

    def table(self) -> str:
        """A fixed-width table, one line per case, then a summary and a repro line per failure."""
        head = f"{'result':<6} {'worst ulps':>11} {'worst/bound':>11} {'mode':<5} case"
        lines = [head, "-" * len(head)]
        for r in self.results:
            ulps = f"{r.worst_ulps:11.3g}" if np.isfinite(r.worst_ulps) else f"{'inf':>11}"
            bnd = f"{r.worst_bound:11.3g}" if np.isfinite(r.worst_bound) else f"{'inf':>11}"
            extra = f"  [{r.message}]" if r.message else ""
            lines.append(f"{'PASS' if r.passed else 'FAIL':<6} {ulps} {bnd} {r.mode:<5} {r.id}{extra}")
        fails = self.failed()
        lines += ["", *self.summary_lines()]
        lines.append(
            f"{len(self.results) - len(fails)} passed, {len(fails)} failed ({self.candidate} on {self.suite})"
        )
        for r in fails:
            lines.append(f"repro {r.id}: {r.repro}")
        return "\n".join(lines)


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
    out_w, out_a = w.copy(), a.copy()
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
    del out_w, out_a
    return {"Bw": Bw, "Ba": Ba, "a_overflow": overflow}


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
    )


def _where(case: Case, key: str) -> str:
    """``var_out.2.1`` -> ``var_out after step 2 of 'fc.weight'``."""
    name, step, i = key.split(".")
    return f"{name} after step {step} of {case.meta['optimizer']['params'][int(i)]['name']!r}"


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
    first: tuple[int, str] | None = None
    with np.errstate(all="ignore"):
        for key, exp in expected.items():
            got = np.asarray(outputs[key])
            e, c = exp.astype(np.float64), got.astype(np.float64)
            both_nan = np.isnan(e) & np.isnan(c)
            diff = np.where(both_nan | (e == c), 0.0, np.abs(c - e))
            diff = np.where(np.isnan(diff), np.inf, diff)
            if tol is None:
                bits = f"u{exp.dtype.itemsize}"
                ok = (exp.view(bits) == got.view(bits)) | both_nan
                units = np.where(ok, 0.0, np.inf)
            else:
                units = np.where(diff == 0, 0.0, diff / tol[key])
                ok = np.where(np.isnan(e), np.isnan(c), np.isfinite(c) & (units <= 1))
            bad = ~ok
            res.failures += int(bad.sum())
            res.worst_ulps = max(res.worst_ulps, float(np.max(_ulps(diff, exp), initial=0.0)))
            res.worst_bound = max(
                res.worst_bound, float(np.max(np.where(np.isnan(units), np.inf, units), initial=0.0))
            )
            if bad.any():
                step = int(key.split(".")[1])
                at = tuple(int(i) for i in np.argwhere(bad)[0])
                text = (
                    f"{_where(case, key)}{list(at)}: got {got[at]!r}, expected {exp[at]!r} "
                    f"({int(bad.sum())} elements)"
                )
                if first is None or step < first[0]:
                    first = (step, text)
    if first is not None:
        res.passed = False
        res.message = "first failure: " + first[1]
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
    bounds = case_bound(case) if mode == "BOUND" else None
    messages = []
    with np.errstate(all="ignore"):
        for name, exp in expected.items():
            got = np.asarray(outputs[name])
            e, c = exp.astype(np.float64), got.astype(np.float64)
            both_nan = np.isnan(e) & np.isnan(c)
            diff = np.where(both_nan | (e == c), 0.0, np.abs(c - e))
            diff = np.where(np.isnan(diff), np.inf, diff)
            ulps = _ulps(diff, exp)
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
                units = np.where(ok & ~(units <= 1), 0.0, units)  # accepted by an FP_SPECIAL rule
            bad = ~ok
            res.failures += int(bad.sum())
            res.worst_ulps = max(res.worst_ulps, float(np.max(ulps, initial=0.0)))
            res.worst_bound = max(res.worst_bound, float(np.max(units, initial=0.0)))
            if bad.any():
                first = tuple(int(i) for i in np.argwhere(bad)[0])
                messages.append(
                    f"{name}{list(first)}: got {got[first]!r}, expected {exp[first]!r} "
                    f"({int(bad.sum())} elements)"
                )
    if messages:
        res.passed = False
        res.message = "; ".join(messages)
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
) -> Iterator[Case]:
    """The cases matching the filters (None matches everything)."""
    for case in cases:
        m = case.meta
        if (
            (op is None or m["op"] == op)
            and (prox_step is None or m["prox_step"] == prox_step)
            and (profile is None or m["profile"] == profile)
            and (dtype is None or m["dtype"] == dtype)
        ):
            yield case


def _run_one(case: Case, candidate: Candidate | None, results_dir: Path | None, strict: bool) -> CaseResult:
    meta = case.meta
    expect_error = meta.get("expect_error")
    error: str | None = None
    outputs: dict[str, np.ndarray] = {}
    if results_dir is not None:
        try:
            outputs, error = read_results(results_dir, case.id)
        except FormatError as exc:
            res = CaseResult(
                case.id,
                meta["op"],
                meta["profile"],
                meta["prox_step"],
                meta["dtype"],
                meta["compliance"]["mode"],
                False,
                repro=meta.get("repro", ""),
            )
            return _fail(res, str(exc))
    else:
        assert candidate is not None
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
        res = CaseResult(
            case.id,
            meta["op"],
            meta["profile"],
            meta["prox_step"],
            meta["dtype"],
            "ERROR" if expect_error else meta["compliance"]["mode"],
            True,
            repro=meta.get("repro", ""),
        )
        if expect_error and error is None:
            return _fail(res, f"expected an error ({expect_error}), the call succeeded")
        if not expect_error:
            return _fail(res, f"raised {error}")
        return res
    return compare(case, outputs, strict=strict)


def verify(
    folder: Path | str,
    *,
    candidate: Candidate | None = None,
    results: Path | str | None = None,
    op: str | None = None,
    prox_step: str | None = None,
    profile: str | None = None,
    strict: bool | None = None,
    dtype: str | None = None,
) -> VerifyReport:
    """Verify a candidate (default: the engine itself, bit for bit) or a results folder against a suite.

    Cases of an op the candidate does not implement are skipped (not counted).
    ``strict=True`` compares every case bit for bit (default for the engine itself).
    """
    folder = Path(folder)
    if candidate is None and results is None:
        candidate = engine_candidate()
        strict = True if strict is None else strict
    name = str(results) if results is not None else candidate.name  # type: ignore[union-attr]
    report = VerifyReport(name, folder.name)
    for case in select(read_suite(folder), op=op, prox_step=prox_step, profile=profile, dtype=dtype):
        try:
            report.results.append(_run_one(case, candidate, Path(results) if results else None, bool(strict)))
        except LookupError:
            continue
    return report


def write_report(report: VerifyReport, path: Path | str) -> None:
    """Write the JSON report."""
    Path(path).write_text(json.dumps(report.to_json(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
