"""Checks of the optimizer's and the schedules' scalar arguments: MindSpore's types, the argument named.

MindSpore's ``_checkparam`` rules: an int is not a float, a bool is not an int.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["check_bool", "check_float", "check_loss_scale", "check_positive_int", "check_rate", "check_step"]


def check_float(name: str, value: object, *, positive: bool = False) -> float:
    """A Python float (an int is refused, as in MindSpore), finite and ``>= 0`` (``> 0`` if `positive`)."""
    if not isinstance(value, float):
        raise TypeError(f"{name} must be a float (an int is not accepted), got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite float {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def check_positive_int(name: str, value: object) -> int:
    """A Python int (a bool is refused) ``> 0``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def check_rate(name: str, value: object, kinds: str) -> float | None:
    """A real number ``>= 0`` as a float (int converted, bool refused); None for a `value` of another type.

    `kinds` lists what `name` accepts, for the message refusing a bool.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be {kinds}, got bool")
    if not isinstance(value, numbers.Real):
        return None
    rate = float(value)
    if not math.isfinite(rate) or rate < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return rate


def check_loss_scale(value: object) -> float:
    """``loss_scale``: a float or an int (converted), finite and ``> 0``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"loss_scale must be a float or an int, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"loss_scale must be a finite number > 0, got {value!r}")
    return value


def check_bool(name: str, value: object) -> bool:
    """A real ``bool`` (no truthy stand-ins)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def check_step(name: str, value: object) -> int:
    """A global step: an integer ``>= 0``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)
