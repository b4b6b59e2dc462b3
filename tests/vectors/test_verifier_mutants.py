"""Mutation tests: correct implementations pass the BOUND cases, wrong ones are rejected."""

from __future__ import annotations

import pytest
import vector_impls as impls
from helpers import SUITE

from proxadagrad_ref.vectors import verify
from proxadagrad_ref.vectors.candidates import Candidate


def _run(name: str, impl: impls.Impl):
    return verify(SUITE, candidate=Candidate(name, impl.dense, impl.sparse), profile="exact")


@pytest.mark.parametrize("name", sorted(impls.CORRECT))
def test_correct_variant_passes(name: str) -> None:
    report = _run(name, impls.CORRECT[name])
    assert report.passed, report.table()
    assert len(report.results) > 150
    assert max(r.worst_bound for r in report.results) <= 1.0


@pytest.mark.parametrize("name", sorted(impls.MUTANTS))
def test_mutant_rejected(name: str) -> None:
    report = _run(name, impls.MUTANTS[name])
    assert not report.passed
    assert all(r.repro for r in report.failed())


def test_mutant_rejected_on_exact_profile_too() -> None:
    """An FMA-less implementation is not bit-faithful to MindSpore: EXACT cases reject it."""
    impl = impls.CORRECT["native"]
    report = verify(
        SUITE, candidate=Candidate("native", impl.dense, impl.sparse), profile="mindspore", op="dense"
    )
    assert not report.passed


def _run_optimizer(name: str, factory):
    return verify(
        SUITE, candidate=Candidate(name, None, None, optimizer=factory), profile="exact", op="optimizer"
    )


@pytest.mark.parametrize("name", sorted(impls.OPTIMIZER_CORRECT))
def test_correct_optimizer_passes_trajectories(name: str) -> None:
    """Independent pipelines (float64 kernel, or the dtype's own arithmetic) pass every exact trajectory."""
    report = _run_optimizer(name, impls.OPTIMIZER_CORRECT[name])
    assert report.passed, report.table()
    assert len(report.results) >= 30
    assert max(r.worst_bound for r in report.results) <= 0.75


@pytest.mark.parametrize("name", sorted(impls.OPTIMIZER_MUTANTS))
def test_optimizer_mutant_rejected(name: str) -> None:
    report = _run_optimizer(name, impls.OPTIMIZER_MUTANTS[name])
    assert not report.passed
    assert all(r.repro and "after step" in r.message for r in report.failed())


def test_engine_optimizer_passes_bound_and_float64_pipeline_fails_mindspore() -> None:
    from proxadagrad_ref import ProximalAdagrad

    report = verify(
        SUITE, candidate=Candidate("engine", None, None, optimizer=ProximalAdagrad), op="optimizer"
    )
    assert report.passed and max(r.worst_bound for r in report.results) == 0.0
    report = verify(
        SUITE,
        candidate=Candidate("f64", None, None, optimizer=impls.float64_optimizer),
        op="optimizer",
        profile="mindspore",
    )
    assert not report.passed  # MindSpore's pipeline rounds every stage in the dtype: EXACT rejects
