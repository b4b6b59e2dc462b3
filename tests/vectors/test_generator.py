"""The generator: deterministic bytes, coverage, and the committed suite in sync."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
from helpers import SUITE

from proxadagrad_ref.vectors import generate, read_suite, repro, verify


def _same_tree(a: Path, b: Path) -> list[str]:
    # recorded/ holds framework recordings kept beside the generated suite, not generator output
    cmp = filecmp.dircmp(a, b, ignore=["recorded"])
    diffs = cmp.left_only + cmp.right_only
    diffs += [f for f in cmp.common_files if (a / f).read_bytes() != (b / f).read_bytes()]
    for sub in cmp.common_dirs:
        diffs += _same_tree(a / sub, b / sub)
    return diffs


def test_committed_suite_matches_generator(tmp_path: Path) -> None:
    """Fails when the generator (or the engine) and conformance_vectors/ drift: regenerate and commit."""
    generate(tmp_path / "default", "default")
    drift = _same_tree(SUITE, tmp_path / "default")
    assert not drift, (
        f"conformance_vectors/ differs from the generator in {drift[:5]}; run "
        "`proxadagrad-ref generate --out conformance_vectors` and commit"
    )


def test_generation_is_deterministic(tmp_path: Path) -> None:
    generate(tmp_path / "a", "smoke")
    generate(tmp_path / "b", "smoke")
    assert not _same_tree(tmp_path / "a", tmp_path / "b")


def test_committed_suite_is_small_and_engine_passes_bit_for_bit() -> None:
    recorded = SUITE / "recorded"  # framework recordings, not generated: sized on their own
    size = sum(p.stat().st_size for p in SUITE.rglob("*") if p.is_file() and recorded not in p.parents)
    assert size < 4_000_000
    report = verify(SUITE)
    assert report.passed, report.table()


def test_default_suite_coverage() -> None:
    cases = list(read_suite(SUITE))
    metas = [c.meta for c in cases]
    assert {m["dtype"] for m in metas} >= {"float16", "float32", "float64"}
    assert {m["prox_step"] for m in metas} == {"adaptive", "fixed"}
    assert {m["profile"] for m in metas} >= {"exact", "mindspore"}
    tags = {t for m in metas for t in m["tags"]}
    assert tags >= {
        "threshold",
        "accum_zero",
        "accum_subnormal",
        "grad_zero",
        "grad_huge",
        "grad_subnormal",
        "grad_inf",
        "grad_nan",
        "l1",
        "l2",
        "noreg",
        "lrtiny",
        "lrlarge",
    }
    sparse = [c for c in cases if c.meta["op"] == "sparse"]
    assert {c.meta["options"]["duplicates"] for c in sparse} == {"sum", "sequential", "error"}
    assert {c.meta["options"]["grad_format"] for c in sparse} == {"rows", "csr", "coo"}
    assert {str(c.arrays["inputs.indices"].dtype) for c in sparse if "inputs.indices" in c.arrays} == {
        "int32",
        "int64",
    }
    assert any(c.meta.get("expect_error") for c in sparse)
    trajectories = [c.meta for c in cases if c.meta["op"] == "optimizer"]
    assert {m["profile"] for m in trajectories} == {"exact", "mindspore"}
    assert {m["dtype"] for m in trajectories} >= {"float16", "float32"}
    kinds = {m["optimizer"]["learning_rate"]["kind"] for m in trajectories}
    assert kinds == {"float", "array", "list", "schedule"}
    schedules = {m["optimizer"]["learning_rate"].get("name") for m in trajectories}
    builders = {m["optimizer"]["learning_rate"].get("builder", {}).get("name") for m in trajectories}
    from proxadagrad_ref.vectors.trajectory import BUILDERS, SCHEDULES

    assert schedules >= set(SCHEDULES) and builders >= set(BUILDERS)
    assert any("groups" in m["optimizer"] and "order_params" in m["optimizer"] for m in trajectories)
    assert any(m["optimizer"]["weight_decay"]["kind"] == "per_step" for m in trajectories)
    assert any(float.fromhex(m["optimizer"]["loss_scale"]) != 1 for m in trajectories)
    assert any(p["grad"] == "rows" for m in trajectories for p in m["optimizer"]["params"])
    assert any(c.arrays.get("inputs.indices", np.ones(1)).size == 0 for c in sparse)


def test_repro_rebuilds_the_case(capsys) -> None:
    case = next(iter(read_suite(SUITE)))
    rebuilt = repro("default", case.id)
    assert "expected.var_out" in capsys.readouterr().out
    for k, v in case.arrays.items():
        np.testing.assert_array_equal(rebuilt.arrays[k].view(np.uint8), v.view(np.uint8))
