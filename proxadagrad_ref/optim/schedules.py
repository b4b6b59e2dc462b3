r"""Learning-rate schedules and MindSpore's dynamic learning-rate list builders.

Two families, as in MindSpore:

* **Schedules** (:class:`LearningRateSchedule` and its subclasses) are called
  with the global step and return that step's rate; an optimizer calls them
  once per step. Formulas and argument checks follow MindSpore's
  ``python/mindspore/nn/learning_rate_schedule.py``. With ``emulate=None`` the
  formula is evaluated in float64; with ``emulate="mindspore"`` every operation
  is rounded to float32, in MindSpore's operation order (the step is cast to
  float32; Python-float attributes become float32 scalars; ``pow`` and ``sin``
  are evaluated in float64 and rounded once). Every schedule's float32 values
  for steps 0..11 equal MindSpore 2.10's recorded ones bit for bit
  (``conformance_vectors/recorded/mindspore``, ``docs/recorded-mindspore.md``).
  A schedule built *without* ``emulate`` follows the optimizer it is handed
  to: ``ProximalAdagrad(params, learning_rate=ExponentialDecayLR(0.1, 0.9, 4),
  emulate="mindspore")`` evaluates it with MindSpore's arithmetic, as MindSpore
  code reads. Called on its own it uses float64. A schedule built with an
  explicit ``emulate`` (``None`` included) keeps it, and an optimizer with
  another ``emulate`` refuses it.
* **List builders** (:func:`piecewise_constant_lr`, :func:`exponential_decay_lr`,
  ...) return a Python list with one rate per step, to pass as an optimizer's
  ``learning_rate``. They follow ``python/mindspore/nn/dynamic_lr.py`` in
  float64 Python arithmetic, operation for operation, so the lists are
  identical to MindSpore's.

This is our own code written from those files' formulas and argument checks.
"""

from __future__ import annotations

import abc
import copy
import math
from collections.abc import Callable

import numpy as np

from .validation import check_bool, check_float, check_positive_int, check_step

__all__ = [
    "FOLLOW_OPTIMIZER",
    "CosineDecayLR",
    "ExponentialDecayLR",
    "InverseDecayLR",
    "LearningRateSchedule",
    "NaturalExpDecayLR",
    "PolynomialDecayLR",
    "WarmUpLR",
    "cosine_decay_lr",
    "exponential_decay_lr",
    "inverse_decay_lr",
    "natural_exp_decay_lr",
    "piecewise_constant_lr",
    "polynomial_decay_lr",
    "warmup_lr",
]

Round = Callable[[float], float]


class _FollowOptimizer:
    """The type of :data:`FOLLOW_OPTIMIZER` (one instance; copies and pickles give it back)."""

    def __repr__(self) -> str:
        return "FOLLOW_OPTIMIZER"

    def __reduce__(self) -> str:
        return "FOLLOW_OPTIMIZER"


FOLLOW_OPTIMIZER = _FollowOptimizer()
"""Default ``emulate`` of the schedules: evaluate under the ``emulate`` of the optimizer the schedule
is handed to (float64 when the schedule is called on its own). Distinct from ``emulate=None``, which
asks for float64 whatever the optimizer."""

Emulate = str | None | _FollowOptimizer


def _emulate(value: object) -> str | None:
    if value not in (None, "mindspore"):
        raise ValueError(f"emulate must be None or 'mindspore', got {value!r}")
    return value


def _f32(x: float) -> float:
    return float(np.float32(x))


def _f64(x: float) -> float:
    return float(x)


# --- schedules ---------------------------------------------------------------------------------------------


class LearningRateSchedule(abc.ABC):
    """Base class: a learning rate as a function of the global step.

    Subclasses implement :meth:`rate`; calling the schedule checks the step.
    ``emulate`` says in which arithmetic the built-in schedules evaluate their
    formula. ``follows_optimizer`` is True when it was not given (the default,
    :data:`FOLLOW_OPTIMIZER`): an optimizer then evaluates a copy of the
    schedule under its own ``emulate`` (:meth:`under`). An optimizer refuses a
    schedule whose explicit ``emulate`` differs from its own. A subclass that
    sets neither attribute follows the optimizer.
    """

    emulate: str | None = None
    follows_optimizer: bool = True

    def _set_emulate(self, emulate: object) -> None:
        """Store the constructor's ``emulate`` (:data:`FOLLOW_OPTIMIZER`: not given)."""
        self.follows_optimizer = emulate is FOLLOW_OPTIMIZER
        self.emulate = None if self.follows_optimizer else _emulate(emulate)

    def under(self, emulate: str | None) -> LearningRateSchedule:
        """A copy of this schedule evaluated with `emulate`'s arithmetic (this one is not changed).

        Examples
        --------
        >>> schedule = ExponentialDecayLR(0.1, 0.9, 4)
        >>> schedule(2), schedule.under("mindspore")(2)
        (0.09486832980505139, 0.09486832469701767)

        """
        twin = copy.copy(self)
        twin.emulate = _emulate(emulate)
        twin.follows_optimizer = False
        return twin

    def __call__(self, global_step: int) -> float:
        """The learning rate of step `global_step` (0 for the first step)."""
        return self.rate(check_step("global_step", global_step))

    @abc.abstractmethod
    def rate(self, step: int) -> float:
        """The learning rate at `step` (already checked to be an int ``>= 0``)."""

    def _round(self) -> Round:
        return _f32 if self.emulate == "mindspore" else _f64


class _DecaySchedule(LearningRateSchedule):
    """Shared arguments of the exponential, natural-exponential and inverse-time decays."""

    def __init__(
        self,
        learning_rate: float,
        decay_rate: float,
        decay_steps: int,
        is_stair: bool = False,
        *,
        emulate: Emulate = FOLLOW_OPTIMIZER,
    ) -> None:
        self.decay_steps = check_positive_int("decay_steps", decay_steps)
        self.learning_rate = check_float("learning_rate", learning_rate, positive=True)
        self.decay_rate = check_float("decay_rate", decay_rate, positive=True)
        self.is_stair = check_bool("is_stair", is_stair)
        self._set_emulate(emulate)


class ExponentialDecayLR(_DecaySchedule):
    r"""``learning_rate * decay_rate ** p`` with ``p = step / decay_steps`` (floored if `is_stair`).

    Examples
    --------
    >>> ExponentialDecayLR(0.1, 0.9, 4, emulate="mindspore")(2)  # MindSpore 2.10 too (its docs: 0.09486833)
    0.09486832469701767

    """

    def rate(self, step: int) -> float:  # noqa: D102 - documented in the class
        r = self._round()
        p = r(r(step) / self.decay_steps)
        if self.is_stair:
            p = float(math.floor(p))
        return r(r(self.learning_rate) * r(math.pow(r(self.decay_rate), p)))


class NaturalExpDecayLR(_DecaySchedule):
    r"""``learning_rate * e ** (-decay_rate * p)``: ``p = step``, floored to a decay_steps multiple if stair.

    MindSpore evaluates ``pow(e, x)`` with ``e`` stored as a float32 under emulation.

    Examples
    --------
    >>> NaturalExpDecayLR(0.1, 0.9, 4, True)(2)
    0.1

    """

    def rate(self, step: int) -> float:  # noqa: D102 - documented in the class
        r = self._round()
        p = r(step)
        if self.is_stair:
            p = r(math.floor(r(p / self.decay_steps)) * self.decay_steps)
        exponent = r(r(-self.decay_rate) * p)
        if self.emulate == "mindspore":
            factor = r(math.pow(r(math.e), exponent))
        else:
            factor = math.exp(exponent)
        return r(r(self.learning_rate) * factor)


class InverseDecayLR(_DecaySchedule):
    r"""``learning_rate / (1 + decay_rate * p)``, ``p = step / decay_steps`` (floored if `is_stair`).

    Examples
    --------
    >>> InverseDecayLR(0.1, 0.9, 4, True)(2)
    0.1

    """

    def rate(self, step: int) -> float:  # noqa: D102 - documented in the class
        r = self._round()
        p = r(r(step) / self.decay_steps)
        if self.is_stair:
            p = float(math.floor(p))
        denominator = r(1.0 + r(r(self.decay_rate) * p))
        if self.emulate == "mindspore":  # scalar / tensor: reciprocal, then times lr (recorded, 2.10)
            return r(r(1.0 / denominator) * r(self.learning_rate))
        return r(r(self.learning_rate) / denominator)


class CosineDecayLR(LearningRateSchedule):
    r"""``min_lr + 0.5*(max_lr - min_lr)*(1 + cos(pi * min(step, decay_steps) / decay_steps))``.

    Examples
    --------
    >>> round(CosineDecayLR(0.01, 0.1, 4)(2), 10)
    0.055

    """

    def __init__(
        self, min_lr: float, max_lr: float, decay_steps: int, *, emulate: Emulate = FOLLOW_OPTIMIZER
    ) -> None:
        self.min_lr = check_float("min_lr", min_lr, positive=False)
        self.max_lr = check_float("max_lr", max_lr, positive=True)
        self.decay_steps = check_positive_int("decay_steps", decay_steps)
        if min_lr >= max_lr:
            raise ValueError(f"max_lr must be greater than min_lr, got max_lr={max_lr!r}, min_lr={min_lr!r}")
        self._set_emulate(emulate)
        self.delta = 0.5 * (max_lr - min_lr)  # float64, as MindSpore's __init__ computes it

    def rate(self, step: int) -> float:  # noqa: D102 - documented in the class
        r = self._round()
        p = r(min(step, self.decay_steps))
        if self.emulate == "mindspore":  # MindSpore: sin(pi * (p / decay_steps + 0.5)) (recorded, 2.10)
            wave = r(math.sin(r(r(math.pi) * r(r(p / self.decay_steps) + 0.5))))
        else:
            wave = math.cos(math.pi * p / self.decay_steps)
        return r(r(self.min_lr) + r(r(self.delta) * r(1.0 + wave)))


class PolynomialDecayLR(LearningRateSchedule):
    r"""``(learning_rate - end_learning_rate) * (1 - t/T) ** power + end_learning_rate``.

    ``t = min(step, decay_steps)`` and ``T = decay_steps``; with
    `update_decay_steps`, ``t = step`` and ``T = decay_steps * max(ceil(step/decay_steps), 1)``.

    Examples
    --------
    >>> PolynomialDecayLR(0.1, 0.01, 4, 0.5, emulate="mindspore")(2)  # MindSpore prints 0.07363961
    0.07363960891962051

    """

    def __init__(
        self,
        learning_rate: float,
        end_learning_rate: float,
        decay_steps: int,
        power: float,
        update_decay_steps: bool = False,
        *,
        emulate: Emulate = FOLLOW_OPTIMIZER,
    ) -> None:
        self.learning_rate = check_float("learning_rate", learning_rate, positive=True)
        self.end_learning_rate = check_float("end_learning_rate", end_learning_rate, positive=False)
        self.decay_steps = check_positive_int("decay_steps", decay_steps)
        self.update_decay_steps = check_bool("update_decay_steps", update_decay_steps)
        self.power = check_float("power", power, positive=True)
        self._set_emulate(emulate)
        self.diff_learning_rate = learning_rate - end_learning_rate  # float64, as in MindSpore's __init__

    def rate(self, step: int) -> float:  # noqa: D102 - documented in the class
        r = self._round()
        t = r(step)
        horizon = float(self.decay_steps)
        if self.update_decay_steps:
            horizon = r(self.decay_steps * max(math.ceil(r(t / self.decay_steps)), 1))
        else:
            t = min(t, horizon)
        p = r(t / horizon)
        decayed = r(math.pow(r(1.0 - p), r(self.power)))
        return r(r(r(self.diff_learning_rate) * decayed) + r(self.end_learning_rate))


class WarmUpLR(LearningRateSchedule):
    r"""``learning_rate * min(step, warmup_steps) / warmup_steps``.

    Examples
    --------
    >>> WarmUpLR(0.1, 2)(1)
    0.05

    """

    def __init__(
        self, learning_rate: float, warmup_steps: int, *, emulate: Emulate = FOLLOW_OPTIMIZER
    ) -> None:
        self.learning_rate = check_float("learning_rate", learning_rate, positive=False)
        self.warmup_steps = check_positive_int("warmup_steps", warmup_steps)
        self._set_emulate(emulate)

    def rate(self, step: int) -> float:  # noqa: D102 - documented in the class
        r = self._round()
        percent = r(r(min(step, self.warmup_steps)) / self.warmup_steps)
        return r(r(self.learning_rate) * percent)


# --- list builders (mindspore.nn.dynamic_lr): float64 Python arithmetic in MindSpore's operation order ----


def piecewise_constant_lr(
    milestone: list[int] | tuple[int, ...], learning_rates: list[float] | tuple[float, ...]
) -> list[float]:
    """``learning_rates[t]`` for every step in ``[milestone[t-1], milestone[t])``.

    Examples
    --------
    >>> piecewise_constant_lr([2, 5], [0.1, 0.05])
    [0.1, 0.1, 0.05, 0.05, 0.05]

    """
    if not isinstance(milestone, (list, tuple)):
        raise TypeError(f"milestone must be a list or tuple, got {type(milestone).__name__}")
    if not isinstance(learning_rates, (list, tuple)):
        raise TypeError(f"learning_rates must be a list or tuple, got {type(learning_rates).__name__}")
    if len(milestone) != len(learning_rates):
        raise ValueError(
            f"milestone and learning_rates must have the same length, "
            f"got {len(milestone)} and {len(learning_rates)}"
        )
    rates: list[float] = []
    last = 0
    for i, (item, value) in enumerate(zip(milestone, learning_rates, strict=True)):
        check_positive_int(f"milestone[{i}]", item)
        if not isinstance(value, float):
            raise TypeError(f"learning_rates[{i}] must be a float, got {type(value).__name__}")
        if item < last:
            raise ValueError(f"milestone[{i}] must be >= milestone[{i - 1}], got {item} < {last}")
        rates += [value] * (item - last)
        last = item
    return rates


def _per_step(total_step: int, step_per_epoch: int, rate: Callable[[int], float]) -> list[float]:
    """``rate(epoch)`` for every step ``i < total_step``, with ``epoch = floor(i / step_per_epoch)``."""
    return [rate(math.floor(i / step_per_epoch)) for i in range(total_step)]


def _check_decay_inputs(
    learning_rate: float, decay_rate: float, total_step: int, step_per_epoch: int, decay_epoch: int,
    is_stair: bool,
) -> None:  # fmt: skip
    check_positive_int("total_step", total_step)
    check_positive_int("step_per_epoch", step_per_epoch)
    check_positive_int("decay_epoch", decay_epoch)
    check_float("learning_rate", learning_rate, positive=True)
    check_float("decay_rate", decay_rate, positive=True)
    check_bool("is_stair", is_stair)


def exponential_decay_lr(
    learning_rate: float, decay_rate: float, total_step: int, step_per_epoch: int, decay_epoch: int,
    is_stair: bool = False,
) -> list[float]:  # fmt: skip
    """``learning_rate * decay_rate ** (epoch / decay_epoch)`` per step; ``epoch = floor(i/step_per_epoch)``.

    Examples
    --------
    >>> [round(x, 6) for x in exponential_decay_lr(0.1, 0.9, 6, 2, 1)]
    [0.1, 0.1, 0.09, 0.09, 0.081, 0.081]

    """
    _check_decay_inputs(learning_rate, decay_rate, total_step, step_per_epoch, decay_epoch, is_stair)

    def rate(epoch: int) -> float:
        exponent = math.floor(epoch / decay_epoch) if is_stair else epoch / decay_epoch
        return learning_rate * decay_rate**exponent

    return _per_step(total_step, step_per_epoch, rate)


def natural_exp_decay_lr(
    learning_rate: float, decay_rate: float, total_step: int, step_per_epoch: int, decay_epoch: int,
    is_stair: bool = False,
) -> list[float]:  # fmt: skip
    """``learning_rate * e ** (-decay_rate * epoch)`` per step (epoch floored to a multiple if `is_stair`).

    Examples
    --------
    >>> [round(x, 6) for x in natural_exp_decay_lr(0.1, 0.9, 6, 2, 2, True)]
    [0.1, 0.1, 0.1, 0.1, 0.01653, 0.01653]

    """
    _check_decay_inputs(learning_rate, decay_rate, total_step, step_per_epoch, decay_epoch, is_stair)

    def rate(epoch: int) -> float:
        if is_stair:
            epoch = math.floor(epoch / decay_epoch) * decay_epoch
        return learning_rate * math.e ** (-decay_rate * epoch)

    return _per_step(total_step, step_per_epoch, rate)


def inverse_decay_lr(
    learning_rate: float, decay_rate: float, total_step: int, step_per_epoch: int, decay_epoch: int,
    is_stair: bool = False,
) -> list[float]:  # fmt: skip
    """``learning_rate / (1 + decay_rate * epoch / decay_epoch)`` per step (quotient floored if stair).

    Examples
    --------
    >>> [round(x, 6) for x in inverse_decay_lr(0.1, 0.5, 6, 1, 1, True)]
    [0.1, 0.066667, 0.05, 0.04, 0.033333, 0.028571]

    """
    _check_decay_inputs(learning_rate, decay_rate, total_step, step_per_epoch, decay_epoch, is_stair)

    def rate(epoch: int) -> float:
        if is_stair:
            return learning_rate / (1 + decay_rate * math.floor(epoch / decay_epoch))
        return learning_rate / (1 + decay_rate * epoch / decay_epoch)

    return _per_step(total_step, step_per_epoch, rate)


def cosine_decay_lr(
    min_lr: float, max_lr: float, total_step: int, step_per_epoch: int, decay_epoch: int
) -> list[float]:
    """``min_lr + 0.5*(max_lr-min_lr)*(1 + cos(pi * min(epoch, decay_epoch) / decay_epoch))`` per step.

    Examples
    --------
    >>> [round(x, 6) for x in cosine_decay_lr(0.01, 0.1, 6, 2, 2)]
    [0.1, 0.1, 0.055, 0.055, 0.01, 0.01]

    """
    check_float("min_lr", min_lr, positive=False)
    check_float("max_lr", max_lr, positive=True)
    check_positive_int("total_step", total_step)
    check_positive_int("step_per_epoch", step_per_epoch)
    check_positive_int("decay_epoch", decay_epoch)
    if min_lr >= max_lr:
        raise ValueError(f"max_lr must be greater than min_lr, got max_lr={max_lr!r}, min_lr={min_lr!r}")
    delta = 0.5 * (max_lr - min_lr)

    def rate(epoch: int) -> float:
        return min_lr + delta * (1 + math.cos(math.pi * min(epoch, decay_epoch) / decay_epoch))

    return _per_step(total_step, step_per_epoch, rate)


def polynomial_decay_lr(
    learning_rate: float,
    end_learning_rate: float,
    total_step: int,
    step_per_epoch: int,
    decay_epoch: int,
    power: float,
    update_decay_epoch: bool = False,
) -> list[float]:
    """``(learning_rate - end) * (1 - t/T) ** power + end`` per step.

    ``t = min(epoch, decay_epoch)``, ``T = decay_epoch``; with `update_decay_epoch`,
    ``t = epoch`` and ``T = decay_epoch * max(ceil(epoch / decay_epoch), 1)``
    (MindSpore's rule, kept as it is).

    Examples
    --------
    >>> [round(x, 6) for x in polynomial_decay_lr(0.1, 0.01, 6, 2, 2, 0.5)]
    [0.1, 0.1, 0.07364, 0.07364, 0.01, 0.01]

    """
    check_float("learning_rate", learning_rate, positive=True)
    check_float("end_learning_rate", end_learning_rate, positive=False)
    check_float("power", power, positive=True)
    check_positive_int("total_step", total_step)
    check_positive_int("step_per_epoch", step_per_epoch)
    check_positive_int("decay_epoch", decay_epoch)
    check_bool("update_decay_epoch", update_decay_epoch)
    delta = learning_rate - end_learning_rate

    def rate(epoch: int) -> float:
        if update_decay_epoch:
            horizon, t = decay_epoch * max(math.ceil(epoch / decay_epoch), 1), epoch
        else:
            horizon, t = decay_epoch, min(decay_epoch, epoch)
        return delta * (1 - t / horizon) ** power + end_learning_rate

    return _per_step(total_step, step_per_epoch, rate)


def warmup_lr(learning_rate: float, total_step: int, step_per_epoch: int, warmup_epoch: int) -> list[float]:
    """``learning_rate * min(epoch, warmup_epoch) / warmup_epoch`` per step.

    Examples
    --------
    >>> warmup_lr(0.1, 6, 2, 2)
    [0.0, 0.0, 0.05, 0.05, 0.1, 0.1]

    """
    check_float("learning_rate", learning_rate, positive=False)
    check_positive_int("warmup_epoch", warmup_epoch)
    check_positive_int("total_step", total_step)
    check_positive_int("step_per_epoch", step_per_epoch)

    def rate(epoch: int) -> float:
        return learning_rate * min(warmup_epoch, epoch) / warmup_epoch

    return _per_step(total_step, step_per_epoch, rate)
