"""Running a formula under another meaning of its names, and tracing it: the one place this is done.

A profile formula (:mod:`.profiles`) is a plain function whose free names
(``sqrt``, ``fma``, ...) are looked up in its globals and whose arithmetic is
written with Python operators. Everything that evaluates a formula other than
on arrays goes through this module:

:func:`rebind`
    The same code object with other meanings bound to its free names (numba's
    scalar functions, :mod:`proxadagrad_ref.engines.numba`), optionally with
    its literals converted (numba's weak constants).
:func:`rename`
    The same code with some free names replaced by others (one formula
    written as another with one operation swapped, e.g. TensorFlow's scalar
    path: the packet formula with its ``rsqrt`` swapped).
:func:`trace`
    The formula run once on stand-ins (:class:`Traced`) that carry a sample
    of their value: every Python operator and vocabulary call becomes a
    :class:`Step`, with the dtype NumPy gives its result. The chunked NumPy
    engine replays the steps on blocks, the C++ generator writes one
    statement per step, and ``explain`` prints them with their values.

Branches of a formula on hyper-parameters (``if l1 > 0``) are taken with their
real values: a trace is specialised to them. A branch on an array value
raises :class:`Untraceable`.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .ops import OPS

__all__ = ["OPERATORS", "Step", "Trace", "Traced", "Untraceable", "rebind", "rename", "trace"]

Formula = Callable[..., tuple[Any, Any]]


def rebind(
    formula: Formula, meanings: Mapping[str, Any], *, constants: Callable[[Any], Any] | None = None
) -> types.FunctionType:
    """`formula`'s own code with `meanings` bound to its free names; `constants` maps its literals.

    Nothing of the formula is rewritten: the function object is rebuilt from
    its code object, its globals updated with `meanings`. With `constants`,
    every float and int literal of the code is replaced by ``constants(x)``.
    """
    code = formula.__code__
    if constants is not None:
        code = code.replace(
            co_consts=tuple(constants(c) if type(c) in (float, int) else c for c in code.co_consts)
        )
    bound = dict(formula.__globals__)
    bound.update(meanings)
    return types.FunctionType(code, bound, formula.__name__, formula.__defaults__, formula.__closure__)


def rename(formula: Formula, name: str, doc: str, **swaps: str) -> types.FunctionType:
    """The same formula with some free names swapped for others (``old="new"``), as a new function.

    The swap is made in the code object's names, so every meaning the
    vocabulary is later given (arrays, compiled scalars, C++) sees the swapped
    operation: the arithmetic around it is still written once.
    """
    code = formula.__code__
    names = tuple(swaps.get(n, n) for n in code.co_names)
    swapped = types.FunctionType(code.replace(co_names=names, co_name=name), formula.__globals__, name)
    swapped.__qualname__ = name
    swapped.__doc__ = doc
    return swapped


class Untraceable(Exception):
    """The formula did something a trace cannot follow (a branch on an array value, an unknown operand)."""


OPERATORS: dict[str, np.ufunc] = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": np.true_divide,
    "negative": np.negative,
    "greater": np.greater,
    "less": np.less,
    "greater_equal": np.greater_equal,
    "less_equal": np.less_equal,
    "equal": np.equal,
    "not_equal": np.not_equal,
}
"""The Python operators a formula may use, by step name, with the NumPy ufunc each one is."""


@dataclass
class Step:
    """One operation of a traced formula.

    Attributes
    ----------
    op : str
        An :data:`OPERATORS` name (``"add"``, ...) or a vocabulary name (``"fma"``, ...).
    args : tuple
        The operands: :class:`Traced` values or constants (Python numbers, 0-d arrays).
    value : Traced
        The result.

    """

    op: str
    args: tuple[Any, ...]
    value: Traced

    @property
    def operator(self) -> bool:
        """True for a Python operator (a NumPy ufunc), False for a vocabulary call."""
        return self.op in OPERATORS


@dataclass
class Trace:
    """A formula's run on stand-ins: its leaves, its steps in order, its two results.

    ``leaves`` are the :class:`Traced` inputs (``w, a, g`` and, when traced,
    ``lr, l1, l2``); ``names`` maps a value's position (:attr:`Traced.index`)
    to the formula's own local variable name for it (first name wins), when
    asked for.
    """

    leaves: list[Traced] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    outputs: tuple[Any, Any] = (None, None)
    names: dict[int, str] = field(default_factory=dict)

    def value(self, index: int) -> Traced:
        """The value at position `index` (leaves first, then each step's result)."""
        n = len(self.leaves)
        return self.leaves[index] if index < n else self.steps[index - n].value

    def apply(self, op: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """Record ``fn(*args)`` as step `op` when an operand is traced; else compute it now."""
        traced = [x for x in args if isinstance(x, Traced)]
        if not traced:
            return fn(*args)
        if any(x.trace is not self for x in traced):
            raise Untraceable("values of two traces mixed")
        with np.errstate(all="ignore"):
            sample = fn(*(x.sample if isinstance(x, Traced) else x for x in args))
        if isinstance(sample, np.generic):
            sample = np.asarray(sample)
        if not isinstance(sample, np.ndarray):
            raise Untraceable(f"{op} gave {type(sample).__name__}")
        value = Traced(self, len(self.leaves) + len(self.steps), sample, all(x.known for x in traced))
        self.steps.append(Step(op, args, value))
        return value


def _operator(op: str, reflected: bool = False) -> Callable[..., Any]:
    ufunc = OPERATORS[op]

    def apply(self: Traced, other: Any) -> Any:
        args = (other, self) if reflected else (self, other)
        return self.trace.apply(op, ufunc, args)

    return apply


class Traced:
    """A value of a formula being traced: its position in the trace and a sample of its value.

    The sample is a one-element array for values that depend on the arrays
    (``w``, ``a``, ``g``) and a 0-d array for values of the hyper-parameters
    alone, as on whole arrays, so NumPy gives every step the dtype it has
    there. `known` values (hyper-parameters alone) may decide a branch.
    """

    __slots__ = ("index", "known", "sample", "trace")
    __array_ufunc__ = None  # NumPy scalars and 0-d arrays defer to the reflected operators

    def __init__(self, trace: Trace, index: int, sample: np.ndarray, known: bool) -> None:
        self.trace, self.index, self.sample, self.known = trace, index, sample, known

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of the value."""
        return self.sample.dtype

    def __bool__(self) -> bool:
        if not self.known:
            raise Untraceable("the formula compares array values to branch on them")
        return bool(self.sample)

    __add__, __radd__ = _operator("add"), _operator("add", True)
    __sub__, __rsub__ = _operator("subtract"), _operator("subtract", True)
    __mul__, __rmul__ = _operator("multiply"), _operator("multiply", True)
    __truediv__, __rtruediv__ = _operator("divide"), _operator("divide", True)
    __gt__, __lt__ = _operator("greater"), _operator("less")
    __ge__, __le__ = _operator("greater_equal"), _operator("less_equal")
    __eq__, __ne__ = _operator("equal"), _operator("not_equal")
    __hash__ = None  # type: ignore[assignment]

    def __neg__(self) -> Any:
        return self.trace.apply("negative", np.negative, (self,))


def _tracing_op(name: str) -> Callable[..., Any]:
    fn = OPS[name]

    def op(*args: Any) -> Any:
        for x in args:
            if isinstance(x, Traced):
                return x.trace.apply(name, fn, args)
        return fn(*args)  # constants only: the array op itself

    op.__name__ = name
    return op


_TRACING_OPS = {name: _tracing_op(name) for name in OPS}
_TRACERS: dict[Formula, types.FunctionType] = {}


@contextmanager
def _capture_locals(code: types.CodeType, into: dict[str, Any]) -> Iterator[None]:
    """Copy the local variables of the frame running `code` into `into` when it returns."""

    def local_tracer(frame: types.FrameType, event: str, arg: Any) -> Any:
        if event == "return":
            into.update(frame.f_locals)
        return local_tracer

    def global_tracer(frame: types.FrameType, event: str, arg: Any) -> Any:
        return local_tracer if frame.f_code is code else None

    previous = sys.gettrace()
    sys.settrace(global_tracer)
    try:
        yield
    finally:
        sys.settrace(previous)


def trace(
    formula: Formula,
    data: Sequence[np.ndarray],
    hyper: Sequence[Any],
    adaptive: bool,
    *,
    trace_hyper: bool = False,
    names: bool = False,
) -> Trace:
    """Run `formula` once on stand-ins for ``w, a, g`` (samples `data`) and return its :class:`Trace`.

    Parameters
    ----------
    formula : callable
        A profile formula ``(w, a, g, lr, l1, l2, adaptive) -> (w', a')``.
    data : sequence of 3 one-element arrays
        Samples of ``w, a, g`` (their dtype is what matters for a replay; their
        values for ``explain``).
    hyper : sequence of 3 0-d arrays
        The real ``lr, l1, l2``.
    adaptive : bool
        The prox form.
    trace_hyper : bool
        True: ``lr, l1, l2`` are traced too (steps on them alone are recorded,
        marked known); False: they are constants and such steps are computed
        now, not recorded.
    names : bool
        True: read the formula's local variable names off its frame (:attr:`Trace.names`).

    Raises
    ------
    Untraceable
        The formula branches on an array value or returns something that is not traced.

    """
    tracer = _TRACERS.get(formula)
    if tracer is None:
        tracer = _TRACERS[formula] = rebind(formula, _TRACING_OPS)
    result = Trace()
    leaves = [*data, *hyper] if trace_hyper else list(data)
    for k, sample in enumerate(leaves):
        result.leaves.append(Traced(result, k, np.asarray(sample), known=k >= 3))
    args = [*result.leaves, *([] if trace_hyper else hyper)]
    captured: dict[str, Any] = {}
    with np.errstate(all="ignore"):
        if names:
            with _capture_locals(formula.__code__, captured):
                w_new, a_new = tracer(*args, adaptive)
        else:
            w_new, a_new = tracer(*args, adaptive)
    result.outputs = (w_new, a_new)
    for key, v in captured.items():
        if isinstance(v, Traced) and v.trace is result and v.index not in result.names:
            result.names[v.index] = key
    return result
