"""Shared fixtures: the array backends every kernel test runs on, and hypothesis profiles."""

from __future__ import annotations

import enum
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# The xp fixture below is a stateless module: sharing it across generated examples is safe.
_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
settings.register_profile(
    "ci", max_examples=60, derandomize=True, deadline=None, print_blob=True, suppress_health_check=_QUIET
)
settings.register_profile("dev", max_examples=150, deadline=None, suppress_health_check=_QUIET)
settings.register_profile("thorough", max_examples=3000, deadline=None, suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


class Backend(enum.Enum):
    """Array libraries the kernel tests run on."""

    NUMPY = "numpy"
    ARRAY_API_STRICT = "array_api_strict"
    CUPY = "cupy"

    def available(self) -> str | None:
        """None when usable here, else the reason to skip."""
        if self is Backend.CUPY:
            if importlib.util.find_spec("cupy") is None:
                return "CuPy is not installed"
            try:
                import cupy

                if cupy.cuda.runtime.getDeviceCount() < 1:
                    return "no CUDA device"
            except Exception as exc:  # CuPy present but no driver/device
                return f"CuPy cannot reach a CUDA device ({type(exc).__name__})"
        return None

    def module(self) -> ModuleType:
        if self is Backend.NUMPY:
            return np
        if self is Backend.ARRAY_API_STRICT:
            import array_api_strict

            return array_api_strict
        import cupy

        return cupy


@pytest.fixture(params=list(Backend), ids=lambda b: b.value)
def xp(request: pytest.FixtureRequest) -> ModuleType:
    """The namespace of one backend; CuPy is skipped with a reason when no GPU is present."""
    backend: Backend = request.param
    reason = backend.available()
    if reason is not None:
        pytest.skip(reason)
    return backend.module()


def to_numpy(x: object) -> np.ndarray:
    """Copy any backend's array to a NumPy array (for comparisons)."""
    if isinstance(x, np.ndarray):
        return x.copy()
    if hasattr(x, "get"):  # CuPy
        return x.get()  # type: ignore[no-any-return]
    return np.from_dlpack(x).copy()


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
