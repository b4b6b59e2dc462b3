"""Conformance vectors: a versioned, language-neutral, bit-exact file format, its generator and verifier.

* :mod:`.format` -- reading and writing suites (JSON metadata + raw little-endian payloads).
* :mod:`.suites` / :mod:`.generator` -- which cases exist and how they are produced (with the engine).
* :mod:`.bound` -- the derived forward error bound used by ``BOUND`` cases.
* :mod:`.candidates` -- the candidate protocol: a plain callable with the kernel's signature.
* :mod:`.verifier` -- checking a candidate (Python callable, results folder, framework) against a suite.
* :mod:`.recorded` -- importing outputs recorded from TensorFlow / MindSpore.

The format is specified in ``docs/conformance.md``.
"""

from .candidates import Candidate, as_candidate
from .format import Case, FormatError, read_case, read_suite
from .generator import generate, repro
from .verifier import CaseResult, VerifyReport, run_case, suite_folder, verify

__all__ = [
    "Candidate",
    "Case",
    "CaseResult",
    "FormatError",
    "VerifyReport",
    "as_candidate",
    "generate",
    "read_case",
    "read_suite",
    "repro",
    "run_case",
    "suite_folder",
    "verify",
]
