"""Mutation tests: correct implementations pass the BOUND cases, wrong ones are rejected."""

from __future__ import annotations

from pathlib import Path

import pytest
import vector_impls as impls

from proxadagrad_ref.vectors import verify
from proxadagrad_ref.vectors.candidates import Candidate

SUITE = Path(__file__).resolve().parents[1] / "conformance_vectors"


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
