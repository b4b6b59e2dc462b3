"""Framework recordings: importing raw ones (.npz + provenance.json), verifying them, the scripts' steps.

What ``scripts/recording.py`` writes (records, recording folders) is what
:mod:`proxadagrad_ref.vectors.recorded` reads; each script's import step runs here
without its framework. (The refusals: ``test_file_errors.py``.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from helpers import ROOT, bits, load_script_module, write_npz_recording

from proxadagrad_ref.vectors import read_suite, verify
from proxadagrad_ref.vectors.recorded import (
    import_npz_folder,
    read_provenance,
    read_recorded_kernels,
    read_records,
    read_rsqrt_probe,
)


def test_import_and_verify(tmp_path: Path) -> None:
    write_npz_recording(tmp_path / "rec")
    summary = import_npz_folder(tmp_path / "rec", tmp_path / "out", "mindspore")
    assert summary["cases"] == 2
    cases = {c.id: c for c in read_suite(tmp_path / "out")}
    dense = cases["recorded-mindspore-dense_a"]
    assert dense.meta["source"]["kind"] == "recorded"
    assert dense.meta["source"]["provenance"]["framework_version"] == "2.10.0"
    assert dense.meta["source"]["provenance"]["note"] == "x"
    assert cases["recorded-mindspore-sparse_b"].meta["options"]["duplicates"] == "sum"
    report = verify(tmp_path / "out")
    assert report.passed, report.table()



def _record_arrays() -> dict[str, np.ndarray]:
    """Arrays of every record dtype, with sizes that need padding, a 0-d and an empty one, NaN and -0."""
    rng = np.random.default_rng(8)
    return {
        "f16": rng.standard_normal(3).astype(np.float16),
        "f32": np.array([np.nan, -0.0, np.inf, 1e-45], np.float32).reshape(2, 2),
        "f64": np.array(0.1),
        "i32": np.array([3, -1, 7], np.int32),
        "i64": np.zeros((0, 4), np.int64),
    }


def test_records_written_by_the_scripts_read_back_bit_for_bit(tmp_path: Path) -> None:
    recording = load_script_module("recording")
    arrays = _record_arrays()
    entries = [
        recording.write_record(tmp_path, "run", {"kind": "optimizer", "lr": 0.5}, arrays),
        recording.write_record(tmp_path, "note", {"kind": "behaviour", "error": None}, {}),
    ]
    recording.write_records_manifest(tmp_path, entries)
    records = read_records(tmp_path)
    assert list(records) == ["run", "note"] and records["note"].arrays == {}
    run = records["run"]
    assert run.name == "run" and run.meta["kind"] == "optimizer" and run.meta["lr"] == 0.5
    assert set(run.arrays) == set(arrays)
    for key, want in arrays.items():
        got = run.arrays[key]
        assert got.dtype == want.dtype and got.shape == want.shape, key
        assert bits(got).tobytes() == bits(want).tobytes(), key
    assert all(ref["offset"] % 8 == 0 for ref in run.meta["arrays"].values())


def _raw_mindspore(raw: Path) -> None:
    """A raw MindSpore recording: kernels/, trajectories/ and behaviour/ record folders, provenance."""
    recording = load_script_module("recording")
    raw.mkdir()
    write_npz_recording(raw / "kernels")
    for section, name in (("trajectories", "opt_plain"), ("behaviour", "kernel_out_of_range")):
        (raw / section).mkdir()
        entry = recording.write_record(raw / section, name, {"kind": section}, _record_arrays())
        recording.write_records_manifest(raw / section, [entry])
    recording.write_index(raw, {"mindspore_version": "2.10.0", **recording.host_description()}, [], {})


def _raw_tensorflow(raw: Path) -> None:
    """A raw TensorFlow recording: kernels/, the rsqrt probe, provenance and the case index."""
    recording = load_script_module("recording")
    raw.mkdir()
    write_npz_recording(raw / "kernels")
    x = np.arange(1, 9, dtype=np.float32)
    np.savez(raw / "rsqrt_probe.npz", x=x, y=(1 / np.sqrt(x)).astype(np.float32))
    recording.write_index(raw, {"tensorflow_version": "2.21.0"}, [{"name": "dense_a"}], {})


def _import(script: str, raw: Path, dest: Path) -> dict[str, int]:
    """Run a recording script's import step (no framework needed) in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), "--import-from", str(raw), "--dest", str(dest)],
        capture_output=True, text=True, timeout=300, check=False, cwd=raw.parent,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_mindspore_script_import_step(tmp_path: Path) -> None:
    _raw_mindspore(tmp_path / "raw")
    summary = _import("record_mindspore.py", tmp_path / "raw", tmp_path / "dest")
    assert summary == {"kernels": 2, "trajectories": 1, "behaviour": 1}
    dest = tmp_path / "dest"
    assert len(read_recorded_kernels(dest)) == 2 and read_provenance(dest)["mindspore_version"] == "2.10.0"
    assert list(read_records(dest / "trajectories")) == ["opt_plain"]
    assert list(read_records(dest / "behaviour")) == ["kernel_out_of_range"]


def test_tensorflow_script_import_step(tmp_path: Path) -> None:
    _raw_tensorflow(tmp_path / "raw")
    summary = _import("record_tensorflow.py", tmp_path / "raw", tmp_path / "dest")
    assert summary["cases"] == 2 and summary["framework"] == "tensorflow"
    dest = tmp_path / "dest"
    cases = read_recorded_kernels(dest)
    assert {c.meta["profile"] for c in cases} == {"tensorflow"}
    assert cases[0].meta["source"]["provenance"]["tensorflow_version"] == "2.21.0"
    assert read_rsqrt_probe(dest)[0].size == 8
    assert json.loads((dest / "cases.json").read_text()) == [{"name": "dense_a"}]


def test_host_description_names_the_cpu() -> None:
    recording = load_script_module("recording")
    host = recording.host_description()
    assert set(host) == {"numpy_version", "python_version", "platform", "cpu", "cpu_count", "date_utc"}
    assert set(host["cpu"]) >= {"vendor_id", "model_name", "flags"}
    assert recording.canonical_json({"b": 1, "a": [0.5]}) == b'{"a":[0.5],"b":1}\n'
