"""Count the bad inputs tried by every catalogue of bad inputs in the test suite, per surface.

Each surface's catalogue lives in one test file; each parametrized case of a
catalogue test is one bad input (a test without parameters counts once). Run
as a script for the table ``docs/reliability.md`` reports::

    python tests/reliability/test_catalogue.py
"""

from __future__ import annotations

import importlib.util
import math
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

TESTS = Path(__file__).resolve().parents[1]

# surface -> (the one file, below tests/, that holds its catalogue; the catalogue tests in it)
CATALOGUES: dict[str, tuple[str, list[str]]] = {
    "kernels": (
        "kernels/test_kernel_errors.py",
        [
            "test_dense_bad_input",
            "test_sparse_bad_input",
            "test_read_only_var_is_refused_for_inplace",
            "test_same_array_for_var_and_accum_is_refused_for_inplace",
            "test_kernel_bad_input_raises_and_changes_nothing",
        ],
    ),
    "optimizer": (
        "optim/test_optimizer_errors.py",
        [
            "test_construction_errors",
            "test_failed_step_changes_nothing",
            "test_failed_kernel_check_in_the_last_parameter_changes_nothing",
            "test_exhausted_lr_keeps_failing_and_changes_nothing",
            "test_optimizer_bad_call_raises_and_changes_nothing",
            "test_mixed_namespace_parameters_refuse_a_swapped_gradient",
            "test_optimizer_construction_bad_input",
        ],
    ),
    "schedules": (
        "optim/test_schedules.py",
        [
            "test_schedule_argument_errors",
            "test_list_builder_errors",
            "test_schedule_global_step_checked",
            "test_schedule_bad_input",
        ],
    ),
    "cli": (
        "cli/test_cli_errors.py",
        [
            "test_bad_candidate_and_missing_framework",
            "test_bad_arguments_give_clear_errors",
            "test_bad_dtype_is_refused_by_the_parser",
            "test_cli_bad_invocation",
            "test_cli_exit_status_through_a_real_process",
            "test_cli_misuse",
            "test_broken_pipe_is_quiet",
            "test_closed_output_pipe_ends_quietly_with_141",
            "test_repro_line_into_head_is_quiet",
            "test_ctrl_c_in_generate_exits_130_with_one_line_and_leaves_nothing",
            "test_ctrl_c_in_verify_exits_130",
        ],
    ),
    "vector files": (
        "vectors/test_file_errors.py",
        [
            "test_edited_case_refused_by_name",
            "test_corrupted_payload_refused_by_name",
            "test_truncated_payload_refused",
            "test_manifest_path_escaping_folder_refused",
            "test_bad_fields_refused_naming_file_and_field",
            "test_import_refuses_bad_recordings",
            "test_case_file_symlinked_outside_the_folder_is_refused",
            "test_payload_symlinked_outside_the_folder_is_refused",
            "test_bad_manifest_refused_naming_file_and_field",
            "test_unparsable_manifest_refused",
            "test_bad_results_file_refused_naming_file_and_field",
            "test_absurd_case_shape_refused_before_allocating",
            "test_bad_record_folder_refused_naming_file_and_field",
            "test_recording_without_provenance_or_probe_refused",
        ],
    ),
    "state files": (
        "optim/test_state.py",
        [
            "test_mismatched_state_refused_and_nothing_changes",
            "test_missing_field_refused",
            "test_file_from_another_optimizer_refused",
            "test_pickled_or_foreign_files_refused",
            "test_bad_state_file_refused_and_optimizer_unchanged",
            "test_state_with_an_object_entry_is_refused_without_unpickling",
            "test_state_path_that_is_a_folder_or_missing",
        ],
    ),
    "torch adapter": (
        "adapters/test_torch.py",
        [
            "test_a_bad_second_parameter_leaves_everything_unchanged",
            "test_parameters_sharing_one_storage_are_refused_and_nothing_changes",
            "test_construction_refusals_name_the_argument",
            "test_refused_add_param_group_adds_nothing",
            "test_bad_state_dict_is_refused_and_changes_nothing",
            "test_state_dict_of_torch_adagrad_is_refused",
            "test_engine_api_refuses_indices_the_engine_refuses",
        ],
    ),
    "optax adapter": (
        "adapters/test_optax.py",
        [
            "test_optax_bad_input",
            "test_float64_without_x64_is_refused",
            "test_engine_params_needs_exactly_one_state",
        ],
    ),
    "interrupted generation": (
        "vectors/test_interrupted_generation.py",
        [
            "test_interrupted_generation_leaves_old_folder",
            "test_interrupted_generation_leaves_no_half_written_suite",
        ],
    ),
}


@cache
def _module(path: str) -> ModuleType | None:
    """The test module at `path` (below tests/), imported on its own, apart from pytest's import.

    None when the module skips itself (its ``importorskip``: an optional library, torch or JAX, is absent).
    """
    spec = importlib.util.spec_from_file_location(f"_catalogue_{Path(path).stem}", TESTS / path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except pytest.skip.Exception:
        return None
    return module


def cases_of(module: ModuleType, name: str) -> int:
    """Number of parametrized cases of test `name` in `module` (1 without parameters)."""
    func = getattr(module, name)
    sizes = [len(list(m.args[1])) for m in getattr(func, "pytestmark", []) if m.name == "parametrize"]
    return math.prod(sizes)


def count() -> dict[str, int]:
    """Bad inputs per surface; a surface whose module skips (its library is not installed) is left out."""
    modules = {surface: (_module(path), names) for surface, (path, names) in CATALOGUES.items()}
    return {s: sum(cases_of(m, n) for n in names) for s, (m, names) in modules.items() if m is not None}


def test_catalogues_exist_and_total_is_reported() -> None:
    counts = count()
    assert all(n > 0 for n in counts.values()), counts
    # docs/reliability.md reports the figure; keep it from shrinking (adapters: counted where installed)
    adapters = {"torch adapter": 44, "optax adapter": 20}
    assert sum(n for s, n in counts.items() if s not in adapters) >= 475, counts
    assert all(counts[s] >= n for s, n in adapters.items() if s in counts), counts
    assert counts["cli"] >= 67, counts  # the CLI misuse catalogue included


def test_each_surface_has_one_catalogue_file() -> None:
    """No catalogue test of one surface lies in another surface's file, and none is listed twice."""
    files = [path for path, _ in CATALOGUES.values()]
    assert len(set(files)) == len(files), files
    names = [name for _, names in CATALOGUES.values() for name in names]
    assert len(set(names)) == len(names)
    for path, listed in CATALOGUES.values():
        module = _module(path)  # None: an optional library's surface, not installed here
        assert module is None or all(callable(getattr(module, name, None)) for name in listed), path


if __name__ == "__main__":
    sys.path.insert(0, str(TESTS))  # helpers, as pytest's pythonpath gives it
    table = count()
    width = max(map(len, CATALOGUES))
    for surface in CATALOGUES:
        print(f"{surface:<{width}}  {table.get(surface, 'skipped'):>4}")
    partial = "" if len(table) == len(CATALOGUES) else " (skipped surfaces not counted)"
    print(f"{'total':<{width}}  {sum(table.values()):>4}{partial}")
