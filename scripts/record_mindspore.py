"""Record MindSpore Proximal Adagrad reference data (kernels and optimizer trajectories).

Run inside a virtual environment with MindSpore (CPU wheel) installed::

    python scripts/record_mindspore.py --out recorded/mindspore

Writes one ``.npz`` per case (plain numeric arrays only), ``cases.json`` (what
each case is and how to replay it) and ``provenance.json`` (versions, CPU,
date, seed, execution mode, ops called) into the output folder.

Array naming inside the ``.npz`` files
--------------------------------------
Kernel cases: ``var0``, ``accum0``, ``grad``, ``lr``, ``l1``, ``l2``
(0-d arrays), ``indices`` (sparse cases), ``var1``, ``accum1`` (outputs).

Optimizer cases (``P`` = parameter position in the optimizer's own order,
i.e. after ``order_params``; names are listed in ``cases.json``):
``init_P``, ``accum0_P``, ``grad_S_P`` (raw gradient passed to the optimizer
at step ``S``), ``var_S_P`` and ``accum_S_P`` (values after step ``S``), and
``lr_S_P`` (float32 learning rate the optimizer's schedule yields for step
``S``, evaluated by calling the schedule cell on the step; for fixed learning
rates it is the stored float32 value).  Sparse-gradient cases store
``grad_values_S_P`` and ``grad_indices_S_P`` instead of ``grad_S_P``.

The CPU kernel thread count is fixed (``--threads``, default 1) because the
dense kernel's multithreaded split changes between calls while it auto-tunes
and that split decides which elements take the scalar tail path.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import Parameter, Tensor, nn, ops

F32 = np.float32
OPS_CALLED: set[str] = set()


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def host(t: Tensor) -> np.ndarray:
    """Copy a tensor to a fresh NumPy array.

    ``Tensor.asnumpy()`` can share memory with a parameter that a later step
    updates in place, so the result is always copied.

    Parameters
    ----------
    t : mindspore.Tensor
        Tensor or parameter.

    Returns
    -------
    numpy.ndarray
        Independent copy.
    """
    return np.array(t.asnumpy(), copy=True)


def cpu_info() -> dict[str, str]:
    """Return the CPU model name and flags from ``/proc/cpuinfo``.

    Returns
    -------
    dict of str
        ``model_name`` and ``flags`` (empty strings when unavailable).
    """
    info = {"model_name": "", "flags": ""}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not info["model_name"]:
            info["model_name"] = value.strip()
        elif key == "flags" and not info["flags"]:
            info["flags"] = value.strip()
    return info


class Recorder:
    """Collect cases and write them to an output folder.

    Parameters
    ----------
    out : pathlib.Path
        Output folder (created if missing).
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self.out.mkdir(parents=True, exist_ok=True)
        self.cases: list[dict] = []

    def add(self, name: str, config: dict, arrays: dict[str, np.ndarray]) -> None:
        """Save one case.

        Parameters
        ----------
        name : str
            Case name, also the ``.npz`` file stem.
        config : dict
            JSON-serialisable description of the case.
        arrays : dict of numpy.ndarray
            Arrays to store (no object arrays).
        """
        clean = {k: np.asarray(v) for k, v in arrays.items()}
        for key, value in clean.items():
            if value.dtype == object:
                raise TypeError(f"object array {key!r} in case {name!r}")
        np.savez(self.out / f"{name}.npz", **clean)
        self.cases.append({"name": name, "file": f"{name}.npz", **config})

    def finish(self, provenance: dict) -> None:
        """Write ``cases.json`` and ``provenance.json``.

        Parameters
        ----------
        provenance : dict
            Provenance record.
        """
        (self.out / "cases.json").write_text(json.dumps(self.cases, indent=1))
        (self.out / "provenance.json").write_text(json.dumps(provenance, indent=1))


# ---------------------------------------------------------------------------
# kernel cases
# ---------------------------------------------------------------------------

SPECIALS32 = np.array(
    [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-40, 3.4e38, -3.4e38, 1e-20, 1.0], F32
)


def random_dense(rng: np.random.Generator, n: int, dtype, special: bool) -> tuple[np.ndarray, ...]:
    """Draw ``var``, ``accum`` and ``grad`` for a dense kernel case.

    Gradients span many magnitudes (float32: 1e-30..1e10, float16:
    1e-7..1e4) with random signs and some zeros; accumulators lie in
    [0, 10); ``special`` replaces 30 % of the entries by special values.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random source.
    n : int
        Number of elements.
    dtype : numpy dtype
        ``float32`` or ``float16``.
    special : bool
        Whether to inject special values.

    Returns
    -------
    tuple of numpy.ndarray
        ``(var, accum, grad)``.
    """
    lo, hi = (-30, 10) if dtype == F32 else (-7, 4)
    grad = rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(lo, hi, n)
    grad[rng.random(n) < 0.05] = 0.0
    var = rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 2, n)
    acc = rng.uniform(0.0, 10.0, n)
    acc[rng.random(n) < 0.05] = 0.0
    if special:
        pool = SPECIALS32.astype(np.float64)
        if dtype != F32:
            pool = np.array(
                [0.0, -0.0, np.inf, -np.inf, np.nan, 6e-8, -6e-8, 1e-5, 65504.0, -65504.0, 1e-3, 1.0]
            )
        for arr in (grad, var, acc):
            mask = rng.random(n) < 0.3
            arr[mask] = rng.choice(pool, int(mask.sum()))
    with np.errstate(over="ignore"):
        return var.astype(dtype), acc.astype(dtype), grad.astype(dtype)


def run_dense(var0, acc0, lr, l1, l2, grad) -> tuple[np.ndarray, np.ndarray]:
    """Call ``ops.ApplyProximalAdagrad`` once on fresh parameters.

    Parameters
    ----------
    var0, acc0, grad : numpy.ndarray
        Inputs (float32 or float16).
    lr, l1, l2 : numpy.floating
        Scalars, passed as 0-d tensors of their own dtype.

    Returns
    -------
    tuple of numpy.ndarray
        Updated ``(var, accum)``.
    """
    OPS_CALLED.add("mindspore.ops.ApplyProximalAdagrad")
    var = Parameter(Tensor(var0.copy()), name="var")
    acc = Parameter(Tensor(acc0.copy()), name="accum")
    ops.ApplyProximalAdagrad()(var, acc, Tensor(lr), Tensor(l1), Tensor(l2), Tensor(grad.copy()))
    return host(var), host(acc)


def run_fused(var0, acc0, lr, l1, l2, grad, indices) -> tuple[np.ndarray, np.ndarray]:
    """Call ``ops.FusedSparseProximalAdagrad`` once on fresh parameters.

    Parameters
    ----------
    var0, acc0 : numpy.ndarray
        ``(rows, ...)`` float32.
    lr, l1, l2 : numpy.float32
        Scalars.
    grad : numpy.ndarray
        ``(k, ...)`` float32 rows.
    indices : numpy.ndarray
        ``(k,)`` int32 or int64.

    Returns
    -------
    tuple of numpy.ndarray
        Updated ``(var, accum)``.
    """
    OPS_CALLED.add("mindspore.ops.FusedSparseProximalAdagrad")
    var = Parameter(Tensor(var0.copy()), name="var")
    acc = Parameter(Tensor(acc0.copy()), name="accum")
    ops.FusedSparseProximalAdagrad()(
        var, acc, Tensor(lr), Tensor(l1), Tensor(l2), Tensor(grad.copy()), Tensor(indices.copy())
    )
    return host(var), host(acc)


def record_kernels(rec: Recorder, rng: np.random.Generator) -> None:
    """Record dense float32/float16 and fused-sparse kernel cases.

    Parameters
    ----------
    rec : Recorder
        Destination.
    rng : numpy.random.Generator
        Random source.
    """
    hypers = [(0.01, 0.0, 0.0), (0.1, 0.01, 0.0), (0.5, 0.0, 0.1), (1e-4, 0.001, 0.02), (1.0, 0.3, 0.7)]
    sizes = [1, 3, 7, 8, 13, 1000, 4099]
    for dtype, tag in ((F32, "fp32"), (np.float16, "fp16")):
        for special in (False, True):
            for h, (lr, l1, l2) in enumerate(hypers):
                for n in sizes if dtype == F32 else [7, 1001]:
                    var0, acc0, grad = random_dense(rng, n, dtype, special)
                    s = [dtype(lr), dtype(l1), dtype(l2)]
                    var1, acc1 = run_dense(var0, acc0, *s, grad)
                    name = f"kernel_dense_{tag}_{'special' if special else 'random'}_h{h}_n{n}"
                    rec.add(
                        name,
                        {
                            "kind": "kernel_dense",
                            "op": "mindspore.ops.ApplyProximalAdagrad",
                            "dtype": tag,
                            "n": n,
                            "lr": float(s[0]),
                            "l1": float(s[1]),
                            "l2": float(s[2]),
                            "special_values": special,
                        },
                        {
                            "var0": var0,
                            "accum0": acc0,
                            "grad": grad,
                            "lr": s[0],
                            "l1": s[1],
                            "l2": s[2],
                            "var1": var1,
                            "accum1": acc1,
                        },
                    )
    rows, cols = 64, 9
    sparse_kinds: list[tuple[str, Callable[[], np.ndarray], type]] = [
        ("unique_sorted", lambda: np.sort(rng.choice(rows, 20, replace=False)), np.int32),
        ("unique_unsorted", lambda: rng.choice(rows, 20, replace=False), np.int32),
        ("duplicates", lambda: rng.integers(0, 8, 120), np.int32),
        ("duplicates_int64", lambda: rng.integers(0, rows, 150), np.int64),
        ("out_of_range_dropped", lambda: rng.integers(-3, rows + 3, 60), np.int32),
    ]
    for special in (False, True):
        for h, (lr, l1, l2) in enumerate(hypers):
            for kname, make, itype in sparse_kinds:
                idx = make().astype(itype)
                var0, acc0, _ = random_dense(rng, rows * cols, F32, special)
                _, _, grad = random_dense(rng, idx.size * cols, F32, special)
                var0, acc0 = var0.reshape(rows, cols), acc0.reshape(rows, cols)
                grad = grad.reshape(idx.size, cols)
                s = [F32(lr), F32(l1), F32(l2)]
                var1, acc1 = run_fused(var0, acc0, *s, grad, idx)
                rec.add(
                    f"kernel_fused_sparse_{kname}_{'special' if special else 'random'}_h{h}",
                    {
                        "kind": "kernel_fused_sparse",
                        "op": "mindspore.ops.FusedSparseProximalAdagrad",
                        "dtype": "fp32",
                        "indices_dtype": np.dtype(itype).name,
                        "shape": [rows, cols],
                        "lr": float(s[0]),
                        "l1": float(s[1]),
                        "l2": float(s[2]),
                        "special_values": special,
                    },
                    {
                        "var0": var0,
                        "accum0": acc0,
                        "grad": grad,
                        "indices": idx,
                        "lr": s[0],
                        "l1": s[1],
                        "l2": s[2],
                        "var1": var1,
                        "accum1": acc1,
                    },
                )


# ---------------------------------------------------------------------------
# optimizer trajectories
# ---------------------------------------------------------------------------

PARAM_SPECS = [("w", (3, 5)), ("beta_b", (7,)), ("gamma_c", (4,)), ("v", (2, 3))]

SCHEDULES: dict[str, tuple[type, dict]] = {
    "ExponentialDecayLR": (
        nn.ExponentialDecayLR,
        {"learning_rate": 0.1, "decay_rate": 0.9, "decay_steps": 2, "is_stair": False},
    ),
    "ExponentialDecayLR_stair": (
        nn.ExponentialDecayLR,
        {"learning_rate": 0.1, "decay_rate": 0.9, "decay_steps": 2, "is_stair": True},
    ),
    "NaturalExpDecayLR": (
        nn.NaturalExpDecayLR,
        {"learning_rate": 0.1, "decay_rate": 0.9, "decay_steps": 2, "is_stair": False},
    ),
    "NaturalExpDecayLR_stair": (
        nn.NaturalExpDecayLR,
        {"learning_rate": 0.1, "decay_rate": 0.9, "decay_steps": 2, "is_stair": True},
    ),
    "InverseDecayLR": (
        nn.InverseDecayLR,
        {"learning_rate": 0.1, "decay_rate": 0.9, "decay_steps": 2, "is_stair": False},
    ),
    "CosineDecayLR": (nn.CosineDecayLR, {"min_lr": 0.01, "max_lr": 0.1, "decay_steps": 4}),
    "PolynomialDecayLR": (
        nn.PolynomialDecayLR,
        {
            "learning_rate": 0.1,
            "end_learning_rate": 0.01,
            "decay_steps": 4,
            "power": 0.5,
            "update_decay_steps": False,
        },
    ),
    "PolynomialDecayLR_update": (
        nn.PolynomialDecayLR,
        {
            "learning_rate": 0.1,
            "end_learning_rate": 0.01,
            "decay_steps": 4,
            "power": 0.5,
            "update_decay_steps": True,
        },
    ),
    "WarmUpLR": (nn.WarmUpLR, {"learning_rate": 0.1, "warmup_steps": 3}),
}


class StepWeightDecay(nn.Cell):
    """Dynamic weight decay ``0.01 * float32(step) + 0.001`` (float32)."""

    def construct(self, global_step):
        """Return the weight decay for ``global_step``."""
        return ops.cast(global_step, ms.float32).reshape(()) * 0.01 + 0.001


def lr_value(spec, step: int) -> np.ndarray:
    """Evaluate a learning-rate spec of a case for one step.

    Parameters
    ----------
    spec : float, list or (str, dict)
        Float, per-step list, or ``(schedule_name, kwargs)``.
    step : int
        Global step before the update.

    Returns
    -------
    numpy.ndarray
        0-d float32 (NaN when ``step`` is past the end of a list).
    """
    if isinstance(spec, float):
        return np.asarray(F32(spec))
    if isinstance(spec, list):
        return np.asarray(F32(spec[step]) if step < len(spec) else F32(np.nan))
    cls, kw = SCHEDULES[spec[0]]
    out = cls(**kw)(Tensor(np.array([step], np.int32)))
    return np.asarray(host(out).reshape(()), F32)


def build_lr(spec):
    """Turn a learning-rate spec into the object given to MindSpore.

    Parameters
    ----------
    spec : float, list, (str, dict) or ("tensor", list)
        Learning-rate description.

    Returns
    -------
    object
        Float, list, Tensor or LearningRateSchedule instance.
    """
    if isinstance(spec, tuple) and spec[0] == "tensor":
        return Tensor(np.asarray(spec[1], F32))
    if isinstance(spec, tuple):
        cls, kw = SCHEDULES[spec[0]]
        return cls(**kw)
    return spec


def spec_json(spec):
    """JSON form of a learning-rate spec.

    Parameters
    ----------
    spec : float, list or tuple
        Learning-rate description.

    Returns
    -------
    dict
        ``{"type": ..., ...}``.
    """
    if isinstance(spec, float):
        return {"type": "float", "value": spec}
    if isinstance(spec, list):
        return {"type": "list", "values": spec}
    if spec[0] == "tensor":
        return {"type": "tensor_1d", "values": list(spec[1])}
    return {"type": "schedule", "class": SCHEDULES[spec[0]][0].__name__, "kwargs": SCHEDULES[spec[0]][1]}


def record_trajectory(rec: Recorder, rng: np.random.Generator, name: str, cfg: dict, steps: int = 6) -> None:
    """Run ``nn.ProximalAdagrad`` for several steps and record everything.

    Parameters
    ----------
    rec : Recorder
        Destination.
    rng : numpy.random.Generator
        Random source for parameters and gradients.
    name : str
        Case name.
    cfg : dict
        ``dtype``, ``lr`` (spec), ``accum``, ``l1``, ``l2``, ``weight_decay``
        (float or ``"StepWeightDecay"``), ``loss_scale`` and optional
        ``groups`` (list of dicts with ``params`` as names and optional
        ``lr`` spec / ``weight_decay``) and ``order`` (names).
    steps : int, optional
        Number of optimizer steps.
    """
    dtype = np.dtype(cfg.get("dtype", "float32")).type
    params = {n: Parameter(Tensor(rng.standard_normal(s).astype(dtype)), name=n) for n, s in PARAM_SPECS}
    wd = cfg.get("weight_decay", 0.0)
    wd_obj = StepWeightDecay() if wd == "StepWeightDecay" else wd
    if "groups" in cfg:
        groups = []
        for g in cfg["groups"]:
            d = {"params": [params[n] for n in g["params"]]}
            if "lr" in g:
                d["lr"] = build_lr(g["lr"])
            if "weight_decay" in g:
                d["weight_decay"] = g["weight_decay"]
            groups.append(d)
        if "order" in cfg:
            groups.append({"order_params": [params[n] for n in cfg["order"]]})
        plist = groups
    else:
        plist = list(params.values())
    OPS_CALLED.add("mindspore.nn.ProximalAdagrad")
    opt = nn.ProximalAdagrad(
        plist,
        accum=cfg["accum"],
        learning_rate=build_lr(cfg["lr"]),
        l1=cfg["l1"],
        l2=cfg["l2"],
        loss_scale=cfg["loss_scale"],
        weight_decay=wd_obj,
    )
    order = [p.name for p in opt.parameters]
    group_lr = {}
    for g in cfg.get("groups", []):
        for n in g["params"]:
            group_lr[n] = g.get("lr", cfg["lr"])
    arrays: dict[str, np.ndarray] = {}
    for i, p in enumerate(opt.parameters):
        arrays[f"init_{i}"] = host(p)
        arrays[f"accum0_{i}"] = host(opt.accum[i])
    error = None
    done = 0
    for s in range(steps):
        grads = [(rng.standard_normal(p.shape) * 0.5).astype(dtype) for p in opt.parameters]
        for i, p in enumerate(opt.parameters):
            spec = group_lr.get(p.name, cfg["lr"])
            spec = list(spec[1]) if isinstance(spec, tuple) and spec[0] == "tensor" else spec
            arrays[f"lr_{s}_{i}"] = lr_value(spec, s)
        try:
            opt(tuple(Tensor(g) for g in grads))
        except (RuntimeError, ValueError, IndexError) as exc:  # past-the-end learning rates
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            for i in range(len(grads)):
                arrays.pop(f"lr_{s}_{i}", None)
            break
        for i, p in enumerate(opt.parameters):
            arrays[f"grad_{s}_{i}"] = grads[i]
            arrays[f"var_{s}_{i}"] = host(p)
            arrays[f"accum_{s}_{i}"] = host(opt.accum[i])
        done += 1
    config = {
        "kind": "optimizer",
        "class": "mindspore.nn.ProximalAdagrad",
        "dtype": np.dtype(dtype).name,
        "param_order": order,
        "param_shapes": {n: list(s) for n, s in PARAM_SPECS},
        "accum": cfg["accum"],
        "l1": cfg["l1"],
        "l2": cfg["l2"],
        "loss_scale": cfg["loss_scale"],
        "learning_rate": spec_json(cfg["lr"]),
        "weight_decay": wd if not isinstance(wd, str) else {"cell": wd, "formula": "0.01*f32(step)+0.001"},
        "groups": [{**g, **({"lr": spec_json(g["lr"])} if "lr" in g else {})} for g in cfg.get("groups", [])],
        "steps_requested": steps,
        "steps_done": done,
        "error": error,
    }
    rec.add(name, config, arrays)


def record_optimizers(rec: Recorder, rng: np.random.Generator) -> None:
    """Record the ``nn.ProximalAdagrad`` trajectory cases.

    Parameters
    ----------
    rec : Recorder
        Destination.
    rng : numpy.random.Generator
        Random source.
    """
    base = {"accum": 0.1, "l1": 0.001, "l2": 0.002, "loss_scale": 1.0, "weight_decay": 0.0, "lr": 0.05}
    cases: dict[str, dict] = {
        "opt_plain": {},
        "opt_no_reg": {"l1": 0.0, "l2": 0.0},
        "opt_wd_namefilter": {"weight_decay": 0.01},
        "opt_wd_losscale4": {"weight_decay": 0.01, "loss_scale": 4.0},
        "opt_wd_losscale3": {"weight_decay": 0.03, "loss_scale": 3.0},
        "opt_dynamic_wd_losscale2": {"weight_decay": "StepWeightDecay", "loss_scale": 2.0},
        "opt_lr_tensor": {"lr": ("tensor", [0.05, 0.03, 0.02, 0.01, 0.005, 0.001])},
        "opt_lr_list": {"lr": [0.05, 0.03, 0.02, 0.01, 0.005, 0.001]},
        "opt_lr_list_past_end": {"lr": [0.05, 0.03, 0.02]},
        "opt_fp16": {"dtype": "float16"},
        "opt_fp16_wd_losscale4": {"dtype": "float16", "weight_decay": 0.01, "loss_scale": 4.0},
        "opt_groups_order": {
            "weight_decay": 0.0,
            "groups": [
                {"params": ["w", "v"], "lr": 0.02, "weight_decay": 0.01},
                {"params": ["beta_b"], "weight_decay": 0.0},
                {"params": ["gamma_c"], "lr": 0.07},
            ],
            "order": ["v", "gamma_c", "beta_b", "w"],
        },
        "opt_groups_dynamic_and_float": {
            "groups": [{"params": ["w"], "lr": ("WarmUpLR", {})}, {"params": ["beta_b", "gamma_c", "v"]}],
        },
        "opt_groups_wd_no_namefilter": {
            "weight_decay": 0.01,
            "groups": [{"params": [n for n, _ in PARAM_SPECS]}],
        },
    }
    for sched in SCHEDULES:
        cases[f"opt_lr_{sched}"] = {"lr": (sched, {})}
    for name, over in cases.items():
        cfg = {**base, **over}
        record_trajectory(rec, rng, name, cfg, steps=6)


def record_sparse_net(rec: Recorder, rng: np.random.Generator) -> None:
    """Try a graph-mode net whose embedding produces a sparse (RowTensor) gradient.

    The case is recorded only if MindSpore runs it on CPU; otherwise the
    error is stored in ``cases.json``.

    Parameters
    ----------
    rec : Recorder
        Destination.
    rng : numpy.random.Generator
        Random source.
    """
    name = "opt_sparse_embedding"
    table0 = rng.standard_normal((10, 4)).astype(F32)
    idx_steps = [
        np.array([[1, 3, 3, 7]], np.int32),
        np.array([[0, 1, 1, 9]], np.int32),
        np.array([[2, 2, 2, 5]], np.int32),
    ]
    try:
        ms.set_context(mode=ms.GRAPH_MODE)

        class Net(nn.Cell):
            def __init__(self):
                super().__init__()
                self.emb = nn.EmbeddingLookup(10, 4, param_init=Tensor(table0), target="CPU", sparse=True)

            def construct(self, idx):
                return (self.emb(idx) ** 2).sum()

        net = Net()
        OPS_CALLED.update({"mindspore.nn.EmbeddingLookup(sparse=True)", "mindspore.nn.TrainOneStepCell"})
        opt = nn.ProximalAdagrad(net.trainable_params(), accum=0.1, learning_rate=0.05, l1=0.001, l2=0.002)
        opt.target = "CPU"
        train = nn.TrainOneStepCell(net, opt)
        arrays = {"init_0": table0, "accum0_0": host(opt.accum[0])}
        for s, idx in enumerate(idx_steps):
            train(Tensor(idx))
            arrays[f"indices_{s}"] = idx
            arrays[f"var_{s}_0"] = host(net.emb.embedding_table)
            arrays[f"accum_{s}_0"] = host(opt.accum[0])
        rec.add(
            name,
            {
                "kind": "optimizer_sparse_net",
                "mode": "GRAPH_MODE",
                "loss": "sum(embedding(idx)**2); grad rows = 2*table[idx] per occurrence",
                "accum": 0.1,
                "lr": 0.05,
                "l1": 0.001,
                "l2": 0.002,
                "error": None,
            },
            arrays,
        )
    except Exception as exc:  # record whatever stops the sparse path
        rec.cases.append(
            {
                "name": name,
                "kind": "optimizer_sparse_net",
                "file": None,
                "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
            }
        )
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Entry point.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments.

    Returns
    -------
    int
        Exit status.
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--threads", type=int, default=1, help="CPU kernel threads (1 = deterministic split)")
    ap.add_argument("--no-sparse-net", action="store_true", help="skip the graph-mode sparse net")
    args = ap.parse_args(argv)

    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_device("CPU")
    ms.device_context.cpu.op_tuning.threads_num(args.threads)
    rng = np.random.default_rng(args.seed)
    rec = Recorder(args.out)
    record_kernels(rec, rng)
    record_optimizers(rec, rng)
    if not args.no_sparse_net:
        record_sparse_net(rec, rng)
    provenance = {
        "mindspore_version": ms.__version__,
        "numpy_version": np.__version__,
        "python_version": sys.version,
        "platform": platform.platform(),
        "cpu": cpu_info(),
        "cpu_count": os.cpu_count(),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        "seed": args.seed,
        "device_target": "CPU",
        "execution_mode": "PYNATIVE_MODE (nn.ProximalAdagrad.construct is @jit(backend='ms_backend')); "
        "sparse net case in GRAPH_MODE",
        "cpu_kernel_threads": args.threads,
        "ops_called": sorted(OPS_CALLED),
        "script": "scripts/record_mindspore.py",
    }
    rec.finish(provenance)
    print(f"wrote {len(rec.cases)} cases to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
