"""An independent, scalar transcription of the published formulas, for the tests only.

Plain Python floats (IEEE binary64) and the ``math`` module, one element at a
time, written from the papers and the frameworks' documentation — not from the
engine — so that agreement means something.
"""

from __future__ import annotations

import math


def published_update(
    w: float, a: float, g: float, lr: float, l1: float, l2: float, *, adaptive: bool
) -> tuple[float, float, float, float]:
    """One step in binary64. Returns ``(w_new, a_new, prox_v, shrink_step)``."""
    a_new = a + g * g
    try:
        step = lr / math.sqrt(a_new)
    except ZeroDivisionError:
        step = math.nan if lr == 0 else math.inf
    prox_v = w - step * g
    s = step if adaptive else lr
    if l1 > 0:
        magnitude = max(abs(prox_v) - s * l1, 0.0) if not math.isnan(prox_v) else math.nan
        sign = math.copysign(1.0, prox_v) if prox_v != 0 else 0.0
        if math.isnan(prox_v):
            sign = math.nan
        w_new = sign * magnitude / (1.0 + s * l2)
    else:
        w_new = prox_v / (1.0 + s * l2)
    return w_new, a_new, prox_v, s
