"""The pytest plugin (entry point ``pytest11``): a ``conformance_case`` argument over a suite's cases.

Installed with the package, active in every pytest run. A test that takes a
``conformance_case`` argument runs once per case of a suite; the
``proxadagrad`` marker chooses the suite, the filters and, optionally, the
candidate (then the cases it cannot express are not collected at all)::

    import pytest
    from mypackage import my_kernel

    @pytest.mark.proxadagrad(candidate=my_kernel, suite="default")
    def test_my_kernel_conforms(conformance_case):
        conformance_case.check()

Marker keywords: ``suite`` (a name or a folder, default ``"default"``),
``candidate``, ``op``, ``profile``, ``prox_step``, ``dtype``, ``duplicates``
(as :func:`proxadagrad_ref.testing.assert_conforms`). The command-line option
``--proxadagrad-suite`` overrides every marker's suite. The summary at the end
of the run counts the cases left out as not applicable.
"""

from __future__ import annotations

from typing import Any

import pytest

from . import conformance_cases

MARKER = "proxadagrad"
_KEYWORDS = ("suite", "candidate", "op", "profile", "prox_step", "dtype", "duplicates")
_SKIPPED = pytest.StashKey[dict[str, dict[str, int]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--proxadagrad-suite``."""
    group = parser.getgroup("proxadagrad_ref")
    group.addoption(
        "--proxadagrad-suite",
        default=None,
        metavar="SUITE",
        help="suite name or folder for conformance_case tests (default: the marker's suite, else 'default')",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(suite='default', candidate=None, op=None, profile=None, prox_step=None, dtype=None, "
        "duplicates=None): the proxadagrad_ref conformance cases a conformance_case test runs on",
    )
    config.stash[_SKIPPED] = {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``conformance_case`` over the marker's suite."""
    if "conformance_case" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker(MARKER)
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    unknown = sorted(set(options) - set(_KEYWORDS))
    if unknown or (marker is not None and marker.args):
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: @pytest.mark.{MARKER} takes the keywords "
            f"{', '.join(_KEYWORDS)}; got {', '.join(unknown) or repr(marker.args)}"  # type: ignore[union-attr]
        )
    suite = metafunc.config.getoption("proxadagrad_suite") or options.pop("suite", "default")
    options.pop("suite", None)
    try:
        cases, skipped = conformance_cases(suite, **options)
    except (ValueError, TypeError) as exc:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: {exc}") from None
    if skipped:
        metafunc.config.stash[_SKIPPED][metafunc.definition.nodeid] = skipped
    metafunc.parametrize("conformance_case", cases, ids=[c.id for c in cases])


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """One line per test whose candidate cannot express some cases: how many were left out, and why."""
    skipped = config.stash.get(_SKIPPED, {})
    for nodeid, counts in skipped.items():
        total = sum(counts.values())
        reasons = "; ".join(f"{n} {r}" for r, n in counts.items())
        terminalreporter.write_line(f"proxadagrad_ref: {nodeid}: {total} cases not applicable ({reasons})")
