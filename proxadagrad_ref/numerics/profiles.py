"""Numerics profiles: the one place where each profile's arithmetic is written.

The update each formula computes is typeset once, in the docstring of
:func:`proxadagrad_ref.apply_proximal_adagrad` (its two prox forms: the
kernels' "adaptive" step ``eta = lr / sqrt(a')`` inside the prox, the printed
"fixed" ``lr``). Where ``l1 == 0`` the kernels skip the threshold and compute ``v / (1 + eta*l2)``;
every profile does the same (the two differ only in how NaN and -0 come out).

How a formula is written
------------------------
Each formula is a plain function of per-element values ``(w, a, g, lr, l1, l2,
adaptive)`` returning ``(w', a')``. It uses Python operators and only the free
names of :data:`proxadagrad_ref.numerics.ops.VOCABULARY` (``sqrt``, ``fma``,
``positive_part``, ...). Evaluated as it stands, those names act on whole
arrays of any array-API library; an engine rebinds them to other meanings and
runs the same code (:mod:`proxadagrad_ref.numerics.interpret`). Formulas never
see dtype changes: the profile's ``widen`` attribute says whether inputs are
widened to float64 before the formula and rounded back after it (exact) or
used as they are (the framework emulations); :meth:`Profile.compute_dtype`
gives the dtype the formula runs in.

Hyper-parameters ``lr``, ``l1``, ``l2`` reach every kernel rounded to
:func:`hyper_dtype_name` of the parameter dtype (float32 for float16
parameters: MindSpore hands its float16 kernel float32 scalars).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..backends.compat import FLOAT_NAMES, dtype_name
from . import hostcpu
from .interpret import rename
from .ops import (
    absolute,
    as_float32,
    as_float64,
    as_type_of,
    flush,
    fma,
    maximum,
    positive_part,
    rsqrt_eigen,
    rsqrt_scalar,  # noqa: F401  (looked up by tensorflow_scalar_formula, see rename)
    sign,
    signum,
    sqrt,
    std_max0,
)

__all__ = ["PROFILES", "PROX_STEPS", "Formula", "Profile", "get_profile", "hyper_dtype_name"]

Namespace = Any
Formula = Callable[..., tuple[Any, Any]]

PROX_STEPS = ("adaptive", "fixed")


def hyper_dtype_name(dtype_name: str) -> str:
    """The dtype ``lr``, ``l1`` and ``l2`` reach a kernel in, for parameters of dtype `dtype_name`.

    The parameter dtype, except float32 for float16 parameters (MindSpore hands
    its float16 kernels float32 learning rates and regularization strengths;
    TensorFlow has no float16 CPU kernel).
    """
    return "float32" if dtype_name == "float16" else dtype_name


def exact_formula(w: Any, a: Any, g: Any, lr: Any, l1: Any, l2: Any, adaptive: bool) -> tuple[Any, Any]:
    """The formula as printed, in IEEE arithmetic of the inputs' type (float64 for the exact profile).

    NaN and infinities propagate; a zero accumulator with a zero gradient gives
    ``0/0 = NaN``, as both frameworks do.
    """
    a_new = a + g * g
    step = lr / sqrt(a_new)  # Adagrad's per-coordinate step
    prox_v = w - step * g  # forward (gradient) step
    shrink = step if adaptive else lr  # the step used inside the prox
    if l1 > 0:
        w_new = sign(prox_v) * maximum(absolute(prox_v) - shrink * l1, 0.0) / (1.0 + shrink * l2)
    else:
        w_new = prox_v / (1.0 + shrink * l2)
    return w_new, a_new


# MindSpore 2.10 CPU kernels. Sources read: mindspore/ccsrc/plugin/device/cpu/kernel/
# apply_proximal_adagrad_cpu_kernel.cc, nnacl/fp32_grad/apply_proximal_adagrad_fp32.c (+ its SIMD
# template), sparse_apply_proximal_adagrad_cpu_kernel.cc; arithmetic confirmed on the installed
# binaries (disassembly) and against recorded outputs (conformance_vectors/recorded/mindspore).


def mindspore_dense_formula(
    w: Any, a: Any, g: Any, lr: Any, l1: Any, l2: Any, adaptive: bool
) -> tuple[Any, Any]:
    """MindSpore CPU ``ApplyProximalAdagrad``, float32 SIMD blocks (AVX 8-wide, then SSE 4-wide).

    Fused multiply-adds (one rounding each), IEEE sqrt and division. The SIMD
    ``max`` gives 0 for a NaN threshold result and the sign is built from two
    comparisons (0 for NaN and zeros), so a NaN ``prox_v`` becomes ``+0`` when
    ``l1 > 0``.
    """
    a_new = fma(g, g, a)
    step = lr / sqrt(a_new)
    prox_v = fma(-g, step, w)
    den = fma(l2, step, 1.0)
    if l1 > 0:
        w_new = (positive_part(fma(-step, l1, absolute(prox_v))) / den) * signum(prox_v)
    else:
        w_new = prox_v / den
    return w_new, a_new


def mindspore_tail_formula(
    w: Any, a: Any, g: Any, lr: Any, l1: Any, l2: Any, adaptive: bool
) -> tuple[Any, Any]:
    """MindSpore CPU ``ApplyProximalAdagrad``, scalar C tail (the last ``n % 4`` elements of a task).

    The C compiler contracted some steps into ``fmaf``; the step and the final
    division are evaluated in double and rounded to float32.
    """
    a_new = fma(g, g, a)
    step = as_float32(as_float64(lr) / sqrt(as_float64(a_new)))
    prox_v = fma(-g, step, w)
    den = fma(step, l2, 1.0)
    if l1 > 0:
        magnitude = positive_part(as_float64(absolute(prox_v)) - as_float64(step * l1))  # C fmax
        w_new = as_float32(signum(prox_v) * magnitude / as_float64(den))
    else:
        w_new = prox_v / den
    return w_new, a_new


def mindspore_sparse_formula(
    w: Any, a: Any, g: Any, lr: Any, l1: Any, l2: Any, adaptive: bool
) -> tuple[Any, Any]:
    """MindSpore CPU ``FusedSparseProximalAdagrad``: plain float32, every operation rounded, no FMA.

    Note ``lr * (1 / sqrt(a'))``, two roundings where the dense kernel has one.
    """
    a_new = a + g * g
    step = lr * (1.0 / sqrt(a_new))
    prox_v = w - g * step
    den = 1.0 + l2 * step
    if l1 > 0:
        w_new = (signum(prox_v) * positive_part(absolute(prox_v) - step * l1)) / den
    else:
        w_new = prox_v / den
    return w_new, a_new


# TensorFlow 2.21 CPU kernels (x86-64 wheel: AVX, no FMA). Sources read: tensorflow/core/kernels/
# training_ops.cc (ApplyProximalAdagrad and SparseApplyProximalAdagrad functors), the Eigen headers
# shipped in the wheel (prsqrt<Packet8f>, generic_rsqrt_newton_step, psign, pmax, TensorExecutor's
# packet/scalar split) and tsl's ScopedFlushDenormal (TF's threads run with flush-to-zero and
# denormals-are-zero). Confirmed against recorded outputs (conformance_vectors/recorded/tensorflow).
# Every operation rounds in the parameter dtype and is flushed; inputs are read with DAZ.


def tensorflow_packet_formula(
    w: Any, a: Any, g: Any, lr: Any, l1: Any, l2: Any, adaptive: bool
) -> tuple[Any, Any]:
    """TensorFlow CPU ``ApplyProximalAdagrad``, Eigen packet path (8 float32 / 4 float64 lanes).

    ``lr * rsqrt(a')`` with Eigen's approximate float32 rsqrt; ``max`` keeps NaN.
    """
    w, a, g, lr, l1, l2 = flush(w), flush(a), flush(g), flush(lr), flush(l1), flush(l2)
    a_new = flush(a + flush(g * g))
    step = flush(lr * rsqrt_eigen(a_new))
    prox_v = flush(w - flush(g * step))
    den = flush(1.0 + flush(l2 * step))
    if l1 > 0:
        shrunk = std_max0(flush(absolute(prox_v) - flush(step * l1)))
        w_new = flush(flush(signum(prox_v) * shrunk) / den)
    else:
        w_new = flush(prox_v / den)
    return w_new, a_new


tensorflow_scalar_formula = rename(
    tensorflow_packet_formula,
    "tensorflow_scalar_formula",
    """TensorFlow CPU ``ApplyProximalAdagrad``, Eigen scalar path (the last ``n % lanes`` elements).

    The packet formula with ``rsqrt`` computed as ``1 / sqrt`` (two roundings).
    """,
    rsqrt_eigen="rsqrt_scalar",
)


def tensorflow_column_formula(
    w: Any, a: Any, g: Any, lr: Any, l1: Any, l2: Any, adaptive: bool
) -> tuple[Any, Any]:
    """TensorFlow CPU ``SparseApplyProximalAdagrad`` for rows of one element (plain C++ loop).

    ``lr / sqrt(a')``; the denominator ``1.0 + l2*step`` is a C++ double (the
    literal ``1.0``), so the division happens in double and is rounded back.
    """
    w, a, g, lr, l1, l2 = flush(w), flush(a), flush(g), flush(lr), flush(l1), flush(l2)
    a_new = flush(a + flush(g * g))
    step = flush(lr / flush(sqrt(a_new)))
    prox_v = flush(w - flush(step * g))
    den = flush(1.0 + as_float64(flush(l2 * step)))
    if l1 > 0:
        numerator = flush(signum(prox_v) * std_max0(flush(absolute(prox_v) - flush(step * l1))))
    else:
        numerator = prox_v
    w_new = flush(as_type_of(flush(as_float64(numerator) / den), w))
    return w_new, a_new


@dataclass(frozen=True)
class Profile:
    """What one numerics profile supports and which formula computes it.

    Attributes
    ----------
    name : str
        ``"exact"``, ``"mindspore"`` or ``"tensorflow"``.
    dense : callable
        Formula of the dense kernel.
    sparse : callable
        Formula applied to the touched rows by the sparse kernel.
    dtypes : tuple of str
        Parameter dtypes the profile defines.
    prox_steps : tuple of str
        Prox forms the profile defines.
    widen : bool
        True: inputs are converted to float64, the formula runs in float64,
        results are rounded once to the parameter dtype, and duplicate sparse
        rows are summed in float64. False: the formula runs in the parameter
        dtype, except float16, which runs in float32 and is rounded back
        (MindSpore's float16 kernel does exactly this).
    tail : callable or None
        Formula for the last ``n % tail_block`` elements of the flattened
        array in the dense kernel (a SIMD kernel's scalar remainder loop).
    tail_block : int
        SIMD block width that decides which elements form the tail.
    sparse_dtypes : tuple of str or None
        Parameter dtypes of the sparse kernel, when they differ from `dtypes`.
    blocks : tuple of (str, int) pairs
        SIMD width per parameter dtype, where it differs from `tail_block`.
    sparse_tail : callable or None
        Formula for the last ``inner % block`` elements of each touched row
        (``inner`` = elements per row) in the sparse kernel.
    sparse_column : callable or None
        Formula of the sparse kernel when rows have a single element.

    """

    name: str
    dense: Formula
    sparse: Formula
    dtypes: tuple[str, ...]
    prox_steps: tuple[str, ...]
    widen: bool
    tail: Formula | None = None
    tail_block: int = 1
    sparse_dtypes: tuple[str, ...] | None = None
    blocks: tuple[tuple[str, int], ...] = ()
    sparse_tail: Formula | None = None
    sparse_column: Formula | None = None

    def block(self, dtype_name: str) -> int:
        """SIMD width deciding which elements take the scalar tail, for parameters of `dtype_name`."""
        return dict(self.blocks).get(dtype_name, self.tail_block)

    def compute_dtype(self, xp: Namespace, dtype: Any) -> Any:
        """The dtype the formula runs in for parameters of `dtype` (of namespace `xp`)."""
        if self.widen:
            return xp.float64
        if dtype_name(xp, dtype) == "float16":
            return xp.float32
        return dtype


PROFILES: dict[str, Profile] = {
    "exact": Profile(
        "exact", exact_formula, exact_formula, FLOAT_NAMES, PROX_STEPS, True
    ),
    "mindspore": Profile(
        "mindspore",
        mindspore_dense_formula,
        mindspore_sparse_formula,
        ("float16", "float32"),
        ("adaptive",),
        False,
        tail=mindspore_tail_formula,
        tail_block=4,
        sparse_dtypes=("float32",),
    ),
    "tensorflow": Profile(
        "tensorflow",
        tensorflow_packet_formula,
        tensorflow_packet_formula,
        ("float32", "float64"),
        ("adaptive",),
        False,
        tail=tensorflow_scalar_formula,
        blocks=(("float32", 8), ("float64", 4)),
        sparse_tail=tensorflow_scalar_formula,
        sparse_column=tensorflow_column_formula,
    ),
}


def get_profile(emulate: str | None, prox_step: str, xp: Namespace, dtype: Any, op: str = "dense") -> Profile:
    """Return the profile for `emulate`, checking that its `op` kernel defines `prox_step` and `dtype`."""
    key = "exact" if emulate is None else emulate
    if not isinstance(key, str) or key not in PROFILES:
        choices = ", ".join(repr(k) for k in [None, *sorted(k for k in PROFILES if k != "exact")])
        raise ValueError(f"emulate must be one of {choices}, got {emulate!r}")
    if prox_step not in PROX_STEPS:
        raise ValueError(f"prox_step must be 'adaptive' or 'fixed', got {prox_step!r}")
    profile = PROFILES[key]
    if prox_step not in profile.prox_steps:
        raise ValueError(
            f"prox_step={prox_step!r} is the printed formula, which no framework kernel computes; "
            f"emulate={emulate!r} supports only prox_step='adaptive' (use emulate=None)"
        )
    name = dtype_name(xp, dtype)
    if key == "tensorflow" and name == "float32":
        hostcpu.warn_once()  # once per process: does TensorFlow on this host compute these bits?
    supported = profile.sparse_dtypes if op == "sparse" and profile.sparse_dtypes else profile.dtypes
    if name not in supported:
        raise TypeError(
            f"var has dtype {name}, which the {op} kernel of emulate={emulate!r} does not define "
            f"(supported: {', '.join(supported)})"
        )
    return profile
