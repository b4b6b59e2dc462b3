"""The tensorflow profile and the host CPU: the vrsqrtps probe and its one warning (probe substituted)."""

from __future__ import annotations

import importlib.util
import platform
import warnings

import numpy as np
import pytest

from proxadagrad_ref import apply_proximal_adagrad, sparse_apply_proximal_adagrad
from proxadagrad_ref.numerics import hostcpu


def _table_probe(changed: int = 0):
    """A probe that answers from the shipped table, with `changed` entries altered."""
    table = hostcpu.shipped_table()

    def probe(x: np.ndarray) -> np.ndarray:
        out = table.copy()
        if changed:
            out.reshape(-1)[:changed] ^= np.uint32(1 << 11)
        assert x.shape == out.shape
        return out

    return probe


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch):
    """A process state in which the host has not been checked yet, and an x86 host."""
    monkeypatch.setattr(hostcpu, "_STATE", hostcpu._State())
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(hostcpu, "cpu_model", lambda: "Test CPU 9000")
    return monkeypatch


def _step(dtype=np.float32, emulate="tensorflow") -> None:
    w, a, g = (np.full(4, v, dtype) for v in (1.0, 0.1, 0.3))
    apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, emulate=emulate)


def _sparse_step() -> None:
    w, a, rows = np.ones((3, 2), np.float32), np.ones((3, 2), np.float32), np.ones((1, 2), np.float32)
    sparse_apply_proximal_adagrad(w, a, 0.1, 0.0, 0.0, rows, np.array([1]), emulate="tensorflow")


def test_matching_table_gives_no_warning(fresh: pytest.MonkeyPatch) -> None:
    fresh.setattr(hostcpu, "_probe", _table_probe())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _step()
    assert hostcpu.host_check().status == "match"


def test_other_table_warns_once_naming_the_cpu(fresh: pytest.MonkeyPatch) -> None:
    fresh.setattr(hostcpu, "_probe", _table_probe(changed=3))
    with pytest.warns(hostcpu.HostRsqrtWarning, match="Test CPU 9000") as record:
        _step()
    assert len(record) == 1
    text = str(record[0].message)
    assert "3 of 8192" in text and "other float32 bits" in text and "AMD Zen 3/4" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process: no second warning
        _step()
        _sparse_step()


def test_warning_is_a_user_warning_subclass() -> None:
    assert issubclass(hostcpu.HostRsqrtWarning, UserWarning)


@pytest.mark.parametrize(
    ("dtype", "emulate"), [(np.float64, "tensorflow"), (np.float32, None), (np.float32, "mindspore")]
)
def test_other_profiles_and_dtypes_do_not_probe(fresh: pytest.MonkeyPatch, dtype, emulate) -> None:
    def probe(x: np.ndarray) -> np.ndarray:
        raise AssertionError("probed")

    fresh.setattr(hostcpu, "_probe", probe)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _step(dtype, emulate)
    assert hostcpu._STATE.result is None


def test_sparse_float32_triggers_the_check(fresh: pytest.MonkeyPatch) -> None:
    fresh.setattr(hostcpu, "_probe", _table_probe(changed=1))
    with pytest.warns(hostcpu.HostRsqrtWarning):
        _sparse_step()


def test_not_x86_warns(fresh: pytest.MonkeyPatch) -> None:
    fresh.setattr(platform, "machine", lambda: "aarch64")
    fresh.setattr(hostcpu, "_probe", _table_probe())
    with pytest.warns(hostcpu.HostRsqrtWarning, match="not an x86 CPU"):
        _step()


def test_probe_unavailable_is_reported_not_warned(fresh: pytest.MonkeyPatch) -> None:
    fresh.setattr(hostcpu, "_probe", lambda x: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _step()
    check = hostcpu.host_check()
    assert check.status == "unavailable" and "numba" in check.detail
    assert "could not be compared" in check.message()


def test_probe_that_fails_is_unavailable(fresh: pytest.MonkeyPatch) -> None:
    def probe(x: np.ndarray) -> np.ndarray:
        raise RuntimeError("LLVM has no such intrinsic")

    fresh.setattr(hostcpu, "_probe", probe)
    check = hostcpu.check_host()
    assert check.status == "unavailable" and "LLVM has no such intrinsic" in check.detail


def test_probe_inputs_are_the_tables_bins() -> None:
    starts, inside = hostcpu.probe_inputs()
    assert starts.dtype == inside.dtype == np.float32 and starts.shape == (2, 4096)
    assert starts[0, 0] == 1.0 and starts[1, 0] == 2.0 and starts[0, 1] == np.float32(1 + 1 / 4096)
    bits_s, bits_i = starts.view(np.uint32), inside.view(np.uint32)
    assert ((bits_s >> 11) == (bits_i >> 11)).all() and (bits_s != bits_i).all()  # same top 12 bits


def test_cpu_model_is_named() -> None:
    assert hostcpu.cpu_model().strip()


@pytest.mark.skipif(
    importlib.util.find_spec("numba") is None or platform.machine().lower() not in ("x86_64", "amd64"),
    reason="the real probe needs numba on an x86-64 CPU",
)
def test_real_probe_returns_an_estimate_of_the_right_accuracy() -> None:
    """Whatever the vendor, vrsqrtps is a 12-bit estimate: |rsqrt(x) * sqrt(x) - 1| <= 1.5 * 2**-12."""
    starts, _ = hostcpu.probe_inputs()
    bits = hostcpu._default_probe(starts)
    assert bits is not None and bits.dtype == np.uint32 and bits.shape == starts.shape
    estimate = bits.view(np.float32).astype(np.float64)
    assert np.all(np.abs(estimate * np.sqrt(starts.astype(np.float64)) - 1) <= 1.5 * 2.0**-12)


def test_crosscheck_report_says_what_the_host_computes(
    fresh: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """crosscheck --framework tensorflow names the CPU and the table check (a stand-in for TensorFlow)."""
    from pathlib import Path

    from proxadagrad_ref.cli import main
    from proxadagrad_ref.vectors import Candidate, frameworks

    def tf_dense(var, accum, lr, l1, l2, grad, **_):
        return apply_proximal_adagrad(var, accum, lr, l1, l2, grad, emulate="tensorflow")

    stand_in = Candidate("tensorflow", tf_dense, None, pass_profile=False)
    fresh.setattr(frameworks, "framework_candidate", lambda name: (stand_in, "sequential"))
    fresh.setattr(hostcpu, "_probe", _table_probe(changed=5))
    suite = Path(__file__).resolve().parents[2] / "conformance_vectors"
    with pytest.warns(hostcpu.HostRsqrtWarning):
        code = main(["crosscheck", str(suite), "--framework", "tensorflow", "--op", "dense"])
    assert code == 0
    out = capsys.readouterr().out
    assert "note: host CPU Test CPU 9000: its vrsqrtps gives other bits for 5 of 8192 table entries" in out
    assert "34 passed, 0 failed (tensorflow on" in out
