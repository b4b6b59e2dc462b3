"""Learning-rate resolution: what a ``learning_rate`` (or a group's ``"lr"``) means, and its value at a step.

Accepted forms (MindSpore's ``Optimizer._preprocess_single_lr``):

* a float or int ``>= 0`` (int converted) or a 0-d array: a fixed rate;
* a 1-D array: step ``i`` uses element ``i`` (kept in its float dtype);
* any other iterable (list, tuple, generator): converted to a 1-D float32
  array, then as above;
* a :class:`~proxadagrad_ref.schedules.LearningRateSchedule`: called with the
  global step; one built without ``emulate`` is evaluated under the
  optimizer's (a copy, :meth:`~proxadagrad_ref.schedules.LearningRateSchedule.under`),
  one built with another ``emulate`` is refused.

Reading a 1-D rate past its end raises :class:`IndexError` (MindSpore's
``Gather`` fails too); the optimizer reads every rate before it changes anything.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..backends.compat import is_array, to_numpy
from .numerics import PipelineNumerics, to_float32
from .schedules import LearningRateSchedule
from .validation import check_rate

__all__ = ["ArrayLr", "FixedLr", "LearningRate", "ScheduleLr", "once_iterable", "resolve_learning_rate"]


def once_iterable(value: object) -> object:
    """A one-pass iterator (a generator, ``iter(...)``) as a list of its items; any other value as it is.

    For callers that resolve a learning rate more than once (the adapters check
    it when built and the engine resolves it again at every step): an iterator
    would be empty the second time.
    """
    return list(value) if isinstance(value, Iterator) else value


@dataclass(frozen=True)
class FixedLr:
    """A constant rate.

    `through_cell`: MindSpore wraps it in ``_ConvertToCell`` (grouped lr and some dynamic lr).
    """

    value: float
    source: str
    through_cell: bool = False
    dynamic = False

    def at(self, step: int, numerics: PipelineNumerics) -> float:
        """Return the rate at `step` as MindSpore stores it."""
        value = numerics.scalar(self.value)
        if self.through_cell and numerics.group_lr_through_cell:
            value = to_float32(to_float32(value + 1.0) - 1.0)  # _ConvertToCell: lr + 1.0 - 1.0 in float32
        return value

    def with_cell(self) -> FixedLr:
        """Return this rate as MindSpore's ``_ConvertToCell`` wraps it."""
        return FixedLr(self.value, self.source, through_cell=True)


@dataclass(frozen=True)
class ArrayLr:
    """One rate per step, read at the global step."""

    values: np.ndarray
    source: str
    dynamic = True

    def at(self, step: int, numerics: PipelineNumerics) -> float:
        """Return element `step`; IndexError past the end."""
        if step >= self.values.shape[0]:
            raise IndexError(
                f"{self.source} has {self.values.shape[0]} values (one per step) but step {step} needs value "
                f"{step}; the dynamic learning rate is exhausted"
            )
        return numerics.scalar(float(self.values[step]))

    def with_cell(self) -> ArrayLr:
        """Return self: only fixed rates are wrapped."""
        return self


@dataclass(frozen=True)
class ScheduleLr:
    """A :class:`LearningRateSchedule` called with the global step."""

    schedule: LearningRateSchedule
    source: str
    dynamic = True

    def at(self, step: int, numerics: PipelineNumerics) -> float:
        """Call the schedule; its output must be a finite real ``>= 0``."""
        name = self.source
        out = self.schedule(step)
        value = _as_float(out, f"{name} (schedule output at step {step})")
        if not math.isfinite(value) or value < 0:
            raise ValueError(
                f"{name} (schedule output at step {step}) must be finite and >= 0, got {value!r}"
            )
        return numerics.scalar(value)

    def with_cell(self) -> ScheduleLr:
        """Return self: only fixed rates are wrapped."""
        return self


LearningRate = FixedLr | ArrayLr | ScheduleLr


def _as_float(value: object, name: str) -> float:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got bool")
    if isinstance(value, numbers.Real):
        return float(value)
    if is_array(value) and tuple(value.shape) in ((), (1,)):  # type: ignore[attr-defined]
        return float(to_numpy(value).reshape(()))
    raise TypeError(f"{name} must be a real number or a 0-d array, got {type(value).__name__}")


def _array_lr(values: np.ndarray, name: str, numerics: PipelineNumerics) -> ArrayLr:
    if values.ndim != 1:
        raise ValueError(f"{name} must be a scalar or 1-D, got {values.ndim} dimensions")
    if values.shape[0] == 0:
        raise ValueError(f"{name} is an empty 1-D learning rate; it needs one value per step")
    if values.dtype.kind != "f":
        values = values.astype(np.float32)
    if numerics.float32_scalars:
        values = values.astype(np.float32)  # MindSpore: Tensor(..., mstype.float32)
    if not bool(np.all(np.isfinite(values))) or bool(np.any(values < 0)):
        raise ValueError(f"{name} must hold finite values >= 0")
    values = values.copy()
    values.setflags(write=False)
    return ArrayLr(values, name)


def resolve_learning_rate(
    value: object, name: str, numerics: PipelineNumerics, emulate: str | None
) -> LearningRate:
    """Check `value` and return its :data:`LearningRate` form; `name` is used in error messages."""
    rate = check_rate(name, value, "a float, int, array, iterable or LearningRateSchedule")
    if rate is not None:
        return FixedLr(rate, name)
    if isinstance(value, LearningRateSchedule):
        if value.emulate != emulate:
            if value.emulate is None and value.follows_optimizer:  # built without emulate: follow
                return ScheduleLr(value.under(emulate), name)
            raise ValueError(
                f"{name} is a {type(value).__name__} built with emulate={value.emulate!r} but the optimizer "
                f"uses emulate={emulate!r}; build the schedule with the optimizer's emulate, or without "
                "emulate (it then follows the optimizer)"
            )
        return ScheduleLr(value, name)
    if is_array(value):
        array = to_numpy(value)
        if array.ndim == 0:
            if array.dtype.kind not in "fiu":
                raise TypeError(f"{name} must have a real dtype, got {array.dtype}")
            return resolve_learning_rate(float(array), name, numerics, emulate)
        return _array_lr(array, name, numerics)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(
            f"{name} must be a float, int, array, iterable or LearningRateSchedule, "
            f"got {type(value).__name__}"
        )
    try:
        array = np.asarray(list(value), dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} is an iterable whose items are not all real numbers ({exc})") from None
    return _array_lr(array, name, numerics)
