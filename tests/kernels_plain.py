"""Plain kernels as a newcomer writes them: the kernel's positional signature and nothing else.

Written here independently of the engine (float64 arithmetic, one rounding), for the candidate
protocol tests. ``wrong_*`` are mutants the verifier must reject.
"""

from __future__ import annotations

import numpy as np


def _step(var, accum, lr, l1, l2, grad, *, fixed=False, l2_dropped=False):
    w, a, g = (np.asarray(x, np.float64) for x in (var, accum, grad))
    a = a + g * g
    eta = lr / np.sqrt(a)
    v = w - eta * g
    s = lr if fixed else eta
    d = 1.0 if l2_dropped else 1.0 + s * l2
    out = np.sign(v) * np.maximum(np.abs(v) - s * l1, 0.0) / d
    return out.astype(var.dtype), a.astype(var.dtype)


def my_kernel(var, accum, lr, l1, l2, grad):
    """Correct: the kernels' (adaptive) form."""
    return _step(var, accum, lr, l1, l2, grad)


def printed_formula(var, accum, lr, l1, l2, grad):
    """Correct for prox_step='fixed' (the printed formula), wrong for the kernels' form."""
    return _step(var, accum, lr, l1, l2, grad, fixed=True)


def wrong_l2(var, accum, lr, l1, l2, grad):
    """Wrong: the l2 denominator is dropped."""
    return _step(var, accum, lr, l1, l2, grad, l2_dropped=True)


def in_place(var, accum, lr, l1, l2, grad):
    """Correct, C style: updates var and accum in place and returns None."""
    var[...], accum[...] = _step(var, accum, lr, l1, l2, grad)


def my_sparse(var, accum, lr, l1, l2, grad, indices):
    """Correct sparse kernel: duplicate indices summed, untouched rows kept."""
    var, accum = var.copy(), accum.copy()
    rows, inverse = np.unique(np.asarray(indices, np.int64), return_inverse=True)
    total = np.zeros((len(rows), *var.shape[1:]), np.float64)
    np.add.at(total, inverse.reshape(-1), np.asarray(grad, np.float64))
    if len(rows):
        var[rows], accum[rows] = _step(var[rows], accum[rows], lr, l1, l2, total.astype(var.dtype))
    return var, accum


def returns_garbage(var, accum, lr, l1, l2, grad):
    return 42
