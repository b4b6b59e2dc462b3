"""Recorded TensorFlow 2.21 CPU outputs (``conformance_vectors/recorded/tensorflow``) against the engine.

No framework needed: the recordings are committed data (``docs/recorded-tensorflow.md``).

* every recorded output lies within the derived error bound of the exact result (BOUND mode, ``exact``
  profile, ``fp_special = "tensorflow"``: inputs read with denormals-are-zero), except the documented
  FP_SPECIAL elements, which are counted: an accumulator that flush-to-zero leaves at 0 although the
  gradient is not 0, where TensorFlow's ``lr * rsqrt(0) = inf`` gives NaN and the exact step is finite;
* ``emulate="tensorflow"`` reproduces every recorded bit (NaN equal to NaN), on each of TensorFlow's
  three arithmetic paths (dense packets + scalar tail, sparse rows, sparse ``inner_dim == 1``);
* the recorded ``tf.math.rsqrt`` probe identifies the AMD Zen 3 ``vrsqrtps`` table the engine models.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache

import numpy as np
import pytest
from helpers import RECORDED as RECORDINGS
from test_recorded_mindspore import _agreement, _bound_case, _engine, _rows, _same_bits, _ulp_distance

from proxadagrad_ref.numerics.ops import rsqrt_eigen
from proxadagrad_ref.vectors import Case, read_suite
from proxadagrad_ref.vectors.candidates import call_case
from proxadagrad_ref.vectors.verifier import compare

RECORDED = RECORDINGS / "tensorflow"
# The paths of TensorFlow's CPU kernels (docs/recorded-tensorflow.md, "Three arithmetic paths").
PATHS = (
    "dense-float32",
    "dense-float64",
    "sparse-rows-float32",
    "sparse-rows-float64",
    "sparse-inner1-float32",
    "sparse-inner1-float64",
)


@cache
def cases() -> tuple[Case, ...]:
    return tuple(read_suite(RECORDED))


def _path(case: Case) -> str:
    """Which arithmetic path of TensorFlow's kernels computed the case."""
    if case.meta["op"] == "dense":
        return f"dense-{case.meta['dtype']}"
    var = case.arrays["inputs.var"]
    inner = 1 if var.ndim == 1 else int(np.prod(var.shape[1:]))
    return f"sparse-{'inner1' if inner == 1 else 'rows'}-{case.meta['dtype']}"


@cache
def by_path() -> dict[str, tuple[Case, ...]]:
    groups: dict[str, list[Case]] = {key: [] for key in PATHS}
    for case in cases():
        groups[_path(case)].append(case)
    return {key: tuple(value) for key, value in groups.items()}


def _flush(x: np.ndarray) -> np.ndarray:
    """Subnormals to zeros of their sign (TensorFlow's DAZ on inputs, FTZ on results)."""
    if x.dtype.kind != "f":
        return x
    tiny = np.finfo(x.dtype).smallest_normal
    return np.where(np.abs(x) < tiny, np.copysign(np.zeros((), x.dtype), x), x).astype(x.dtype)


# --- the recording ----------------------------------------------------------------------------------------


def test_recorded_folder_is_complete_and_small() -> None:
    size = sum(p.stat().st_size for p in RECORDED.rglob("*") if p.is_file())
    assert size <= 3_000_000
    prov = json.loads((RECORDED / "provenance.json").read_text(encoding="utf-8"))
    assert prov["tensorflow_version"] == "2.21.0" and prov["size"] == "small"
    assert prov["cpu"]["vendor_id"] == "AuthenticAMD" and "avx2" in prov["cpu"]["flags"].split()
    assert prov["rsqrt_probe"]["vendor_table"] == "amd-zen3"
    assert prov["rsqrt_probe"]["matches_amd_zen3_table"] == "8192/8192"
    assert prov["cases"] == len(cases())
    for case in cases():
        meta = case.meta
        assert meta["profile"] == "tensorflow" and meta["compliance"]["mode"] == "EXACT"
        assert meta["source"]["provenance"]["tensorflow_version"] == "2.21.0"
        assert not (case.arrays["inputs.accum"] < 0).any()  # the engine refuses negative accumulators
        if meta["op"] == "sparse":
            assert meta["options"]["duplicates"] == "sequential"  # TensorFlow's raw op


def test_recording_covers_every_path_tail_and_index_kind() -> None:
    assert all(by_path()[key] for key in PATHS)
    for dtype, lanes in (("float32", 8), ("float64", 4)):
        tails = {c.arrays["inputs.var"].size % lanes for c in by_path()[f"dense-{dtype}"]}
        assert tails == set(range(lanes)), (dtype, tails)  # every scalar tail length, 0 included
    inner = {
        c.arrays["inputs.var"].shape[1] if c.arrays["inputs.var"].ndim == 2 else 1
        for c in cases()
        if c.meta["op"] == "sparse"
    }
    assert inner == {1, 3, 8, 13, 64}
    kinds = {"sorted": 0, "unsorted": 0, "duplicates": 0}
    for case in (c for c in cases() if c.meta["op"] == "sparse"):
        idx = case.arrays["inputs.indices"]
        kind = (
            "duplicates"
            if np.unique(idx).size < idx.size
            else "sorted"
            if (np.diff(idx) > 0).all()
            else "unsorted"
        )
        kinds[kind] += 1
    assert min(kinds.values()) > 0, kinds
    specials = np.concatenate([c.arrays["inputs.var"].ravel() for c in cases() if "special" in c.id])
    assert np.isnan(specials).any() and np.isinf(specials).any() and (specials == 0).any()
    hyper = {tuple(c.meta["hyper"][k] == "0x0.0p+0" for k in ("l1", "l2")) for c in cases()}
    assert hyper == {(True, True), (True, False), (False, True), (False, False)}


# --- engine against every recorded bit --------------------------------------------------------------------


def test_engine_reproduces_recorded_kernels_bit_for_bit() -> None:
    """emulate="tensorflow" against every recorded element; prints the agreement per path."""
    lines = [_agreement(key, by_path()[key]) for key in PATHS]
    print("\n".join(lines))
    assert all("bit-exact (100.00%)" in line and line.endswith(" 0") for line in lines), lines


def test_engine_reproduces_recorded_rsqrt_probe() -> None:
    """``tf.math.rsqrt`` on one input per table entry (the packet path) equals ``rsqrt_eigen``."""
    with np.load(RECORDED / "rsqrt_probe.npz", allow_pickle=False) as probe:
        x, y = probe["x"], probe["y"]
    assert x.dtype == y.dtype == np.float32 and x.size == 8192
    assert _same_bits(np.asarray(rsqrt_eigen(x)), y).all()
    assert y[x == 1.0].view(np.uint32)[0] == 0x3F800000  # after Eigen's Newton step


# --- recorded outputs against the derived error bound -----------------------------------------------------


def _exact_outputs(case: Case) -> dict[str, np.ndarray]:
    """The exact profile's outputs on the DAZ-flushed inputs, flushed (TensorFlow's FTZ rule)."""
    arrays = {k: _flush(v) if k.startswith("inputs.") else v for k, v in case.arrays.items()}
    exact = dataclasses.replace(case, meta={**case.meta, "profile": "exact"}, arrays=arrays)
    return {name: _flush(value) for name, value in call_case(_engine(case), exact).items()}


def _class_changes(case: Case, exact: dict[str, np.ndarray]) -> np.ndarray:
    """Rows (dense: elements) where the recorded and exact outputs differ in NaN / infinity class."""
    differs = np.zeros(case.arrays["inputs.var"].shape, bool)
    for name in ("var_out", "accum_out"):
        e, r = exact[name], case.arrays[f"expected.{name}"]
        differs |= (np.isnan(e) != np.isnan(r)) | ((np.isinf(e) | np.isinf(r)) & (e != r))
    return _rows(differs)


def _accumulator_flushed(case: Case) -> np.ndarray:
    """Rows whose recorded accumulator is 0 after the update (the documented FP_SPECIAL cause)."""
    return _rows(case.arrays["expected.accum_out"] == 0)


@pytest.mark.parametrize("key", PATHS)
def test_recorded_kernels_within_the_derived_bound(key: str) -> None:
    """Each recorded output passes BOUND mode against the exact profile; FP_SPECIAL elements counted."""
    worst = 0.0
    aside = checked = unconstrained = 0
    ulps: list[np.ndarray] = []
    for case in by_path()[key]:
        with np.errstate(all="ignore"):
            exact = _exact_outputs(case)
        differs = _class_changes(case, exact)
        explained = _accumulator_flushed(case)
        assert explained[differs].all(), (case.id, np.flatnonzero(differs & ~explained)[:5])
        bound_case = _bound_case(case, exact, ~differs)
        bound_case.meta["compliance"]["fp_special"] = "tensorflow"  # DAZ inputs, smallest-normal tiny
        recorded = {name: case.arrays[f"expected.{name}"][~differs] for name in ("var_out", "accum_out")}
        with np.errstate(all="ignore"):  # kept rows may hold infinities (same class in both)
            result = compare(bound_case, recorded)
        assert result.passed, (case.id, result.message)
        worst, checked = max(worst, result.worst_bound), checked + 1
        aside += int(differs.sum())
        unconstrained += result.unconstrained
        for name, rec in recorded.items():
            exp = bound_case.arrays[f"expected.{name}"]
            finite = np.isfinite(rec) & np.isfinite(exp)
            ulps.append(
                np.where(finite, _ulp_distance(rec, exp), np.where(_same_bits(rec, exp), 0, -1)).ravel()
            )
    dist = np.concatenate(ulps)
    shares = ", ".join(f"<= {k} ulp {np.mean((dist >= 0) & (dist <= k)):.2%}" for k in (0, 1, 2, 4))
    print(
        f"{key}: {checked} cases within 2B (worst {worst:.3g} of 2B); vs the exact profile: {shares} "
        f"of {dist.size} outputs (the rest: cancellation in w - eta*g or |v| - eta*l1, accumulator "
        "overflow); "
        f"{unconstrained} unconstrained; {aside} rows set aside (flushed accumulator)"
    )
    assert worst <= 1.0
    if key.endswith("float64"):
        assert aside == 0  # no float64 gradient square underflows in these recordings
