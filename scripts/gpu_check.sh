#!/usr/bin/env bash
# GPU check of the CuPy engine, on a machine with an NVIDIA GPU, in under five minutes:
#
#   1. installs the project with its test, fast and gpu extras (CuPy) into a fresh virtual environment;
#   2. runs the CuPy tests: the bits of every profile, dtype and edge value against NumPy's
#      (tests/test_ccode.py's CuPy tests, the CuPy rows of the xp fixture, tests/backends/), and the
#      PTX test of every generated kernel;
#   3. runs the GPU benchmark (python benchmarks/run.py --only gpu: the fused in-place step at
#      256 Mi float32 elements against the device's copy bandwidth, target >= 80 %);
#   4. writes ONE JSON file: card, driver, CUDA and NVRTC versions, test counts, benchmark figures
#      (scripts/gpu_check_report.py gathers them).
#
# Usage: scripts/gpu_check.sh [--dry-run] [OUTPUT]
#   OUTPUT     the JSON file to write; a directory gets gpu_check.json in it; default: "$OUT" (the
#              same rule), else ./gpu_check.json.
#   --dry-run  no GPU needed: skips CuPy, the device queries and the GPU tests; runs the PTX test and
#              the benchmark's GPU section (which says it found no GPU). For testing this script.
# Environment:
#   GPU_CHECK_VENV   the virtual environment to create (or reuse, when it exists); default: a fresh
#                    one in a temporary folder, removed at the end.
#   PYTHON           the interpreter that creates it (default: python3).
#
# Without a GPU, or when the install fails, it stops at once with the error. From the tests on, the
# JSON is written whatever happens; the exit status is 0 only when everything ran and every
# selected test passed (a missed benchmark target is reported, not an error).
set -euo pipefail

die() {
    echo "gpu_check: ERROR: $*" >&2
    exit 1
}

dry_run=0
output=""
for arg in "$@"; do
    case "$arg" in
        --dry-run) dry_run=1 ;;
        -h | --help)
            sed -n "2,25p" "$0"
            exit 0
            ;;
        -*) die "unknown option $arg (see --help)" ;;
        *)
            [[ -z "$output" ]] || die "one output path only (got $output and $arg)"
            output="$arg"
            ;;
    esac
done
output="${output:-${OUT:-gpu_check.json}}"
if [[ -d "$output" ]]; then
    output="${output%/}/gpu_check.json"
fi
output_dir="$(dirname "$output")"
[[ -d "$output_dir" && -w "$output_dir" ]] || die "cannot write into $output_dir"
output="$(cd "$output_dir" && pwd)/$(basename "$output")"

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
work="$(mktemp -d)"
venv="${GPU_CHECK_VENV:-$work/venv}"
cleanup() {
    rm -rf "$work"
}
trap cleanup EXIT
errors="$work/errors.txt"
touch "$errors"
record() {  # a failure: said now, kept for the JSON, turned into the exit status at the end
    echo "gpu_check: FAILED: $*" >&2
    echo "$*" >>"$errors"
}
started=$SECONDS
step_start=$SECONDS
timings="$work/timings.txt"
lap() {
    echo "$1 $((SECONDS - step_start))" >>"$timings"
    step_start=$SECONDS
}

echo "== gpu_check: $([[ $dry_run == 1 ]] && echo "dry run, no GPU" || echo "GPU") -> $output"
if [[ $dry_run == 0 ]]; then
    command -v nvidia-smi >/dev/null || die "nvidia-smi not found: this machine has no NVIDIA driver (try --dry-run)"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$work/nvidia-smi.txt" ||
        die "nvidia-smi cannot query a GPU"
    echo "GPU: $(head -n 1 "$work/nvidia-smi.txt")"
fi

echo "== install (virtual environment: $venv)"
if [[ ! -x "$venv/bin/python" ]]; then
    "${PYTHON:-python3}" -m venv "$venv" || die "cannot create a virtual environment with ${PYTHON:-python3}"
fi
py="$venv/bin/python"
extras="test"
[[ $dry_run == 1 ]] || extras="test,gpu"
timeout 240 "$py" -m pip install --quiet --upgrade pip || die "pip cannot upgrade itself"
timeout 240 "$py" -m pip install --quiet -e ".[$extras]" || die "pip install -e .[$extras] failed"
lap install

echo "== device"
if [[ $dry_run == 0 ]]; then
    "$py" scripts/gpu_check_report.py device "$work/device.json" || die "CuPy cannot reach the GPU (see above)"
fi
lap device

echo "== tests"
selection="cupy or cuda"
pytest_args=(-q -p no:cacheprovider -rs -k "$selection" --junitxml "$work/junit.xml")
if ! HYPOTHESIS_PROFILE=ci timeout 240 "$py" -m pytest "${pytest_args[@]}" tests; then
    record "pytest -k '$selection': failures, errors or a timeout (see above)"
fi
lap tests

echo "== benchmark"
if ! timeout 120 "$py" benchmarks/run.py --only gpu --json "$work/benchmark.json"; then
    record "python benchmarks/run.py --only gpu failed (see above)"
fi
lap benchmark

report_args=(report "$work" "$output" --selection "pytest -k '$selection' tests" --seconds $((SECONDS - started)))
[[ $dry_run == 0 ]] || report_args+=(--dry-run)
status=0
"$py" scripts/gpu_check_report.py "${report_args[@]}" || status=$?
[[ $status == 0 || $status == 3 ]] || die "could not write $output (status $status)"
echo "== wrote $output ($((SECONDS - started)) s)"
[[ $status == 0 ]] || die "see the errors listed in $output"
