"""Calling an implementation on a case: the engine itself, a Python callable, or a framework.

One function, :func:`call_case`, turns a case's arrays into a call with the
signature of :func:`~proxadagrad_ref.apply_proximal_adagrad` (dense) or
:func:`~proxadagrad_ref.sparse_apply_proximal_adagrad` (sparse); the generator
uses it with the engine's own kernels, the verifier with a candidate's.
Trajectories (``op: "optimizer"``) run an optimizer *factory* with the
signature of :class:`~proxadagrad_ref.ProximalAdagrad`
(:func:`~.trajectory.run_trajectory`).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import apply_proximal_adagrad, sparse_apply_proximal_adagrad
from .format import Case

__all__ = ["Candidate", "call_case", "engine_candidate", "hyper_values", "load_candidate"]


@dataclass(frozen=True)
class Candidate:
    """An implementation under test: dense and sparse callables and an optimizer factory (any may be None)."""

    name: str
    dense: Callable[..., Any] | None
    sparse: Callable[..., Any] | None
    pass_profile: bool = True  # pass emulate=/prox_step= keywords
    optimizer: Callable[..., Any] | None = None

    def for_op(self, op: str) -> Callable[..., Any] | None:
        """The callable for `op`, or None when the candidate does not implement it."""
        return {"dense": self.dense, "sparse": self.sparse, "optimizer": self.optimizer}.get(op)


def engine_candidate() -> Candidate:
    """The engine's own public kernels and optimizer."""
    from ..optim import ProximalAdagrad

    return Candidate(
        "proxadagrad_ref", apply_proximal_adagrad, sparse_apply_proximal_adagrad, optimizer=ProximalAdagrad
    )


def load_candidate(spec: str, op: str | None = None) -> Candidate:
    """Import ``MODULE:FUNC`` and decide which op it implements.

    FUNC is an optimizer factory when `op` is ``"optimizer"``, when it is a
    class, or when its name contains ``optim``; else a sparse kernel when its
    name contains ``sparse``; else a dense kernel. ``MODULE:FUNC`` may also name
    an object with ``dense``, ``sparse`` and/or ``optimizer`` attributes (a
    module or a small class) to test several ops. An optimizer factory has the
    signature of :class:`~proxadagrad_ref.ProximalAdagrad` (see
    :mod:`.trajectory`).
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
    if any(hasattr(obj, a) for a in ("dense", "sparse", "optimizer")) and not inspect.isclass(obj):
        return Candidate(
            spec,
            getattr(obj, "dense", None),
            getattr(obj, "sparse", None),
            optimizer=getattr(obj, "optimizer", None),
        )
    if not callable(obj):
        raise ValueError(f"candidate {spec!r} is not callable")
    last = attr.rsplit(".", 1)[-1]
    if op == "optimizer" or inspect.isclass(obj) or "optim" in last.lower():
        return Candidate(spec, None, None, optimizer=obj)
    if "sparse" in last:
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
