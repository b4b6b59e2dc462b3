"""What an engine evaluates: a formula over arrays (:class:`Elementwise`) or over rows (:class:`RowUpdate`).

Both are built by the kernels (:mod:`proxadagrad_ref.kernels`) from arguments
that passed every check; engines only compute.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..numerics.profiles import Formula, Profile

__all__ = ["Elementwise", "RowUpdate"]

Array = Any
Namespace = Any


@dataclass(frozen=True, slots=True)
class Elementwise:
    """`formula` applied element by element to ``var``, ``accum``, ``grad``.

    Attributes
    ----------
    profile : Profile
        The numerics profile (its widening rule applies).
    formula : callable
        One of the profile's formulas.
    xp : namespace
        The arrays' array-API namespace.
    var, accum, grad : array
        Inputs of one shape (``grad`` may be wider than ``var`` for a sparse sum in float64).
    hyper : tuple of 3 arrays
        ``lr``, ``l1``, ``l2`` as checked 0-d arrays.
    adaptive : bool
        The prox form (True: ``"adaptive"``).

    """

    profile: Profile
    formula: Formula
    xp: Namespace
    var: Array
    accum: Array
    grad: Array
    hyper: tuple[Array, Array, Array]
    adaptive: bool

    def on(self, var: Array, accum: Array, grad: Array) -> Elementwise:
        """The same evaluation on other arrays (a slice, a gathered copy)."""
        return dataclasses.replace(self, var=var, accum=accum, grad=grad)

    def at_rows(self, idx: Array, *, checked: bool = False) -> RowUpdate:
        """The same evaluation on the rows `idx` of the tables ``var``, ``accum`` (``grad``: those rows)."""
        fields = (
            self.profile,
            self.formula,
            self.xp,
            self.var,
            self.accum,
            self.grad,
            self.hyper,
            self.adaptive,
        )
        return RowUpdate(*fields, idx, checked)


@dataclass(frozen=True, slots=True)
class RowUpdate(Elementwise):
    """`formula` applied to the rows ``idx`` (distinct, in range) of a table, with gradient rows ``grad``.

    The fields of :class:`Elementwise`, but ``var`` and ``accum`` are whole
    tables and ``grad`` has shape ``(len(idx),) + var.shape[1:]``.
    ``checked``: the touched accumulators are known to be ``>= 0`` (no NaN);
    otherwise the engine checks them before it writes anything.
    """

    idx: Array
    checked: bool = False
