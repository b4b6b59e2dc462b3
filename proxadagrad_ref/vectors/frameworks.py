"""Adapters that run TensorFlow's or MindSpore's kernels on suite cases (imported lazily).

Each adapter has the signature of the engine's kernels, so the verifier treats
a framework like any candidate. The framework is checked against the cases of
its own profile when the suite has them (EXACT), else against the ``exact``
profile's adaptive cases (BOUND), with the duplicates policy it implements.
For TensorFlow the report says whether this host's ``vrsqrtps`` matches the
table the ``tensorflow`` profile models (:mod:`proxadagrad_ref.numerics.hostcpu`): on
another CPU TensorFlow's float32 bits differ.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from ..numerics import hostcpu
from ..numerics.profiles import hyper_dtype_name
from .candidates import Candidate
from .format import read_suite
from .verifier import VerifyReport, run_case, select

__all__ = ["FrameworkUnavailable", "crosscheck", "framework_candidate"]


class FrameworkUnavailable(RuntimeError):
    """The requested framework is not installed or cannot start."""


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception as exc:  # ImportError, or a broken install failing at import
        raise FrameworkUnavailable(
            f"{name} is not importable here ({type(exc).__name__}: {exc}); install it "
            f"(pip install {name}) to crosscheck it, or verify recorded outputs instead"
        ) from None


def framework_candidate(framework: str) -> tuple[Candidate, str]:
    """A candidate running `framework`'s CPU kernels and the duplicates policy it implements."""
    if framework == "tensorflow":
        tf = _import("tensorflow")

        def dense(var: Any, accum: Any, lr: float, l1: float, l2: float, grad: Any, **_: Any) -> Any:
            v, a = tf.Variable(var), tf.Variable(accum)
            dt = var.dtype
            tf.raw_ops.ResourceApplyProximalAdagrad(
                var=v.handle, accum=a.handle, lr=dt.type(lr), l1=dt.type(l1), l2=dt.type(l2), grad=grad
            )
            return v.numpy(), a.numpy()

        def sparse(
            var: Any, accum: Any, lr: float, l1: float, l2: float, grad: Any, indices: Any, **_: Any
        ) -> Any:
            v, a = tf.Variable(var), tf.Variable(accum)
            dt = var.dtype
            tf.raw_ops.ResourceSparseApplyProximalAdagrad(
                var=v.handle,
                accum=a.handle,
                lr=dt.type(lr),
                l1=dt.type(l1),
                l2=dt.type(l2),
                grad=grad,
                indices=indices,
            )
            return v.numpy(), a.numpy()

        return Candidate("tensorflow", dense, sparse, pass_profile=False), "sequential"
    if framework == "mindspore":
        ms = _import("mindspore")

        calls = iter(range(1 << 62))
        # One task per kernel launch, on the calling thread: the setting the `mindspore` profile models.
        # MindSpore otherwise auto-tunes the task count per call, which moves the SIMD tails, and its
        # worker threads flush subnormals (measured on 2.10: calls 5-14 of a kernel ran on 2 tasks
        # and returned 0 where the calling thread kept a subnormal accumulator).
        ms.device_context.cpu.op_tuning.threads_num(1)

        def ms_parameters(var: Any, accum: Any) -> tuple[Any, Any]:
            # Fresh copies under fresh names: a Parameter's asnumpy() can share memory, and names
            # identify parameters, so nothing may be reused between calls.
            k = next(calls)
            return (
                ms.Parameter(ms.Tensor(np.array(var, copy=True)), name=f"var_{k}"),
                ms.Parameter(ms.Tensor(np.array(accum, copy=True)), name=f"accum_{k}"),
            )

        def ms_scalars(var: Any, *values: float) -> list[Any]:
            # the float16 kernel widens to float32; its scalars are handed over in float32 here
            dtype = hyper_dtype_name(var.dtype.name)
            return [ms.Tensor(np.asarray(x, dtype)) for x in values]

        def ms_dense(var: Any, accum: Any, lr: float, l1: float, l2: float, grad: Any, **_: Any) -> Any:
            v, a = ms_parameters(var, accum)
            ms.ops.ApplyProximalAdagrad()(v, a, *ms_scalars(var, lr, l1, l2), ms.Tensor(np.array(grad)))
            return v.asnumpy().copy(), a.asnumpy().copy()

        def ms_sparse(
            var: Any, accum: Any, lr: float, l1: float, l2: float, grad: Any, indices: Any, **_: Any
        ) -> Any:
            # The non-fused SparseApplyProximalAdagrad has no CPU kernel; the fused one does, and it
            # sums duplicate indices first (the "sum" policy).
            v, a = ms_parameters(var, accum)
            ms.ops.FusedSparseProximalAdagrad()(
                v, a, *ms_scalars(var, lr, l1, l2), ms.Tensor(np.array(grad)), ms.Tensor(np.array(indices))
            )
            return v.asnumpy().copy(), a.asnumpy().copy()

        return Candidate("mindspore", ms_dense, ms_sparse, pass_profile=False), "sum"
    raise ValueError(f"unknown framework {framework!r}")


def crosscheck(folder: str, framework: str, *, op: str | None = None) -> VerifyReport:
    """Run `framework` against the suite in `folder` and return the verifier's report."""
    candidate, policy = framework_candidate(framework)
    cases = [
        c
        for c in read_suite(folder)
        if c.meta["prox_step"] == "adaptive"
        and c.meta["op"] != "optimizer"  # the frameworks' kernels, not their optimizers
        and c.meta["options"].get("grad_format", "rows") == "rows"
        and c.meta["options"].get("duplicates", policy) == policy
    ]
    own = [c for c in cases if c.meta["profile"] == framework]
    chosen = own or [c for c in cases if c.meta["profile"] == "exact"]
    report = VerifyReport(framework, str(folder), folder=str(folder))
    if op is not None:
        report.filters["op"] = op
    if framework == "tensorflow":
        report.notes.append(hostcpu.host_check().message())
    for case in select(chosen, op=op):
        report.results.append(run_case(case, candidate))
    return report
