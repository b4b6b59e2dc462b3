"""Calling an implementation on a case: the engine itself, a Python callable, or a framework.

One function, :func:`call_case`, turns a case's arrays into a call with the
signature of :func:`~proxadagrad_ref.apply_proximal_adagrad` (dense) or
:func:`~proxadagrad_ref.sparse_apply_proximal_adagrad` (sparse); the generator
uses it with the engine's own kernels, the verifier with a candidate's.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import apply_proximal_adagrad, sparse_apply_proximal_adagrad
from .format import Case

__all__ = ["Candidate", "call_case", "engine_candidate", "hyper_values", "load_candidate"]


@dataclass(frozen=True)
class Candidate:
    """An implementation under test: a dense and a sparse callable (either may be None)."""

    name: str
    dense: Callable[..., Any] | None
    sparse: Callable[..., Any] | None
    pass_profile: bool = True  # pass emulate=/prox_step= keywords

    def for_op(self, op: str) -> Callable[..., Any] | None:
        """The callable for `op`, or None when the candidate does not implement it."""
        return {"dense": self.dense, "sparse": self.sparse}.get(op)


def engine_candidate() -> Candidate:
    """The engine's own public kernels."""
    return Candidate("proxadagrad_ref", apply_proximal_adagrad, sparse_apply_proximal_adagrad)


def load_candidate(spec: str) -> Candidate:
    """Import ``MODULE:FUNC``; FUNC is dense or sparse by its name (``sparse`` in it) unless it has both.

    ``MODULE:FUNC`` may also name an object with ``dense`` and ``sparse``
    attributes (for example a module or a small class) to test both ops.
    """
    if ":" not in spec:
        raise ValueError(f"--candidate must be MODULE:FUNC, got {spec!r}")
    mod_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ValueError(f"cannot import candidate module {mod_name!r}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"candidate module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if hasattr(obj, "dense") or hasattr(obj, "sparse"):
        return Candidate(spec, getattr(obj, "dense", None), getattr(obj, "sparse", None))
    if not callable(obj):
        raise ValueError(f"candidate {spec!r} is not callable")
    if "sparse" in attr.rsplit(".", 1)[-1]:
        return Candidate(spec, None, obj)
    return Candidate(spec, obj, None)


def hyper_values(case: Case) -> tuple[float, float, float]:
    """(lr, l1, l2) of a case, from their exact hex strings."""
    h = case.meta["hyper"]
    return float.fromhex(h["lr"]), float.fromhex(h["l1"]), float.fromhex(h["l2"])


def _grad_of(case: Case, inputs: Mapping[str, np.ndarray]) -> tuple[Any, Any]:
    fmt = case.meta["options"].get("grad_format", "rows")
    if fmt == "rows":
        return inputs["grad"].copy(), inputs["indices"].copy()
    import scipy.sparse as sp

    shape = inputs["var"].shape
    m: Any
    if fmt == "csr":
        m = sp.csr_array((inputs["grad_data"], inputs["grad_indices"], inputs["grad_indptr"]), shape=shape)
    else:
        m = sp.coo_array((inputs["grad_data"], (inputs["grad_row"], inputs["grad_col"])), shape=shape)
    return m, None


def call_case(func: Callable[..., Any], case: Case, *, pass_profile: bool = True) -> dict[str, np.ndarray]:
    """Run `func` on the case's inputs (copies) and return ``{"var_out", "accum_out"}`` as NumPy arrays."""
    inputs = case.group("inputs")
    lr, l1, l2 = hyper_values(case)
    meta = case.meta
    kwargs: dict[str, Any] = {}
    if pass_profile:
        kwargs = {
            "prox_step": meta["prox_step"],
            "emulate": None if meta["profile"] == "exact" else meta["profile"],
        }
    var, accum = inputs["var"].copy(), inputs["accum"].copy()
    with np.errstate(all="ignore"):
        if meta["op"] == "dense":
            out = func(var, accum, lr, l1, l2, inputs["grad"].copy(), **kwargs)
        elif meta["op"] == "sparse":
            grad, indices = _grad_of(case, inputs)
            if "duplicates" in meta["options"]:
                kwargs["duplicates"] = meta["options"]["duplicates"]
            out = func(var, accum, lr, l1, l2, grad, indices, **kwargs)
        else:
            raise ValueError(f"op {meta['op']!r} is not callable this way")
    var_out, accum_out = out
    return {"var_out": np.asarray(var_out), "accum_out": np.asarray(accum_out)}
