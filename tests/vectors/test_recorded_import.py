"""Importing framework recordings (.npz + provenance.json) and verifying against them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from proxadagrad_ref import apply_proximal_adagrad, sparse_apply_proximal_adagrad
from proxadagrad_ref.vectors import FormatError, read_suite, verify
from proxadagrad_ref.vectors.recorded import import_npz_folder


def _recording(src: Path) -> None:
    src.mkdir()
    rng = np.random.Generator(np.random.PCG64(3))
    w, a, g = (
        rng.standard_normal(6).astype(np.float32),
        np.full(6, 0.1, np.float32),
        rng.standard_normal(6).astype(np.float32),
    )
    w1, a1 = apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, emulate="mindspore")
    np.savez(
        src / "dense_a.npz",
        var=w,
        accum=a,
        grad=g,
        lr=np.float32(0.1),
        l1=np.float32(0.05),
        l2=np.float32(0.1),
        var_out=w1,
        accum_out=a1,
    )
    tw, ta = np.ones((4, 2), np.float32), np.full((4, 2), 0.1, np.float32)
    rows, idx = rng.standard_normal((3, 2)).astype(np.float32), np.array([2, 0, 2], np.int32)
    s1, s2 = sparse_apply_proximal_adagrad(tw, ta, 0.1, 0.05, 0.1, rows, idx, emulate="mindspore")
    np.savez(
        src / "sparse_b.npz",
        var=tw,
        accum=ta,
        grad=rows,
        indices=idx,
        lr=np.float32(0.1),
        l1=np.float32(0.05),
        l2=np.float32(0.1),
        var_out=s1,
        accum_out=s2,
    )
    (src / "provenance.json").write_text(
        json.dumps({"framework_version": "2.10.0", "device": "CPU", "cases": {"dense_a": {"note": "x"}}})
    )


def test_import_and_verify(tmp_path: Path) -> None:
    _recording(tmp_path / "rec")
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


def test_import_refuses_bad_recordings(tmp_path: Path) -> None:
    _recording(tmp_path / "rec")
    np.savez(tmp_path / "rec" / "broken.npz", var=np.ones(2, np.float32))
    with pytest.raises(FormatError, match=r"broken\.npz: missing array 'accum'"):
        import_npz_folder(tmp_path / "rec", tmp_path / "out", "tensorflow")
    assert not (tmp_path / "out").exists()
    (tmp_path / "rec" / "broken.npz").unlink()
    np.save(tmp_path / "obj.npy", np.array([object()], dtype=object), allow_pickle=True)
    (tmp_path / "rec" / "provenance.json").unlink()
    with pytest.raises(FormatError, match=r"provenance\.json"):
        import_npz_folder(tmp_path / "rec", tmp_path / "out", "tensorflow")
