"""Independent implementations of the update for the verifier's mutation tests.

Correct variants (must pass every ``exact``-profile case under BOUND) and
mutants (each must be rejected). All take the signature of
``apply_proximal_adagrad`` / ``sparse_apply_proximal_adagrad`` and ignore
``emulate``; they are written here on purpose, independently of the engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from proxadagrad_ref.numerics.ops import fma


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


# --- optimizer factories: an independent float64 pipeline (exact profile) and its mutants ------------------


class Float64Pipeline:
    """``ProximalAdagrad``'s behaviour written from its documentation, every stage in float64.

    The effective gradient ``(g + wd*s*w)/s``, centralized, duplicate rows
    summed, is rounded once to the parameter dtype; the update runs in float64
    and is rounded once (`kernel="float64"`), or in the dtype's own arithmetic
    (float32 for float16), with or without FMA (`kernel="native"`, ``"fma"``):
    both are correct for the exact profile, the second within the bound only.
    `mutant` names one deliberate bug.
    """

    def __init__(
        self,
        params,
        accum=0.1,
        learning_rate=0.001,
        l1=0.0,
        l2=0.0,
        use_locking=False,
        loss_scale=1.0,
        weight_decay=0.0,
        *,
        emulate=None,
        prox_step="adaptive",
        mutant=None,
        kernel="float64",
    ):
        self.kernel = kernel
        self.mutant, self.l1, self.l2, self.s = mutant, l1, l2, float(loss_scale)
        self.adaptive = prox_step == "adaptive"
        self.step = 0
        entries = []  # (param, lr, wd or None, centralize)
        if all(isinstance(p, dict) for p in params):
            order = None
            for g in params:
                if "order_params" in g:
                    order = [p.name for p in g["order_params"]]
                    continue
                wd = g.get("weight_decay", weight_decay)
                active = callable(wd) or wd > 0
                for p in g["params"]:
                    entries.append(
                        (
                            p,
                            g.get("lr", learning_rate),
                            wd if active else None,
                            g.get("grad_centralization", False),
                        )
                    )
            if order is not None:
                entries.sort(key=lambda e: order.index(e[0].name))
        else:
            active = callable(weight_decay) or weight_decay > 0
            for p in params:
                named = "beta" not in p.name and "gamma" not in p.name
                if mutant == "decay_beta_gamma":
                    named = True
                entries.append((p, learning_rate, weight_decay if active and named else None, False))
        self.entries = entries
        self.parameters = tuple(e[0] for e in entries)
        fill = 0.0 if mutant == "accum_init_zero" else accum
        self.accum = [np.full(p.data.shape, fill, p.data.dtype) for p in self.parameters]

    def _rate(self, lr, step):
        if isinstance(lr, (int, float)):
            return float(lr)
        if isinstance(lr, list):
            lr = np.asarray(lr, np.float32)
        if isinstance(lr, np.ndarray):
            return float(lr[step])
        return float(lr(step))  # a schedule

    def __call__(self, grads):
        step = self.step + 1 if self.mutant == "lr_off_by_one" else self.step
        new = []
        for (p, lr, wd, centralize), a, grad in zip(self.entries, self.accum, grads, strict=True):
            w, dt = p.data, p.data.dtype.type
            rate = self._rate(lr, step)
            decay = 0.0 if wd is None else float(wd(self.step) if callable(wd) else wd)
            idx, g = (None, grad) if not isinstance(grad, tuple) else grad
            g = g.astype(np.float64)
            rows = w if idx is None else w[np.asarray(idx, np.int64)]
            if self.mutant == "decay_after_loss_scale":
                g = g / self.s + decay * self.s * rows.astype(np.float64)
            else:
                g = g / self.s + decay * rows.astype(np.float64)
            if centralize and g.ndim > 1 and p.data.shape[1] % 16 == 0:
                g = g - g.mean(axis=tuple(range(1, g.ndim)), keepdims=True)
            if idx is not None:
                uniq, inv = np.unique(np.asarray(idx, np.int64), return_inverse=True)
                total = np.zeros((len(uniq), *g.shape[1:]))
                np.add.at(total, inv, g)
                idx, g = uniq, total
            g = g.astype(dt)  # the one rounding of the effective gradient
            hyper = np.float32 if dt is np.float16 else dt
            lr_, l1_, l2_ = (float(hyper(x)) for x in (rate, self.l1, self.l2))
            sel = slice(None) if idx is None else idx
            out, a1 = self._kernel(w[sel], a[sel], g, lr_, l1_, l2_)
            w2, a2 = w.copy(), a.copy()
            w2[sel], a2[sel] = out.astype(dt), a1.astype(dt)
            new.append((w2, a2))
        for i, (p, (w2, a2)) in enumerate(zip(self.parameters, new, strict=True)):
            p.data, self.accum[i] = w2, a2
        self.step += 1
        return True

    def _kernel(self, w, a, g, lr, l1, l2):
        if self.kernel != "float64":
            cd = np.float32 if w.dtype == np.float16 else w.dtype
            return _step(
                w.astype(cd),
                a.astype(cd),
                g.astype(cd),
                lr,
                l1,
                l2,
                self.adaptive,
                use_fma=self.kernel == "fma",
            )
        w64, a64, g64 = w.astype(np.float64), a.astype(np.float64), g.astype(np.float64)
        a1 = a64 + g64 * g64
        eta = lr / np.sqrt(a1)
        v = w64 - eta * g64
        shrink = eta if self.adaptive else lr
        return np.sign(v) * np.maximum(np.abs(v) - shrink * l1, 0) / (1 + shrink * l2), a1


def _pipeline(mutant=None, kernel="float64"):
    def factory(params, **kwargs):
        return Float64Pipeline(params, **kwargs, mutant=mutant, kernel=kernel)

    return factory


float64_optimizer = _pipeline()

OPTIMIZER_CORRECT = {
    "float64_pipeline": float64_optimizer,
    "native_kernel": _pipeline(kernel="native"),
    "fma_kernel": _pipeline(kernel="fma"),
}
OPTIMIZER_MUTANTS = {
    "lr_off_by_one": _pipeline("lr_off_by_one"),
    "decay_after_loss_scale": _pipeline("decay_after_loss_scale"),
    "decay_beta_gamma": _pipeline("decay_beta_gamma"),
    "accum_init_zero": _pipeline("accum_init_zero"),
}
