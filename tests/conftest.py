"""Fixtures: array backends, hypothesis profiles, a smoke suite, files read without code; a clean tree."""

from __future__ import annotations

import builtins
import contextlib
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from helpers import ROOT, Backend
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

# The xp fixture below is a stateless module: sharing it across generated examples is safe.
_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
# database=None: no example database in the working tree (tests write only under tmp_path).
settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=_QUIET,
    database=None,
)
settings.register_profile("dev", max_examples=150, deadline=None, suppress_health_check=_QUIET, database=None)
settings.register_profile(
    "thorough", max_examples=3000, deadline=None, suppress_health_check=_QUIET, database=None
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
# Even without an example database Hypothesis keeps a cache (.hypothesis/constants) in the working
# directory: give it a folder of this run instead, outside the working tree (removed at the end).
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="proxadagrad-hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_HYPOTHESIS_HOME, ignore_errors=True)


@pytest.fixture(params=list(Backend), ids=lambda b: b.value)
def xp(request: pytest.FixtureRequest) -> ModuleType:
    """The namespace of one backend; CuPy is skipped with a reason when no GPU is present."""
    backend: Backend = request.param
    reason = backend.available()
    if reason is not None:
        pytest.skip(reason)
    return backend.module()


_NOT_OURS = {".git", ".pytest_cache", "__pycache__", ".mypy_cache", ".ruff_cache"}


def _tree(root: Path) -> set[str]:
    """Every file and folder below `root` (relative paths), but for version control and tool caches."""
    found = set()
    for path, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _NOT_OURS]
        rel = Path(path).relative_to(root)
        found.update(str(rel / name) for name in (*dirs, *files))
    return found


_BEFORE = _tree(ROOT)  # when this file is loaded: before any test module is collected


@pytest.fixture(scope="session", autouse=True)
def working_tree_untouched() -> object:
    """Fail the run when a test (or collecting one) left a file in the working tree: tmp_path only."""
    yield
    added = sorted(_tree(ROOT) - _BEFORE)
    assert not added, f"tests wrote into the working tree: {added[:10]}"


def pytest_configure(config: pytest.Config) -> None:
    """Named suites ("smoke", "default") of this run, doctests included, go to a folder of the run.

    Not the user's cache folder; removed when the run ends.
    """
    folder = tempfile.mkdtemp(prefix="proxadagrad-suite-cache-")
    os.environ["PROXADAGRAD_REF_CACHE"] = folder
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly generated "smoke" vector suite (one per test module; tests copy it before editing)."""
    from proxadagrad_ref.vectors import generate

    out = tmp_path_factory.mktemp("suite") / "smoke"
    generate(out, "smoke")
    return out


@pytest.fixture(scope="module")
def cli_smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A "smoke" suite written by the command line, ``proxadagrad-ref generate`` (one per test module)."""
    from proxadagrad_ref.cli import main

    out = tmp_path_factory.mktemp("cli") / "vectors"
    assert main(["generate", "--out", str(out), "--suite", "smoke"]) == 0
    return out


@pytest.fixture
def no_code_from_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make pickle, eval and ``np.load(allow_pickle=True)`` fail loudly while a test reads files.

    Modules imported lazily on first use (jsonschema builds namedtuples with
    ``eval``) are imported first: only what reading a file does is watched.
    """
    from proxadagrad_ref.vectors import FormatError
    from proxadagrad_ref.vectors import format as format_module

    for kind in ("case", "manifest", "results"):
        with contextlib.suppress(FormatError):
            format_module._validate({}, kind, "warm-up")
    used: list[str] = []

    def refuse(what: str) -> Callable[..., Any]:
        def _refuse(*args: Any, **kwargs: Any) -> Any:
            used.append(what)
            raise AssertionError(f"{what} called while reading a data file")

        return _refuse

    for attr in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, attr, refuse(f"pickle.{attr}"))
    monkeypatch.setattr(builtins, "eval", refuse("eval"))
    real_load = np.load

    def guarded_load(*args: Any, allow_pickle: bool = False, **kwargs: Any) -> Any:
        if allow_pickle:
            used.append("np.load(allow_pickle=True)")
        return real_load(*args, allow_pickle=False, **kwargs)

    monkeypatch.setattr(np, "load", guarded_load)
    return used
