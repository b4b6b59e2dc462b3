"""Independent implementations of the update for the verifier's mutation tests.

Correct variants (must pass every ``exact``-profile case under BOUND) and
mutants (each must be rejected). All take the signature of
``apply_proximal_adagrad`` / ``sparse_apply_proximal_adagrad`` and ignore
``emulate``; they are written here on purpose, independently of the engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from proxadagrad_ref._ops import fma


def _step(w, a, g, lr, l1, l2, adaptive, *, mutant=None, use_fma=False, rsqrt_ulps=0, always_threshold=False):
    dt = w.dtype.type
    use_fma = use_fma and w.dtype != np.float64  # no float64 FMA here; the plain order is the other variant
    lr, l1, l2 = dt(lr), dt(l1), dt(l2)
    if mutant == "accum_after":
        step = lr / np.sqrt(a)
        a1 = fma(g, g, a) if use_fma else a + g * g
    else:
        a1 = fma(g, g, a) if use_fma else a + g * g
        if mutant == "lr_times_sqrt":
            step = lr * np.sqrt(a1)
        elif rsqrt_ulps:
            r = (dt(1) / np.sqrt(a1)).astype(w.dtype)
            up = np.arange(r.size).reshape(r.shape) % 2 == 0
            for _ in range(rsqrt_ulps):  # an rsqrt off by rsqrt_ulps ulps, alternating direction per element
                moved = np.nextafter(r, np.where(up, np.inf, 0).astype(w.dtype))
                r = np.where(np.isfinite(r) & (r > 0), moved, r)
            step = lr * r
        else:
            step = lr / np.sqrt(a1)
    v = fma(-g, step, w) if use_fma else w - step * g
    shrink = step if adaptive else np.full_like(step, lr)
    if mutant == "printed_form":
        shrink = np.full_like(step, lr)
    if mutant == "kernel_form":
        shrink = step
    d = (
        dt(1)
        if mutant == "no_l2"
        else (fma(l2, shrink, np.ones_like(shrink)) if use_fma else 1 + shrink * l2)
    )
    if l1 > 0 or always_threshold:
        t = np.abs(v) - shrink * l1
        if mutant != "no_max":
            t = np.maximum(t, 0)
        out = np.sign(v) * t / d
    else:
        out = v / d
    return out.astype(w.dtype), a1.astype(w.dtype)


def _dense(**opts: Any):
    def f(var, accum, lr, l1, l2, grad, *, prox_step="adaptive", emulate=None, inplace=False):
        return _step(var, accum, grad, lr, l1, l2, prox_step == "adaptive", **opts)

    return f


def via_float64(var, accum, lr, l1, l2, grad, *, prox_step="adaptive", emulate=None, inplace=False):
    """float32 (or float16) computed in float64 and rounded once; float64 stays native."""
    w, a, g = (x.astype(np.float64) for x in (var, accum, grad))
    out, a1 = _step(w, a, g, lr, l1, l2, prox_step == "adaptive")
    return out.astype(var.dtype), a1.astype(var.dtype)


def chunked(var, accum, lr, l1, l2, grad, *, prox_step="adaptive", emulate=None, inplace=False):
    """Native arithmetic, five elements at a time (as a blocked kernel would)."""
    w, a, g = (x.reshape(-1) for x in (var, accum, grad))
    outs, accs = [], []
    for s in range(0, w.size, 5):
        o, c = _step(w[s : s + 5], a[s : s + 5], g[s : s + 5], lr, l1, l2, prox_step == "adaptive")
        outs.append(o)
        accs.append(c)

    def cat(xs):
        return np.concatenate(xs) if xs else w[:0]

    return cat(outs).reshape(var.shape), cat(accs).reshape(var.shape)


def _sparse(dense_step, *, order: str | None = None):
    def f(
        var,
        accum,
        lr,
        l1,
        l2,
        grad,
        indices=None,
        *,
        duplicates="sum",
        prox_step="adaptive",
        emulate=None,
        inplace=False,
    ):
        if indices is None:  # scipy.sparse: touched rows with their dense values
            csr = grad.tocsr()
            csr.sum_duplicates()
            idx = np.flatnonzero(np.diff(csr.indptr))
            grad, indices = csr[idx].toarray().astype(var.dtype), idx
        var, accum = var.copy(), accum.copy()
        idx = np.asarray(indices, np.int64)
        if duplicates == "error" and len(np.unique(idx)) != len(idx):
            raise ValueError("duplicates in indices")
        policy = order or duplicates
        if policy == "sequential":
            for i, row in zip(idx, grad, strict=True):
                var[i], accum[i] = dense_step(var[i], accum[i], lr, l1, l2, row, prox_step=prox_step)
            return var, accum
        rows = np.unique(idx)
        total = np.zeros((len(rows), *var.shape[1:]), var.dtype)
        np.add.at(total, np.searchsorted(rows, idx), grad)
        if len(rows):
            var[rows], accum[rows] = dense_step(
                var[rows], accum[rows], lr, l1, l2, total, prox_step=prox_step
            )
        return var, accum

    return f


class Impl:
    """A dense + sparse pair, as ``--candidate MODULE:OBJ`` accepts."""

    def __init__(self, dense, sparse_order: str | None = None):
        self.dense = dense
        self.sparse = _sparse(dense, order=sparse_order)


CORRECT = {
    "native": Impl(_dense()),
    "fma": Impl(_dense(use_fma=True)),
    "rsqrt3ulp": Impl(_dense(rsqrt_ulps=3)),
    "fma_rsqrt3ulp": Impl(_dense(use_fma=True, rsqrt_ulps=3)),
    "always_threshold": Impl(_dense(always_threshold=True)),
    "via_float64": Impl(via_float64),
    "chunked": Impl(chunked),
}

MUTANTS = {
    "printed_form_for_kernel": Impl(_dense(mutant="printed_form")),
    "kernel_form_for_printed": Impl(_dense(mutant="kernel_form")),
    "lr_times_sqrt": Impl(_dense(mutant="lr_times_sqrt")),
    "accum_after_use": Impl(_dense(mutant="accum_after")),
    "l2_dropped": Impl(_dense(mutant="no_l2")),
    "l1_without_max": Impl(_dense(mutant="no_max")),
    "duplicates_sequential_for_sum": Impl(_dense(), sparse_order="sequential"),
}

native = CORRECT["native"]
native_dense = CORRECT["native"].dense
