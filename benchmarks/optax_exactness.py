"""How often ``params + updates`` misses the engine's new parameters, on training-like trajectories.

Runs ``proxadagrad_ref.optax.proximal_adagrad`` (eagerly) along several
trajectories -- random data and a logistic regression, l1 on and off, each
profile and dtype -- and counts, over every element of every step:

* ``plain``: ``fl(w + fl(w' - w)) != w'`` in NumPy (IEEE, subnormals kept);
* ``neg0``: of those, ``w'`` is ``-0.0`` (``x + (-x)`` is ``+0.0``);
* ``none``: no float ``u`` gives ``fl(w + u) == w'`` (the nudge cannot help);
* ``optax``: ``jax.jit(optax.apply_updates)(params, updates) != w'`` with the
  transformation's (nudged) updates, on this JAX backend (XLA flushes
  subnormals);
* ``err``: the largest ``|result - w'|`` over the misses, in ulps of ``max(|w|, |w'|)``.

Run: ``PYTHONPATH=. python benchmarks/optax_exactness.py [--steps 30] [--size 4000]``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

Grad = Callable[[np.ndarray, int], np.ndarray]


def random_trajectory(size: int, seed: int) -> tuple[np.ndarray, Grad]:
    """Parameters N(0, 1), gradients N(0, 1) at every step."""
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal(size)

    def grad(w: np.ndarray, step: int) -> np.ndarray:
        return np.random.default_rng([seed, step]).standard_normal(w.shape)

    return w0, grad


def logistic_trajectory(size: int, seed: int) -> tuple[np.ndarray, Grad]:
    """Logistic regression on 256 samples with a 5 %-sparse true weight; parameters start near 0."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((256, size)) / np.sqrt(size)
    truth = rng.standard_normal(size) * (rng.random(size) < 0.05) * 10
    y = (rng.random(256) < 1 / (1 + np.exp(-x @ truth))).astype(np.float64)
    w0 = rng.standard_normal(size) * 0.01

    def grad(w: np.ndarray, step: int) -> np.ndarray:
        p = 1 / (1 + np.exp(-x @ w.astype(np.float64)))
        return x.T @ (p - y) / 256

    return w0, grad


TRAJECTORIES = {"random": random_trajectory, "logistic": logistic_trajectory}
PROFILES = [(None, "adaptive"), (None, "fixed"), ("mindspore", "adaptive")]


def _ulp(x: np.ndarray) -> np.ndarray:
    return np.abs(np.spacing(np.abs(x).astype(x.dtype))).astype(np.float64)


def measure(
    trajectory: str, emulate: str | None, prox_step: str, dtype: Any, l1: float, steps: int, size: int
) -> dict[str, Any]:
    """The counts of one trajectory (see the module docs)."""
    import jax
    import jax.numpy as jnp
    import optax

    from proxadagrad_ref.optax import engine_params, nudged_difference, proximal_adagrad

    lr = 0.5 if trajectory == "logistic" else 0.05
    opt = proximal_adagrad(lr, l1=l1, l2=0.001, emulate=emulate, prox_step=prox_step)
    w0, grad = TRAJECTORIES[trajectory](size, 0)
    params = {"w": jnp.asarray(w0.astype(dtype))}
    state = opt.init(params)
    apply = jax.jit(optax.apply_updates)
    counts = {"elements": 0, "plain": 0, "neg0": 0, "none": 0, "optax": 0, "zeros": 0}
    worst = 0.0
    for t in range(steps):
        w = np.asarray(params["w"])
        g = {"w": jnp.asarray(grad(w, t).astype(dtype))}
        updates, state = opt.update(g, state, params)
        new = np.asarray(engine_params(state)["w"])
        with np.errstate(all="ignore"):
            plain = w + (new - w)
        bits = np.dtype(dtype).itemsize * 8
        u = f"u{bits // 8}"
        plain_miss = plain.view(u) != new.view(u)
        _, exact = nudged_difference(w, new)
        via_optax = np.asarray(apply(params, updates)["w"])
        optax_miss = via_optax.view(u) != new.view(u)
        counts["elements"] += new.size
        counts["plain"] += int(plain_miss.sum())
        counts["neg0"] += int((plain_miss & (new == 0) & np.signbit(new)).sum())
        counts["none"] += int((~exact).sum())
        counts["optax"] += int(optax_miss.sum())
        counts["zeros"] += int((new == 0).sum())
        if optax_miss.any():
            err = np.abs(via_optax.astype(np.float64) - new.astype(np.float64))[optax_miss]
            scale = _ulp(np.maximum(np.abs(w), np.abs(new)))[optax_miss]
            worst = max(worst, float(np.max(err / scale)))
        params = engine_params(state)
    return {
        "trajectory": trajectory,
        "profile": "exact" if emulate is None else emulate,
        "prox_step": prox_step,
        "dtype": np.dtype(dtype).name,
        "l1": l1,
        **counts,
        "err_ulps": worst,
    }


def cases(dtypes: list[str]) -> Iterator[tuple[str, str | None, str, str, float]]:
    """Every (trajectory, emulate, prox_step, dtype, l1) measured."""
    for trajectory in TRAJECTORIES:
        for emulate, prox_step in PROFILES:
            for dtype in dtypes:
                if emulate == "mindspore" and dtype == "float64":
                    continue  # MindSpore's kernels define float16 and float32
                for l1 in (0.0, 0.01):
                    yield trajectory, emulate, prox_step, dtype, l1


def main() -> None:
    """Print one line per trajectory and a JSON list of the counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--size", type=int, default=4000)
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--json", help="write the counts to this file")
    args = parser.parse_args()
    import jax

    jax.config.update("jax_enable_x64", True)
    rows = []
    for trajectory, emulate, prox_step, dtype, l1 in cases(args.dtypes.split(",")):
        row = measure(trajectory, emulate, prox_step, dtype, l1, args.steps, args.size)
        rows.append(row)
        n = row["elements"]
        print(
            f"{trajectory:8} {row['profile']:9} {prox_step:8} {dtype:7} l1={l1:<4} "
            f"zeros {row['zeros'] / n:7.3%}  plain {row['plain'] / n:8.4%} (-0: {row['neg0'] / n:8.4%})  "
            f"none {row['none'] / n:8.4%}  optax {row['optax'] / n:8.4%}  err {row['err_ulps']:.3g} ulp",
            flush=True,
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
