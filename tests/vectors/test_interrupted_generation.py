"""An interrupted generation leaves the old suite byte for byte, or no folder, and no temporary folder behind.

The whole catalogue of interruptions (``tests/reliability/test_catalogue.py`` counts it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from proxadagrad_ref.vectors import generate, read_suite
from proxadagrad_ref.vectors import generator as generator_module
from proxadagrad_ref.vectors.format import Case, atomic_folder


def test_interrupted_generation_leaves_old_folder(tmp_path: Path) -> None:
    dest = tmp_path / "suite"
    dest.mkdir()
    (dest / "keep").write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_folder(dest) as tmp:
        (tmp / "half").write_text("x")
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["suite"]
    assert (dest / "keep").read_text() == "old"


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("when", ["first-case", "third-case", "manifest"])
@pytest.mark.parametrize("existing", [True, False], ids=["over-old-suite", "fresh-folder"])
def test_interrupted_generation_leaves_no_half_written_suite(
    smoke: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str, existing: bool
) -> None:
    dest = tmp_path / "suite"
    if existing:
        shutil.copytree(smoke, dest)
    before = _tree(dest) if existing else None
    calls = {"n": 0}
    real_write_case, real_write_manifest = generator_module.write_case, generator_module.write_manifest

    def write_case_then_stop(folder: Path, case: Case) -> Any:
        calls["n"] += 1
        out = real_write_case(folder, case)
        if (when, calls["n"]) in (("first-case", 1), ("third-case", 3)):
            raise KeyboardInterrupt  # Ctrl-C after a case's files were written
        return out

    def write_manifest_then_stop(*args: Any) -> None:
        real_write_manifest(*args)
        if when == "manifest":
            raise KeyboardInterrupt

    monkeypatch.setattr(generator_module, "write_case", write_case_then_stop)
    monkeypatch.setattr(generator_module, "write_manifest", write_manifest_then_stop)
    with pytest.raises(KeyboardInterrupt):
        generate(dest, "smoke")
    assert sorted(os.listdir(tmp_path)) == (["suite"] if existing else [])
    if existing:
        assert _tree(dest) == before
        assert len(list(read_suite(dest))) == len(list(read_suite(smoke)))
