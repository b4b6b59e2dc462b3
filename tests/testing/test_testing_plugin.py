"""proxadagrad_ref.testing: assert_conforms, the pytest plugin in a downstream-style test file, strategies."""

from __future__ import annotations

import math
from pathlib import Path

import kernels_plain as plain_kernels
import numpy as np
import pytest
import vector_impls as impls
from hypothesis import HealthCheck, find, given, settings

from proxadagrad_ref.testing import assert_conforms, assert_step_conforms, conformance_cases
from proxadagrad_ref.testing.strategies import dense_inputs, sparse_inputs, suite_inputs
from proxadagrad_ref.vectors import suite_folder
from proxadagrad_ref.vectors import verifier as verifier_module

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "conformance_vectors"


def test_assert_conforms_passes_a_correct_plain_kernel() -> None:
    report = assert_conforms(plain_kernels.my_kernel, SUITE)
    assert report.passed and len(report.results) == 51
    assert assert_conforms(plain_kernels.my_sparse, SUITE).passed
    assert assert_conforms(plain_kernels.printed_formula, SUITE, prox_step="fixed").passed


@pytest.mark.parametrize("name", sorted(impls.MUTANTS))
def test_assert_conforms_rejects_every_mutant_with_a_readable_report(name: str) -> None:
    with pytest.raises(AssertionError) as info:
        assert_conforms(impls.MUTANTS[name], SUITE, profile="exact")
    text = str(info.value)
    assert "does not conform" in text and "FAIL " in text and "repro:" in text
    assert "np.float" not in text
    element = next(
        line for line in text.splitlines() if line.startswith("  var_out[") or line.startswith("  accum_out[")
    )
    assert " got " in element and ", expected " in element and " ulps" in element
    assert "inputs: var " in text


def test_assert_conforms_with_nothing_to_run_says_why() -> None:
    """An optimizer factory on the tensorflow profile's cases (kernels only): nothing to run."""
    with pytest.raises(AssertionError, match=r"no case of suite .* ran .*op dense: no dense kernel"):
        assert_conforms(impls.float64_optimizer, SUITE, profile="tensorflow")


def test_suite_default_is_the_committed_suite_generated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = suite_folder("default")
    assert (
        folder != SUITE and (folder / "manifest.json").read_bytes() == (SUITE / "manifest.json").read_bytes()
    )
    assert sorted(p.name for p in (folder / "cases").iterdir()) == sorted(
        p.name for p in (SUITE / "cases").iterdir()
    )

    def no_generation(*args, **kwargs):
        raise AssertionError("generated twice")

    import proxadagrad_ref.vectors.generator as generator_module

    monkeypatch.setattr(generator_module, "generate", no_generation)
    verifier_module._SUITE_FOLDERS.clear()  # a new process: found in the cache folder, not regenerated
    assert suite_folder("default") == folder


def test_an_unwritable_cache_falls_back_to_a_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PROXADAGRAD_REF_CACHE", str(blocker / "cache"))
    monkeypatch.setattr(verifier_module, "_SUITE_FOLDERS", {})
    folder = suite_folder("smoke")
    assert (folder / "manifest.json").is_file() and not str(folder).startswith(str(blocker))


def test_unknown_suite_name_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown suite 'huge'"):
        suite_folder("huge")


def test_conformance_cases_leave_out_what_the_candidate_cannot_express(smoke: Path) -> None:
    cases, skipped = conformance_cases(smoke, candidate=plain_kernels.my_kernel)
    assert [c.meta["op"] for c in cases] == ["dense"] * 3 and sum(skipped.values()) == 7
    assert cases[0].check().passed
    with pytest.raises(AssertionError, match="fails case"):
        cases[0].check(plain_kernels.wrong_l2)


DOWNSTREAM_KERNELS = """
import numpy as np


def my_kernel(var, accum, lr, l1, l2, grad):
    w, a, g = (np.asarray(x, np.float64) for x in (var, accum, grad))
    a = a + g * g
    eta = lr / np.sqrt(a)
    v = w - eta * g
    w = np.sign(v) * np.maximum(np.abs(v) - eta * l1, 0.0) / (1.0 + eta * l2)
    return w.astype(var.dtype), a.astype(var.dtype)


def forgot_l2(var, accum, lr, l1, l2, grad):
    return my_kernel(var, accum, lr, l1, 0.0, grad)
"""

DOWNSTREAM_TESTS = """
import pytest
from proxadagrad_ref.testing import assert_conforms

from mykernels import forgot_l2, my_kernel


def test_whole_suite(suite):
    assert_conforms(my_kernel, suite)


@pytest.mark.proxadagrad(candidate=my_kernel)
def test_each_case(conformance_case):
    conformance_case.check()


@pytest.mark.proxadagrad(op="dense", profile="exact", dtype="float32")
def test_wrong_kernel_is_caught(conformance_case):
    conformance_case.check(forgot_l2)
"""


def test_a_downstream_test_file_uses_the_plugin(pytester: pytest.Pytester, smoke: Path) -> None:
    pytester.makepyfile(mykernels=DOWNSTREAM_KERNELS, test_downstream=DOWNSTREAM_TESTS)
    pytester.makeconftest(f"import pytest\n\n@pytest.fixture\ndef suite():\n    return {str(smoke)!r}\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--proxadagrad-suite", str(smoke), "-v")
    # smoke: 3 dense exact cases of the kernels' form, 7 the kernel cannot express; of its two float32
    # dense exact cases, the printed formula's is skipped as not applicable to forgot_l2
    result.assert_outcomes(passed=1 + 3, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*test_each_case?dense-random-l1l2-float32-exact-adaptive-n8-v0? PASSED*",
            "*test_wrong_kernel_is_caught?dense-random-l1l2-float32-exact-adaptive-n8-v0? FAILED*",
            "*forgot_l2 fails case dense-random-l1l2-float32-exact-adaptive-n8-v0*",
            "*repro:   proxadagrad-ref verify * --candidate mykernels:forgot_l2 --op dense --profile exact*",
            "proxadagrad_ref: *test_downstream.py::test_each_case: 7 cases not applicable*",
        ]
    )


def test_the_marker_refuses_unknown_keywords(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="import pytest\n\n@pytest.mark.proxadagrad(profil='exact')\n"
        "def test_x(conformance_case):\n    pass\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*proxadagrad takes the keywords*got profil*"])


_QUICK = settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@_QUICK
@given(dense_inputs())
def test_strategies_correct_dense_kernel_conforms(inputs) -> None:
    assert_step_conforms(plain_kernels.my_kernel, inputs)


@_QUICK
@given(sparse_inputs())
def test_strategies_correct_sparse_kernel_conforms(inputs) -> None:
    assert_step_conforms(plain_kernels.my_sparse, inputs)


@_QUICK
@given(suite_inputs("dense"))
def test_strategies_from_the_suites_own_scenarios(inputs) -> None:
    assert_step_conforms(plain_kernels.my_kernel, inputs)


def _rejected(func, inputs, **kw) -> bool:
    try:
        assert_step_conforms(func, inputs, **kw)
    except AssertionError:
        return True
    return False


@pytest.mark.parametrize("name", sorted(n for n in impls.MUTANTS if n != "duplicates_sequential_for_sum"))
def test_strategies_find_an_input_that_rejects_each_dense_mutant(name: str) -> None:
    mutant = impls.MUTANTS[name].dense
    prox = "fixed" if name == "kernel_form_for_printed" else "adaptive"
    example = find(
        dense_inputs("float32"),
        lambda inputs: _rejected(mutant, inputs, prox_step=prox),
        settings=settings(max_examples=500, derandomize=True, database=None),
    )
    with pytest.raises(AssertionError, match="disagrees with the engine"):
        assert_step_conforms(mutant, example, prox_step=prox)


def test_strategies_find_the_sequential_duplicates_mutant() -> None:
    mutant = impls.MUTANTS["duplicates_sequential_for_sum"].sparse
    example = find(
        sparse_inputs("float32"),
        lambda inputs: _rejected(mutant, inputs),
        settings=settings(max_examples=500, derandomize=True, database=None),
    )
    assert len(np.unique(example["indices"])) < len(example["indices"])  # it needs a duplicate index


@pytest.mark.parametrize(
    "special",
    [math.isnan, math.isinf, lambda x: x != 0 and abs(x) < np.finfo(np.float32).smallest_normal],
    ids=["nan", "inf", "subnormal"],
)
def test_strategies_draw_the_suites_edge_values(special) -> None:
    find(
        dense_inputs("float32"),
        lambda inputs: any(special(float(x)) for x in inputs["grad"]),
        settings=settings(max_examples=500, derandomize=True, database=None),
    )


def test_duplicates_error_is_checked_too() -> None:
    inputs = {
        "var": np.ones((3, 2), np.float32),
        "accum": np.ones((3, 2), np.float32),
        "grad": np.ones((2, 2), np.float32),
        "indices": np.array([1, 1]),
        "lr": 0.1,
        "l1": 0.0,
        "l2": 0.0,
    }
    from proxadagrad_ref import sparse_apply_proximal_adagrad

    assert assert_step_conforms(sparse_apply_proximal_adagrad, inputs, duplicates="error").mode == "ERROR"
    with pytest.raises(AssertionError, match="expected an error"):
        assert_step_conforms(lambda *a, **k: plain_kernels.my_sparse(*a), inputs, duplicates="error")
