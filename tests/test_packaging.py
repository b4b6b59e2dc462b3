"""Packaging: the license text in the repository and the wheel, project URLs, classifiers, changelog."""

from __future__ import annotations

import importlib.metadata as metadata
import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_license_file_is_the_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert PROJECT["license"] == "Apache-2.0"
    assert text.lstrip().startswith("Apache License\n                           Version 2.0, January 2004")
    for section in (
        "1. Definitions.",
        "4. Redistribution.",
        "9. Accepting Warranty or Additional Liability.",
        "END OF TERMS AND CONDITIONS",
        "APPENDIX: How to apply the Apache License to your work.",
    ):
        assert section in text, section
    assert len(text) > 11000


def test_the_wheel_carries_the_license() -> None:
    assert PROJECT["license-files"] == ["LICENSE"]
    dist = metadata.distribution("proxadagrad_ref")
    assert "LICENSE" in (dist.metadata.get_all("License-File") or [])
    files = [str(f) for f in dist.files or []]
    assert any(Path(f).name == "LICENSE" for f in files), files  # installed with the metadata


def test_project_urls_and_classifiers() -> None:
    urls = PROJECT["urls"]
    assert urls and all(u.startswith("https://") for u in urls.values())
    minimum = int(re.fullmatch(r">=3\.(\d+)", PROJECT["requires-python"]).group(1))  # type: ignore[union-attr]
    versions = sorted(
        int(c.rsplit(".", 1)[1])
        for c in PROJECT["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert versions[0] == minimum == 10 and versions == list(range(minimum, versions[-1] + 1))
    assert len(versions) >= 3


def test_pytest_plugin_and_cli_entry_points_are_registered() -> None:
    assert PROJECT["entry-points"]["pytest11"] == {"proxadagrad_ref": "proxadagrad_ref.testing.plugin"}
    found = {ep.name: ep.value for ep in metadata.entry_points(group="pytest11")}
    assert found.get("proxadagrad_ref") == "proxadagrad_ref.testing.plugin"


def test_changelog_exists_and_names_the_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    import proxadagrad_ref

    assert text.startswith("# Changelog") and "## [Unreleased]" in text
    assert f"## [{proxadagrad_ref.__version__}]" in text


def test_numba_is_a_dependency_where_it_has_wheels_and_fast_is_an_empty_alias() -> None:
    from packaging.requirements import Requirement

    (numba,) = (Requirement(r) for r in PROJECT["dependencies"] if Requirement(r).name == "numba")
    assert str(numba.specifier) == ">=0.60" and numba.marker is not None
    base = {"platform_python_implementation": "CPython", "sys_platform": "linux", "python_version": "3.15"}
    base["platform_machine"] = "x86_64"
    wheels = [{}, {"platform_machine": "aarch64"}, {"sys_platform": "win32", "platform_machine": "AMD64"},
              {"sys_platform": "darwin", "platform_machine": "arm64"}]
    no_wheels = [{"platform_python_implementation": "PyPy"}, {"sys_platform": "darwin"},
                 {"platform_machine": "ppc64le"}, {"sys_platform": "win32", "platform_machine": "ARM64"},
                 {"platform_machine": "i686"}, {"python_version": "3.16"}]
    assert all(numba.marker.evaluate({**base, **env}) for env in wheels)
    assert not any(numba.marker.evaluate({**base, **env}) for env in no_wheels)
    assert PROJECT["optional-dependencies"]["fast"] == []
