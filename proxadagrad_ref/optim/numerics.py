"""How each optimizer pipeline stage rounds: the one place per stage where a profile's arithmetic is chosen.

The kernels own the arithmetic of the update itself (:mod:`proxadagrad_ref.numerics.profiles`).
Everything the optimizer does *around* the kernel -- weight decay, gradient
centralization, loss scaling, duplicate summing, learning-rate storage -- is
rounded as one :class:`PipelineNumerics` says. Each field is one choice, read
from MindSpore's Python sources (``nn/optim/optimizer.py``,
``nn/optim/proximal_ada_grad.py``) and checked against recorded MindSpore 2.10
trajectories (``tests/recorded/test_recorded.py``: 23 runs plus a sparse
embedding net reproduced bit for bit). The one choice no recording can check is
marked *unverified*: MindSpore's centralization op has no CPU kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["EXACT", "MINDSPORE", "PipelineNumerics", "numerics_for"]

Namespace = Any


def to_float32(x: float) -> float:
    """Round a Python float to the nearest float32 (ties to even), returned as a Python float."""
    return float(np.float32(x))


@dataclass(frozen=True)
class PipelineNumerics:
    """Rounding rules of the optimizer stages for one profile.

    Attributes
    ----------
    name : str
        ``"exact"`` or ``"mindspore"``.
    wide : bool
        True: the stages before the kernel (decay, centralization, scaling,
        duplicate summing) run in float64 on the parameter-dtype inputs and the
        effective gradient is rounded *once* to the parameter dtype before the
        kernel. False: every stage rounds to the parameter dtype after each
        operation, as MindSpore's graph of elementwise ops does (checked:
        ``Mul``/``AddN`` of the decay and the ``Mul`` of the loss scale compute
        in the parameter dtype, not in float32).
    float32_scalars : bool
        True: learning rates, weight decay (already multiplied by the loss
        scale), ``1/loss_scale``, ``l1`` and ``l2`` are stored as float32
        tensors, as MindSpore does (``Tensor(x, mstype.float32)``), and cast to
        the parameter dtype where they meet it (checked for float16
        parameters: float64 -> float32 -> float16, two roundings).
        False: they stay float64 until the kernel rounds them once.
    group_lr_through_cell : bool
        MindSpore wraps a *fixed* learning rate in ``_ConvertToCell`` when the
        parameters are grouped with an ``"lr"`` key and some learning rate is
        dynamic; that cell returns ``lr + 1.0 - 1.0`` in float32, which rounds
        small rates to a multiple of 2**-23 (checked: it is not folded away
        by the graph compiler).
    centralize_mean_wide : bool
        Gradient centralization's mean is formed in float64 and rounded to the
        gradient dtype before the subtraction (unverified: MindSpore's
        ``Centralization`` op has no CPU kernel to compare with; a pairwise
        float32 sum may differ in the last bit).

    """

    name: str
    wide: bool
    float32_scalars: bool
    group_lr_through_cell: bool
    centralize_mean_wide: bool

    def scalar(self, x: float) -> float:
        """How a Python-float hyper-parameter is stored (float32 tensor or float64)."""
        return to_float32(x) if self.float32_scalars else float(x)

    def work_dtype(self, xp: Namespace, param_dtype: Any) -> Any:
        """The dtype gradients are held in between the stages."""
        return xp.float64 if self.wide else param_dtype


EXACT = PipelineNumerics(
    "exact", wide=True, float32_scalars=False, group_lr_through_cell=False, centralize_mean_wide=True
)
MINDSPORE = PipelineNumerics(
    "mindspore", wide=False, float32_scalars=True, group_lr_through_cell=True, centralize_mean_wide=True
)

_BY_EMULATE: dict[str | None, PipelineNumerics] = {None: EXACT, "mindspore": MINDSPORE}


def numerics_for(emulate: str | None) -> PipelineNumerics:
    """The pipeline numerics of `emulate` (None or ``"mindspore"``)."""
    try:
        return _BY_EMULATE[emulate]
    except (KeyError, TypeError):
        hint = (
            "; TensorFlow's ApplyProximalAdagrad has no optimizer stages: it is the kernels' "
            "emulate='tensorflow' (proxadagrad_ref.apply_proximal_adagrad)"
            if emulate == "tensorflow"
            else ""
        )
        raise ValueError(
            f"emulate must be None or 'mindspore' for the optimizer, got {emulate!r}{hint}"
        ) from None
