"""The Python half of ``scripts/gpu_check.sh``: the device's description, and the one JSON file of the check.

``python scripts/gpu_check_report.py device FILE`` writes what CuPy says of
GPU 0 (name, compute capability, memory, CUDA driver and runtime, NVRTC,
CuPy's version). ``python scripts/gpu_check_report.py report WORK OUTPUT``
gathers what the shell script's steps left in the folder WORK -- ``errors.txt``
and ``timings.txt`` (the script's), ``nvidia-smi.txt`` and ``device.json``
(GPU mode), pytest's ``junit.xml``, the benchmark's ``benchmark.json`` -- into
OUTPUT, finds the errors in them, and exits with status 3 when there are any.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

TARGET = 0.8
"""The benchmark's target: the fused step at >= 80 % of the device's copy bandwidth."""

PACKAGES = ("proxadagrad_ref", "numpy", "numba", "cupy-cuda12x", "nvidia-cuda-nvrtc-cu12")


def device(path: Path) -> None:
    """Write CuPy's description of GPU 0 to `path` (JSON) and print it."""
    import cupy

    runtime = cupy.cuda.runtime
    props = runtime.getDeviceProperties(0)

    def cuda_version(v: int) -> str:
        return f"{v // 1000}.{v % 1000 // 10}"

    info = {
        "name": props["name"].decode(),
        "compute_capability": f"{props['major']}.{props['minor']}",
        "memory_gib": round(props["totalGlobalMem"] / 2**30, 1),
        "devices": runtime.getDeviceCount(),
        "cuda_driver": cuda_version(runtime.driverGetVersion()),
        "cuda_runtime": cuda_version(runtime.runtimeGetVersion()),
        "nvrtc": ".".join(str(v) for v in cupy.cuda.nvrtc.getVersion()),
        "cupy": cupy.__version__,
    }
    print(", ".join(f"{k} {v}" for k, v in info.items()))
    path.write_text(json.dumps(info))


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False).stdout.strip()


def _package(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def tests(junit: Path, selection: str) -> dict[str, Any]:
    """Counts of pytest's JUnit report; ``gpu_passed`` counts the passed tests that need a device.

    Those are the CuPy rows of the ``xp`` fixture (``[cupy...]``) and the tests
    named ``test_cupy_...``; without a device they skip.
    """
    outcome: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    failures, gpu_passed = [], 0
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        node = f"{case.get('classname')}::{name}"
        kinds = {child.tag: child for child in case}
        if "failure" in kinds or "error" in kinds:
            outcome["failed" if "failure" in kinds else "errors"] += 1
            failures.append(node)
        elif "skipped" in kinds:
            outcome["skipped"] += 1
            skipped[kinds["skipped"].get("message", "")[:160]] += 1
        else:
            outcome["passed"] += 1
            gpu_passed += name.startswith("test_cupy_") or "[cupy" in name
    return {
        "selection": selection,
        "total": sum(outcome.values()),
        **{k: outcome[k] for k in ("passed", "failed", "errors", "skipped")},
        "gpu_passed": gpu_passed,
        "skipped_reasons": dict(skipped.most_common()),
        "failures": failures[:50],
    }


def benchmark(path: Path) -> dict[str, Any]:
    """The GPU section of ``benchmarks/run.py --json``, and whether every row met :data:`TARGET`."""
    if not path.exists():
        return {"error": "benchmarks/run.py wrote no figures"}
    gpu = json.loads(path.read_text()).get("gpu")
    if gpu is None:
        return {"skipped": "benchmarks/run.py found no GPU"}
    rows = gpu.get("rows", [])
    met = bool(rows) and all(r["of_bandwidth"] >= TARGET for r in rows)
    return {**gpu, "target_of_bandwidth": TARGET, "target_met": met}


def report(work: Path, *, dry_run: bool, selection: str, seconds: int) -> dict[str, Any]:
    """The check's JSON object from the files in `work`; ``errors`` lists what went wrong (``ok``: none)."""
    errors = [line for line in (work / "errors.txt").read_text().splitlines() if line]
    result: dict[str, Any] = {
        "check": "proxadagrad_ref scripts/gpu_check.sh",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": "dry-run" if dry_run else "gpu",
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _package(name) for name in PACKAGES},
    }
    if not dry_run:
        smi = (work / "nvidia-smi.txt").read_text().splitlines()[0].split(", ")
        info = json.loads((work / "device.json").read_text())
        result["gpu"] = {**info, "driver": smi[1], "nvidia_smi": ", ".join(smi)}
    junit = work / "junit.xml"
    if junit.exists():
        counts = result["tests"] = tests(junit, selection)
        no_device = sum(n for why, n in counts["skipped_reasons"].items() if "CuPy" in why or "CUDA" in why)
        if not dry_run and no_device:
            errors.append(f"{no_device} tests skipped for want of CuPy or a device on a GPU machine")
        if not dry_run and not counts["gpu_passed"]:
            errors.append("no test that needs the GPU passed")
    else:
        errors.append("pytest wrote no report")
    result["benchmark"] = benchmark(work / "benchmark.json")
    if not dry_run and "skipped" in result["benchmark"]:
        errors.append("the benchmark found no GPU")
    timings = (line.split() for line in (work / "timings.txt").read_text().splitlines())
    result["seconds"] = {**{step: int(s) for step, s in timings}, "total": seconds}
    result["errors"] = errors
    result["ok"] = not errors
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module notes); 3 when the report lists errors."""
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("device")
    dev.add_argument("path", type=Path)
    rep = sub.add_parser("report")
    rep.add_argument("work", type=Path)
    rep.add_argument("output", type=Path)
    rep.add_argument("--dry-run", action="store_true")
    rep.add_argument("--selection", default="")
    rep.add_argument("--seconds", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "device":
        device(args.path)
        return 0
    result = report(args.work, dry_run=args.dry_run, selection=args.selection, seconds=args.seconds)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    keys = ("mode", "gpu", "tests", "benchmark", "seconds", "errors", "ok")
    summary = {k: result[k] for k in keys if k in result}
    print(json.dumps(summary, indent=1))
    return 0 if result["ok"] else 3


if __name__ == "__main__":
    sys.exit(main())
