"""Checking your own Proximal Adagrad implementation from your own test suite.

Three tools, on any kernel with the signature ``f(var, accum, lr, l1, l2, grad)``
(dense) or ``f(var, accum, lr, l1, l2, grad, indices)`` (sparse), or an
optimizer factory (the candidate protocol of :mod:`proxadagrad_ref.vectors.candidates`):

* :func:`assert_conforms` -- one assertion over a whole suite; raises
  :class:`AssertionError` with a readable report of the first differing
  elements (index, inputs, expected, got, ulps, bound).
* the pytest plugin (:mod:`proxadagrad_ref.testing.plugin`, registered through
  the ``pytest11`` entry point, so installing the package is enough): a
  ``conformance_case`` argument parametrised over a suite's cases, configured
  by the ``proxadagrad`` marker.
* hypothesis strategies (:mod:`proxadagrad_ref.testing.strategies`) for kernel
  inputs with the suite's edge values, and :func:`assert_step_conforms` to
  check one drawn input against the engine.

``suite="default"`` is the suite committed to the source repository as
``conformance_vectors/``; an installed package generates it once into the
user's cache folder (byte-identical, see :func:`proxadagrad_ref.vectors.suite_folder`).
A path names any suite folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..vectors.candidates import Candidate, Declared, as_candidate, not_applicable
from ..vectors.format import Case, read_suite
from ..vectors.generator import case_from_inputs
from ..vectors.verifier import (
    CaseResult,
    VerifyReport,
    rerun_command,
    resolve_suite,
    run_case,
    select,
    verify,
)

__all__ = ["ConformanceCase", "assert_conforms", "assert_step_conforms", "conformance_cases"]


def _failure_report(report: VerifyReport) -> str:
    return report.format_text(quiet=True)


def assert_conforms(
    func: Any,
    suite: str | Path = "default",
    *,
    op: str | None = None,
    profile: str | None = None,
    prox_step: str | None = None,
    dtype: str | None = None,
    duplicates: str | None = None,
) -> VerifyReport:
    """Assert that `func` passes every case of `suite` it can express.

    Parameters
    ----------
    func : callable or object
        The implementation: a kernel, an optimizer factory, or an object with
        ``dense``/``sparse``/``optimizer`` attributes. It receives only the
        keywords its signature accepts.
    suite : {"default", "smoke", "full"} or path
        A suite name (generated once into the cache) or a suite folder.
    op, profile, prox_step, dtype, duplicates : str, optional
        Filters; ``profile``, ``prox_step`` and ``duplicates`` also declare what
        `func` computes where its signature does not say.

    Returns
    -------
    VerifyReport
        When every case that ran passed (at least one did).

    Raises
    ------
    AssertionError
        A case failed (the message lists the first differing elements of each
        failing case with their inputs), or no case could run.

    Examples
    --------
    >>> import numpy as np
    >>> def my_kernel(var, accum, lr, l1, l2, grad):
    ...     w, a, g = (np.asarray(x, np.float64) for x in (var, accum, grad))
    ...     a = a + g * g
    ...     v = w - lr / np.sqrt(a) * g
    ...     w = np.sign(v) * np.maximum(np.abs(v) - lr / np.sqrt(a) * l1, 0) / (1 + lr / np.sqrt(a) * l2)
    ...     return w.astype(var.dtype), a.astype(var.dtype)
    >>> assert_conforms(my_kernel, "smoke").closing_line()
    '3 passed, 0 failed, 7 not applicable (my_kernel on smoke)'

    """
    candidate = as_candidate(func, op=op)
    report = verify(
        suite, candidate=candidate, op=op, profile=profile, prox_step=prox_step, dtype=dtype,
        duplicates=duplicates,
    )  # fmt: skip
    if not report.results:
        counts = report.not_applicable_counts()
        reasons = "; ".join(f"{n} x {r}" for r, n in counts.items()) or "none"
        raise AssertionError(
            f"no case of suite {report.suite!r} ran for {report.candidate}: {report.filtered_out} left out "
            f"by the filters, {len(report.not_applicable)} not applicable ({reasons})"
        )
    if not report.passed:
        raise AssertionError(f"{report.candidate} does not conform:\n{_failure_report(report)}")
    return report


@dataclass(frozen=True)
class ConformanceCase:
    """One case of a suite, as the pytest plugin's ``conformance_case`` argument hands it to a test.

    Attributes
    ----------
    case : Case
        The case (metadata and arrays).
    suite : str
        The suite's name or folder, for messages.
    candidate : object or None
        The marker's ``candidate=``, checked by :meth:`check` when it is given none.
    declared : tuple of (str, str)
        The marker's ``profile``/``prox_step``/``duplicates`` declarations.

    """

    case: Case
    suite: str
    candidate: Any = None
    declared: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        """The case id."""
        return self.case.id

    @property
    def meta(self) -> dict[str, Any]:
        """The case metadata (op, profile, prox_step, dtype, options, ...)."""
        return self.case.meta

    def __repr__(self) -> str:
        return f"ConformanceCase({self.id!r})"

    def check(self, func: Any = None) -> CaseResult:
        """Run `func` (default: the marker's candidate) on this case; raise AssertionError if it fails.

        A case `func` cannot express is skipped (``pytest.skip``) with the reason.
        """
        target = func if func is not None else self.candidate
        if target is None:
            raise TypeError(
                "check() needs the implementation: check(my_kernel), or proxadagrad(candidate=...)"
            )
        cand = as_candidate(target)
        reason = not_applicable(self.case, cand, Declared(**dict(self.declared)))
        if reason is not None:
            import pytest

            pytest.skip(f"not applicable: {reason}")
        result = run_case(self.case, cand)
        result.repro = rerun_command(self.suite, self.id, self.meta["op"], cand, None, dict(self.declared))
        if not result.passed:
            report = VerifyReport(cand.name, self.suite, [result])
            raise AssertionError(f"{cand.name} fails case {self.id}:\n{_failure_report(report)}")
        return result


def conformance_cases(
    suite: str | Path = "default",
    *,
    candidate: Any = None,
    op: str | None = None,
    profile: str | None = None,
    prox_step: str | None = None,
    dtype: str | None = None,
    duplicates: str | None = None,
) -> tuple[list[ConformanceCase], dict[str, int]]:
    """The cases of `suite` matching the filters, as :class:`ConformanceCase` objects.

    With a `candidate`, the cases it cannot express are left out; the second
    element counts them by reason.
    """
    folder, label = resolve_suite(suite)
    declared = {
        k: v for k, v in (("profile", profile), ("prox_step", prox_step), ("duplicates", duplicates)) if v
    }
    cand: Candidate | None = as_candidate(candidate, op=op) if candidate is not None else None
    chosen: list[ConformanceCase] = []
    skipped: dict[str, int] = {}
    for case in select(
        read_suite(folder), op=op, profile=profile, prox_step=prox_step, dtype=dtype, duplicates=duplicates
    ):
        reason = not_applicable(case, cand, Declared(**declared)) if cand is not None else None
        if reason is not None:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        chosen.append(ConformanceCase(case, label, candidate, tuple(sorted(declared.items()))))
    return chosen, skipped


def assert_step_conforms(
    func: Callable[..., Any],
    inputs: dict[str, Any],
    *,
    profile: str = "exact",
    prox_step: str = "adaptive",
    duplicates: str = "sum",
) -> CaseResult:
    """Assert that one call of `func` on `inputs` agrees with the engine as a suite case would.

    `inputs` holds ``var``, ``accum``, ``grad``, ``lr``, ``l1``, ``l2`` (and
    ``indices`` for a sparse kernel), as :mod:`.strategies` draws them. The
    expected outputs come from the engine; the comparison is the suite's:
    within the error bound for the ``exact`` profile, bit for bit for a
    framework profile. `func` receives the keywords its signature accepts.

    Raises
    ------
    AssertionError
        The outputs differ (the message shows the elements, their inputs, ulps
        and the bound), or `func` raised where it should not (or did not raise
        where ``duplicates="error"`` requires it).

    """
    case = case_from_inputs(inputs, profile=profile, prox_step=prox_step, duplicates=duplicates)
    op = case.meta["op"]
    cand = as_candidate(func, op=op)
    result = run_case(case, cand)
    if not result.passed:
        report = VerifyReport(cand.name, "drawn inputs", [result])
        raise AssertionError(f"{cand.name} disagrees with the engine:\n{_failure_report(report)}")
    return result
