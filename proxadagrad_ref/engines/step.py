"""What an engine evaluates: a formula over arrays (:class:`Elementwise`) or over rows (:class:`RowUpdate`).

Both are built by the kernels (:mod:`proxadagrad_ref.kernels`) from arguments
that passed every check; engines only compute.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..numerics.profiles import Formula, Profile

__all__ = ["Elementwise", "RowUpdate"]

Array = Any
Namespace = Any


class Elementwise(NamedTuple):
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
        return self._replace(var=var, accum=accum, grad=grad)


class RowUpdate(NamedTuple):
    """`formula` applied to rows ``idx`` (distinct, in range) of a table, with gradient rows ``grad``.

    ``var`` and ``accum`` are the whole tables; ``grad`` has shape
    ``(len(idx),) + var.shape[1:]``. ``checked``: the touched accumulators are
    known to be ``>= 0`` (no NaN); otherwise the engine checks them before it
    writes anything. The other fields are those of :class:`Elementwise`.
    """

    profile: Profile
    formula: Formula
    xp: Namespace
    var: Array
    accum: Array
    grad: Array
    idx: Array
    hyper: tuple[Array, Array, Array]
    adaptive: bool
    checked: bool = False
