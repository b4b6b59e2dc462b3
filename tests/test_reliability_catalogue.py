"""Count the bad inputs tried by every catalogue of bad inputs in the test suite, per surface.

Each parametrized case of a catalogue test is one bad input (a test without
parameters counts once). Run as a script for the table ``docs/reliability.md``
reports::

    python tests/test_reliability_catalogue.py
"""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

# surface -> catalogue tests ("module::function") whose cases are each one bad input
CATALOGUES: dict[str, list[str]] = {
    "kernels": [
        "test_kernel_errors::test_dense_bad_input",
        "test_kernel_errors::test_sparse_bad_input",
        "test_kernel_errors::test_read_only_var_is_refused_for_inplace",
        "test_kernel_errors::test_same_array_for_var_and_accum_is_refused_for_inplace",
        "test_reliability_inputs::test_kernel_bad_input_raises_and_changes_nothing",
    ],
    "optimizer": [
        "test_optimizer_errors::test_construction_errors",
        "test_optimizer_errors::test_failed_step_changes_nothing",
        "test_optimizer_errors::test_failed_kernel_check_in_the_last_parameter_changes_nothing",
        "test_optimizer_errors::test_exhausted_lr_keeps_failing_and_changes_nothing",
        "test_reliability_inputs::test_optimizer_bad_call_raises_and_changes_nothing",
        "test_reliability_inputs::test_mixed_namespace_parameters_refuse_a_swapped_gradient",
        "test_reliability_inputs::test_optimizer_construction_bad_input",
    ],
    "schedules": [
        "test_schedules::test_schedule_argument_errors",
        "test_schedules::test_list_builder_errors",
        "test_optimizer_errors::test_schedule_global_step_checked",
        "test_reliability_inputs::test_schedule_bad_input",
    ],
    "cli": [
        "test_vectors_cli::test_bad_candidate_and_missing_framework",
        "test_explain::test_bad_arguments_give_clear_errors",
        "test_explain::test_bad_dtype_is_refused_by_the_parser",
        "test_reliability_inputs::test_cli_bad_invocation",
        "test_reliability_inputs::test_cli_exit_status_through_a_real_process",
        "test_cli_misuse::test_cli_misuse",
        "test_cli_misuse::test_broken_pipe_is_quiet",
        "test_cli_misuse::test_closed_output_pipe_ends_quietly_with_141",
        "test_cli_misuse::test_repro_line_into_head_is_quiet",
        "test_cli_misuse::test_ctrl_c_in_generate_exits_130_with_one_line_and_leaves_nothing",
        "test_cli_misuse::test_ctrl_c_in_verify_exits_130",
        "test_candidate_protocol::test_nothing_applicable_is_a_usage_error",
        "test_candidate_protocol::test_a_non_callable_is_refused_by_name",
        "test_testing_plugin::test_the_marker_refuses_unknown_keywords",
    ],
    "vector files": [
        "test_vectors_format::test_edited_case_refused_by_name",
        "test_vectors_format::test_corrupted_payload_refused_by_name",
        "test_vectors_format::test_truncated_payload_refused",
        "test_vectors_format::test_manifest_path_escaping_folder_refused",
        "test_vectors_format::test_bad_fields_refused_naming_file_and_field",
        "test_vectors_recorded::test_import_refuses_bad_recordings",
        "test_reliability_files::test_case_file_symlinked_outside_the_folder_is_refused",
        "test_reliability_files::test_payload_symlinked_outside_the_folder_is_refused",
        "test_reliability_files::test_more_escaping_manifest_paths_refused",
        "test_reliability_files::test_bad_manifest_refused_naming_file_and_field",
        "test_reliability_files::test_unparsable_manifest_refused",
        "test_reliability_files::test_bad_results_file_refused_naming_file_and_field",
        "test_reliability_files::test_absurd_case_shape_refused_before_allocating",
    ],
    "state files": [
        "test_state::test_mismatched_state_refused_and_nothing_changes",
        "test_state::test_missing_field_refused",
        "test_state::test_file_from_another_optimizer_refused",
        "test_state::test_pickled_or_foreign_files_refused",
        "test_reliability_files::test_bad_state_file_refused_and_optimizer_unchanged",
        "test_reliability_files::test_state_with_an_object_entry_is_refused_without_unpickling",
        "test_reliability_files::test_state_path_that_is_a_folder_or_missing",
    ],
    "interrupted generation": [
        "test_vectors_format::test_interrupted_generation_leaves_old_folder",
        "test_reliability_files::test_interrupted_generation_leaves_no_half_written_suite",
    ],
}


def cases_of(ref: str) -> int:
    """Number of parametrized cases of test ``module::function`` (1 without parameters)."""
    module_name, func_name = ref.split("::")
    func = getattr(importlib.import_module(module_name), func_name)
    sizes = [len(list(m.args[1])) for m in getattr(func, "pytestmark", []) if m.name == "parametrize"]
    return math.prod(sizes)


def count() -> dict[str, int]:
    """Bad inputs per surface."""
    return {surface: sum(cases_of(ref) for ref in refs) for surface, refs in CATALOGUES.items()}


def test_catalogues_exist_and_total_is_reported() -> None:
    counts = count()
    assert all(n > 0 for n in counts.values()), counts
    assert sum(counts.values()) >= 459, counts  # docs/reliability.md reports it; keep it from shrinking
    assert counts["cli"] >= 70, counts  # the CLI misuse catalogue (tests/test_cli_misuse.py) included


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    table = count()
    width = max(map(len, table))
    for surface, n in table.items():
        print(f"{surface:<{width}}  {n:>4}")
    print(f"{'total':<{width}}  {sum(table.values()):>4}")
