"""Settings for every test the project runs, the package's doctests included."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _suite_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Named suites ("smoke", "default") are generated into a folder of this run, not the user's cache."""
    os.environ["PROXADAGRAD_REF_CACHE"] = str(tmp_path_factory.mktemp("suite_cache"))
