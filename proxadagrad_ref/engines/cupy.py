"""Fused CuPy kernel: one elementwise kernel per step, its body generated from the profile formula.

``engine="cupy"`` runs the formula as one ``cupy.ElementwiseKernel`` (one
read of ``w, a, g`` and one write of ``w', a'`` per element) instead of the
reference engine's one CuPy call per operation. The body is
:func:`proxadagrad_ref.engines.ccode.c_body`, compiled by NVRTC with ``--fmad=false``
(no contraction into FMA); NVRTC's division and square root are IEEE
correctly rounded unless fast math is requested, and subnormals are kept
(``--ftz=false`` is its default).

Status: the generated body is verified bit for bit against the reference
path on the CPU (``tests/engines/test_ccode.py``, g++); the kernel itself has not yet
run on a GPU in this project's tests (no GPU was available), so ``"auto"``
does not choose it. ``tests/engines/test_ccode.py`` compares it with the NumPy
reference wherever CuPy and a GPU are present.
float32 and float64 parameters; the TensorFlow profile (table-driven rsqrt)
and float16 (CuPy converts ``double`` to ``half`` through ``float``: two
roundings) use the reference path.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..backends.compat import is_cupy_namespace, numpy_namespace
from ..numerics.profiles import Formula, Profile
from . import ccode
from .step import Elementwise, RowUpdate

__all__ = ["KERNEL_OPTIONS", "evaluate", "kernel_source", "rows_kernel_source", "update_rows"]

Array = Any
Namespace = Any

KERNEL_OPTIONS = ("--fmad=false", "--ftz=false", "--prec-div=true", "--prec-sqrt=true")
"""NVRTC options: IEEE division and square root, no FMA contraction, no flush to zero."""

_TYPES = {"float32": "float32", "float64": "float64"}
_KERNELS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def kernel_source(
    formula: Formula, profile: Profile, dtype: Any, hyper: tuple[Any, Any, Any], adaptive: bool
) -> tuple[str, str, str]:
    """``(in_params, out_params, operation)`` of the ElementwiseKernel for parameters of `dtype`."""
    name = np.dtype(dtype).name
    if name not in _TYPES:
        raise TypeError(f"engine='cupy' supports float32 and float64 parameters, not {name}")
    compute = np.dtype(profile.compute_dtype(numpy_namespace(), np.dtype(dtype)))
    body = ccode.c_body(formula, compute, hyper, adaptive)
    t = _TYPES[name]
    return f"{t} w, {t} a, {t} g, {t} lr, {t} l1, {t} l2", f"{t} w_out, {t} a_out", body


def rows_kernel_source(
    formula: Formula, profile: Profile, dtype: Any, hyper: tuple[Any, Any, Any], adaptive: bool
) -> tuple[str, str, str]:
    """``(in_params, out_params, operation)`` of the sparse kernel: one thread per touched element.

    The table and its accumulators are ``raw`` arguments updated in place at
    the rows ``idx`` (see :func:`proxadagrad_ref.engines.ccode.rows_operation`); the
    gradient rows ``g`` set the kernel's size.
    """
    _, _, body = kernel_source(formula, profile, dtype, hyper, adaptive)
    t = _TYPES[np.dtype(dtype).name]
    c_type = "float" if t == "float32" else "double"
    return (
        f"{t} g, raw int64 idx, int64 inner, {t} lr, {t} l1, {t} l2",
        f"raw {t} var, raw {t} accum",
        ccode.rows_operation(body, c_type),
    )


def _kernel(in_params: str, out_params: str, body: str) -> Any:  # pragma: no cover - needs CuPy
    key = (in_params + out_params, body)
    with _LOCK:
        found = _KERNELS.get(key)
        if found is None:
            import cupy

            found = _KERNELS[key] = cupy.ElementwiseKernel(
                in_params,
                out_params,
                body,
                "proxadagrad_step",
                preamble="#define PA_FN static __device__ __forceinline__\n" + ccode.PREAMBLE,
                options=KERNEL_OPTIONS,
            )
        return found


def _host_hyper(task: Elementwise | RowUpdate) -> tuple[Any, Any, Any]:
    """``lr, l1, l2`` as host scalars of the parameter dtype (0-d device arrays copied to the host)."""
    host = [h.get() if hasattr(h, "get") else h for h in task.hyper]
    lr, l1, l2 = (np.asarray(h, dtype=task.var.dtype)[()] for h in host)
    return lr, l1, l2


def evaluate(  # pragma: no cover - needs CuPy and a GPU
    task: Elementwise, out: tuple[Array, Array] | None = None
) -> tuple[Array, Array]:
    """`task` as one fused CuPy kernel, optionally writing into `out` (which may be var/accum)."""
    xp, var = task.xp, task.var
    if not is_cupy_namespace(xp):
        raise ValueError("engine='cupy' needs CuPy arrays")
    if not ccode.expressible(task.formula):
        raise ValueError(f"engine='cupy' has no C++ form of an operation of the {task.profile.name} profile")
    for name, x in (("accum", task.accum), ("grad", task.grad)):
        if x.dtype != var.dtype:
            raise TypeError(f"engine='cupy' needs {name} of var's dtype {var.dtype}, got {x.dtype}")
    hyper = _host_hyper(task)
    in_params, out_params, body = kernel_source(task.formula, task.profile, var.dtype, hyper, task.adaptive)
    kernel = _kernel(in_params, out_params, body)
    if out is None:
        out = (xp.empty_like(var), xp.empty_like(task.accum))
    kernel(var, task.accum, task.grad, *hyper, out[0], out[1])
    return out


def update_rows(  # pragma: no cover - needs CuPy and a GPU
    task: RowUpdate, *, inplace: bool = True
) -> tuple[Array, Array] | None:
    """The rows of `task` (distinct) of CuPy tables updated by one fused kernel (as the numba row update).

    Returns ``(var, accum)`` updated in place, or updated copies when not
    `inplace`; None, having written and copied nothing, when a touched
    accumulator is negative or NaN (the caller's general path reports it) or
    the arrays are not C-contiguous of one float32/float64 dtype.
    """
    xp, var, accum, grad, idx = task.xp, task.var, task.accum, task.grad, task.idx
    if var.dtype != accum.dtype or grad.dtype != var.dtype or np.dtype(var.dtype).name not in _TYPES:
        return None
    if not (var.flags.c_contiguous and accum.flags.c_contiguous and grad.flags.c_contiguous):
        return None
    if not bool(xp.all(xp.take(accum, idx, axis=0) >= 0)):
        return None
    if not inplace:
        var, accum = xp.asarray(var, copy=True), xp.asarray(accum, copy=True)
    hyper = _host_hyper(task)
    in_params, out_params, body = rows_kernel_source(
        task.formula, task.profile, var.dtype, hyper, task.adaptive
    )
    inner = int(np.prod(var.shape[1:], dtype=np.int64))
    kernel = _kernel(in_params, out_params, body)
    kernel(grad.reshape(-1), xp.astype(idx, xp.int64), inner, *hyper, var, accum)
    return var, accum
