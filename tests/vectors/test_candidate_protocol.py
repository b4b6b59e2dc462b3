"""The candidate protocol: plain callables, keywords by signature, declarations, not-applicable cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kernels_plain as plain_kernels
import pytest
import vector_impls as impls

from proxadagrad_ref import ProximalAdagrad, apply_proximal_adagrad, sparse_apply_proximal_adagrad, vectors
from proxadagrad_ref.cli import main
from proxadagrad_ref.vectors.candidates import as_candidate, signature_of

SUITE = Path(__file__).resolve().parents[2] / "conformance_vectors"
# What the committed suite holds (docs/conformance.md): 354 cases, 102 of them dense exact-profile ones,
# 51 of those in the kernels' (adaptive) form.
SUITE_CASES, DENSE_EXACT_ADAPTIVE = 354, 51


def test_correct_plain_kernel_passes_the_committed_suite_with_no_flags() -> None:
    report = vectors.verify(SUITE, candidate=plain_kernels.my_kernel)
    assert report.passed, report.format_text()
    assert len(report.results) == DENSE_EXACT_ADAPTIVE
    assert {(r.op, r.profile, r.prox_step) for r in report.results} == {("dense", "exact", "adaptive")}
    assert len(report.results) + len(report.not_applicable) == SUITE_CASES
    counts = report.not_applicable_counts()
    assert counts == {
        "op sparse: no sparse kernel": 125,
        "op optimizer: no optimizer factory": 59,
        "prox_step fixed: no prox_step= keyword (declare: --prox-step fixed)": 51,
        "profile mindspore: no emulate= keyword (declare: --profile mindspore)": 34,
        "profile tensorflow: no emulate= keyword (declare: --profile tensorflow)": 34,
    }


def test_correct_plain_kernel_from_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(SUITE), "--candidate", "kernels_plain:my_kernel"]) == 0
    out = capsys.readouterr().out
    assert f"{DENSE_EXACT_ADAPTIVE} passed, 0 failed, 303 not applicable (kernels_plain:my_kernel" in out
    assert "TypeError" not in out


def test_the_tutorials_filters_work_on_a_plain_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["verify", str(SUITE), "--candidate", "kernels_plain:my_kernel"]
    assert main([*argv, "--op", "dense", "--prox-step", "adaptive", "--profile", "exact"]) == 0
    assert f"{DENSE_EXACT_ADAPTIVE} passed, 0 failed" in capsys.readouterr().out


def test_candidate_is_exported_and_a_plain_callable_is_accepted() -> None:
    assert vectors.Candidate is vectors.candidates.Candidate
    cand = vectors.as_candidate(plain_kernels.my_sparse)
    assert cand.sparse is plain_kernels.my_sparse and cand.dense is None
    assert cand.spec == "kernels_plain:my_sparse" and cand.name == "kernels_plain:my_sparse"


def test_declared_prox_step_runs_the_printed_formula_on_fixed_cases() -> None:
    report = vectors.verify(SUITE, candidate=plain_kernels.printed_formula, prox_step="fixed")
    assert report.passed and len(report.results) == DENSE_EXACT_ADAPTIVE  # as many fixed as adaptive
    wrong = vectors.verify(SUITE, candidate=plain_kernels.printed_formula)  # taken to be adaptive
    assert not wrong.passed


def test_declared_profile_runs_a_plain_kernel_on_that_profiles_exact_cases() -> None:
    """A float64-once kernel does not have MindSpore's bits: declared, the EXACT cases reject it."""
    report = vectors.verify(SUITE, candidate=plain_kernels.my_kernel, profile="mindspore")
    assert {r.profile for r in report.results} == {"mindspore"} and len(report.results) == 34
    assert not report.passed
    assert all(r.mode == "EXACT" for r in report.results)


def test_keywords_are_passed_only_when_the_signature_accepts_them() -> None:
    seen: list[dict[str, Any]] = []

    def only_prox_step(var, accum, lr, l1, l2, grad, *, prox_step="adaptive"):
        seen.append({"prox_step": prox_step})
        return apply_proximal_adagrad(var, accum, lr, l1, l2, grad, prox_step=prox_step)

    def everything(var, accum, lr, l1, l2, grad, indices=None, **kwargs):
        seen.append(dict(kwargs))
        return sparse_apply_proximal_adagrad(var, accum, lr, l1, l2, grad, indices, **kwargs)

    report = vectors.verify(SUITE, candidate=only_prox_step, op="dense", profile="exact")
    assert report.passed and len(report.results) == 2 * DENSE_EXACT_ADAPTIVE
    assert {tuple(k) for k in seen} == {("prox_step",)}
    assert {k["prox_step"] for k in seen} == {"adaptive", "fixed"}
    seen.clear()
    report = vectors.verify(SUITE, candidate=everything, op="sparse")
    assert report.passed and not report.not_applicable, report.format_text()
    assert {tuple(sorted(k)) for k in seen} == {("duplicates", "emulate", "prox_step")}
    assert {k["emulate"] for k in seen} == {None, "mindspore", "tensorflow"}
    assert {k["duplicates"] for k in seen} == {"sum", "sequential", "error"}


def test_plain_sparse_kernel_passes_what_it_can_express() -> None:
    report = vectors.verify(SUITE, candidate=plain_kernels.my_sparse)
    assert report.passed, report.format_text()
    assert {r.op for r in report.results} == {"sparse"}
    kinds = {(r.profile, r.prox_step) for r in report.results}
    assert kinds == {("exact", "adaptive")}
    reasons = report.not_applicable_counts()
    assert any(r.startswith("duplicates sequential: no duplicates= keyword") for r in reasons)
    assert any(r.startswith("duplicates error: no duplicates= keyword") for r in reasons)
    assert any(r.startswith("grad_format csr: indices has no default") for r in reasons)
    assert any(r.startswith("grad_format coo: indices has no default") for r in reasons)


def test_in_place_kernel_returning_none_is_read_from_its_arrays() -> None:
    report = vectors.verify(SUITE, candidate=plain_kernels.in_place)
    assert report.passed and len(report.results) == DENSE_EXACT_ADAPTIVE


def test_a_candidate_returning_something_else_fails_with_a_message() -> None:
    report = vectors.verify(SUITE, candidate=plain_kernels.returns_garbage, dtype="float32")
    assert not report.passed
    assert "must return (var_out, accum_out) or None, got int" in report.failed()[0].message


@pytest.mark.parametrize("name", sorted(impls.MUTANTS))
def test_every_mutant_is_rejected_from_the_cli(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(impls, "candidate_under_test", impls.MUTANTS[name], raising=False)
    code = main(
        ["verify", str(SUITE), "--candidate", "vector_impls:candidate_under_test", "--profile", "exact"]
    )
    out = capsys.readouterr().out
    assert code == 1, out
    assert "FAIL " in out and "repro:" in out


def test_plain_mutant_rejected_and_exit_status_is_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(SUITE), "--candidate", "kernels_plain:wrong_l2"]) == 1
    out = capsys.readouterr().out
    assert "0 failed" not in out and "303 not applicable" in out


def test_nothing_applicable_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An optimizer factory on the tensorflow profile's cases (kernels only): nothing to run, status 2."""
    argv = ["verify", str(SUITE), "--candidate", "vector_impls:float64_optimizer", "--profile", "tensorflow"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no case ran" in err and "op dense: no dense kernel" in err and "op sparse: no sparse" in err


@pytest.mark.parametrize(
    ("func", "op"),
    [
        (plain_kernels.my_kernel, "dense"),
        (plain_kernels.my_sparse, "sparse"),
        (apply_proximal_adagrad, "dense"),
        (sparse_apply_proximal_adagrad, "sparse"),
        (ProximalAdagrad, "optimizer"),
        (impls.float64_optimizer, "optimizer"),  # factory(params, **kwargs): one positional parameter
    ],
)
def test_the_op_is_read_from_the_signature(func, op) -> None:
    cand = as_candidate(func)
    assert cand.for_op(op) is func
    assert [o for o in ("dense", "sparse", "optimizer") if cand.for_op(o) is not None] == [op]


def test_signature_without_names_falls_back_to_the_name() -> None:
    def sparse_wrapper(*args, **kwargs):
        return sparse_apply_proximal_adagrad(*args, **kwargs)

    assert as_candidate(sparse_wrapper).sparse is sparse_wrapper
    sig = signature_of(sparse_wrapper)
    assert sig.keywords is None and sig.accepts("emulate") and sig.indices_optional


def test_a_non_callable_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="candidate must be a callable"):
        vectors.verify(SUITE, candidate=42)


def test_engine_kernels_as_plain_candidates_pass_every_case_they_can_express() -> None:
    report = vectors.verify(SUITE, candidate=apply_proximal_adagrad)
    assert report.passed and len(report.results) == 170 and {r.op for r in report.results} == {"dense"}
    assert max(r.worst_bound for r in report.results if r.mode == "BOUND") == 0.0
