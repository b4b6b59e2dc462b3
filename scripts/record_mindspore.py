"""Record MindSpore Proximal Adagrad reference data (kernels, optimizer trajectories, behaviour notes).

Two steps, two environments (MindSpore 2.x needs NumPy 1.x; the project uses NumPy 2)::

    /tmp/venv-ms/bin/python scripts/record_mindspore.py --out /tmp/ms_raw
    /tmp/venv-dev/bin/python scripts/record_mindspore.py --import-from /tmp/ms_raw \
        --dest conformance_vectors/recorded/mindspore

The first (needs MindSpore, CPU wheel) writes into ``--out``:

``kernels/``
    one ``.npz`` per kernel case with the arrays ``var``, ``accum``, ``grad``,
    ``indices`` (sparse), 0-d ``lr``, ``l1``, ``l2`` and MindSpore's outputs
    ``var_out``, ``accum_out``, plus ``provenance.json`` whose ``"cases"``
    describes each file: the layout ``import_npz_folder`` reads.
``trajectories/``
    ``nn.ProximalAdagrad`` runs, one record per case (see below).
``behaviour/``
    calls whose result documents a MindSpore behaviour that the project
    refuses on purpose (out-of-range sparse indices, which MindSpore drops
    silently); the same record form, never converted to vectors.
``provenance.json``, ``cases.json``
    versions, CPU model and flags, date, seed, execution mode, ops called;
    an index of every case.

The second step (needs only this project) turns ``kernels/`` into a vector
suite and copies the checksummed records and the provenance to ``--dest``.

Records (trajectories and behaviour notes)
------------------------------------------
A record folder holds ``manifest.json`` (``{"format":
"proxadagrad-recorded-records", "format_version": 1, "records": [{"name",
"file", "sha256"}]}``), and per record ``<name>.json`` (the configuration,
``"arrays": {key: {"dtype", "shape", "offset", "nbytes"}}`` and ``"payload":
{"file", "nbytes", "sha256"}``) plus ``<name>.bin`` (the arrays, raw
little-endian, each at an 8-byte aligned offset). JSON is canonical (sorted
keys, no spaces, no NaN literals). No pickle anywhere. ``recording.write_record``
writes them; ``proxadagrad_ref.vectors.recorded.read_records`` reads them back,
every checksum checked (the import step does, before copying).

Trajectory array keys (``P`` = parameter position in the optimizer's own
order, i.e. after ``order_params``; names are in ``param_order``):
``init_P``, ``accum0_P``, ``grad_S_P`` (raw gradient passed to the optimizer
at step ``S``), ``var_S_P`` and ``accum_S_P`` (values after step ``S``), and
``lr_S_P`` (float32 learning rate the schedule cell yields for step ``S``,
evaluated separately; for fixed rates the stored float32 value). The sparse
net case stores ``indices_S`` (its gradient rows are ``2 * table[idx]`` per
occurrence).

The CPU kernel thread count is fixed (``--threads``, default 1) because the
dense kernel's multithreaded split changes between calls while it auto-tunes
and that split decides which elements take the scalar tail path.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from recording import host_description, save_kernel_case, write_index, write_record, write_records_manifest

try:  # only the recording step needs MindSpore; --import-from runs without it
    import mindspore as ms
    from mindspore import Parameter, Tensor, nn, ops
except ImportError:  # pragma: no cover - depends on the environment
    ms = None
    Parameter = Tensor = nn = ops = None

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


def first_line(exc: BaseException) -> str:
    """The first two lines with words of an exception's message (at most 300 characters)."""
    lines = [line.strip(" -") for line in str(exc).splitlines() if any(c.isalpha() for c in line)]
    return " ".join(lines[:2])[:300]




class Recorder:
    """Collect cases and write them to the output folder's ``kernels/``, ``trajectories/``, ``behaviour/``.

    Parameters
    ----------
    out : pathlib.Path
        Output folder (created if missing).
    """

    SECTIONS = ("kernels", "trajectories", "behaviour")

    def __init__(self, out: Path) -> None:
        self.out = out
        for section in self.SECTIONS:
            (self.out / section).mkdir(parents=True, exist_ok=True)
        self.cases: list[dict] = []
        self.kernel_cases: dict[str, dict] = {}
        self.entries: dict[str, list[dict]] = {"trajectories": [], "behaviour": []}

    def add_kernel(self, name: str, config: dict, arrays: Mapping[str, Any]) -> None:
        """Save one kernel case as ``kernels/<name>.npz`` (the layout ``import_npz_folder`` reads).

        Parameters
        ----------
        name : str
            Case name, also the ``.npz`` file stem.
        config : dict
            JSON-serialisable description of the case.
        arrays : dict of numpy.ndarray
            ``var``, ``accum``, ``grad``, [``indices``], ``lr``, ``l1``, ``l2``,
            ``var_out``, ``accum_out``.
        """
        save_kernel_case(self.out / "kernels", name, arrays)
        self.kernel_cases[name] = config
        self.cases.append({"name": name, "file": f"kernels/{name}.npz", **config})

    def add_record(self, section: str, name: str, config: dict, arrays: Mapping[str, Any]) -> None:
        """Save one trajectory or behaviour note as a checksummed record.

        Parameters
        ----------
        section : {"trajectories", "behaviour"}
            Destination sub-folder.
        name : str
            Record name.
        config : dict
            JSON-serialisable description.
        arrays : dict of numpy.ndarray
            Arrays to store.
        """
        entry = write_record(self.out / section, name, config, arrays)
        self.entries[section].append(entry)
        self.cases.append({"name": name, "file": f"{section}/{entry['file']}", **config})

    def finish(self, provenance: dict) -> None:
        """Write the manifests, ``cases.json`` and the provenance files.

        Parameters
        ----------
        provenance : dict
            Provenance record.
        """
        for section, entries in self.entries.items():
            write_records_manifest(self.out / section, entries)
        write_index(self.out, provenance, self.cases, self.kernel_cases)


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
    [0, 10); ``special`` replaces 30 % of the entries by special values:
    ``var`` and ``grad`` draw from the whole pool (signed zeros, subnormals,
    infinities, NaN, huge values), the accumulator only from its
    non-negative part (0, -0.0, positive subnormals, +inf, huge): a negative
    or NaN accumulator is an input the project refuses or does not define.

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
        acc_pool = pool[~(np.isnan(pool) | (pool < 0))]
        for arr, choices in ((grad, pool), (var, pool), (acc, acc_pool)):
            mask = rng.random(n) < 0.3
            arr[mask] = rng.choice(choices, int(mask.sum()))
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
                    s = (dtype(lr), dtype(l1), dtype(l2))
                    var1, acc1 = run_dense(var0, acc0, *s, grad)
                    name = f"kernel_dense_{tag}_{'special' if special else 'random'}_h{h}_n{n}"
                    rec.add_kernel(
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
                            "var": var0,
                            "accum": acc0,
                            "grad": grad,
                            "lr": s[0],
                            "l1": s[1],
                            "l2": s[2],
                            "var_out": var1,
                            "accum_out": acc1,
                        },
                    )
    rows, cols = 64, 9
    sparse_kinds: list[tuple[str, Callable[[], np.ndarray], type]] = [
        ("unique_sorted", lambda: np.sort(rng.choice(rows, 20, replace=False)), np.int32),
        ("unique_unsorted", lambda: rng.choice(rows, 20, replace=False), np.int32),
        ("duplicates", lambda: rng.integers(0, 8, 120), np.int32),
        ("duplicates_int64", lambda: rng.integers(0, rows, 150), np.int64),
        (  # at least -1, rows and rows + 2 among them
            "out_of_range_dropped",
            lambda: rng.permutation(np.concatenate([rng.integers(-3, rows + 3, 57), [-1, rows, rows + 2]])),
            np.int32,
        ),
    ]
    for special in (False, True):
        for h, (lr, l1, l2) in enumerate(hypers):
            for kname, make, itype in sparse_kinds:
                idx: np.ndarray = make().astype(itype)
                var0, acc0, _ = random_dense(rng, rows * cols, F32, special)
                _, _, grad = random_dense(rng, idx.size * cols, F32, special)
                var0, acc0 = var0.reshape(rows, cols), acc0.reshape(rows, cols)
                grad = grad.reshape(idx.size, cols)
                s = (F32(lr), F32(l1), F32(l2))
                var1, acc1 = run_fused(var0, acc0, *s, grad, idx)
                name = f"kernel_fused_sparse_{kname}_{'special' if special else 'random'}_h{h}"
                config = {
                    "kind": "kernel_fused_sparse",
                    "op": "mindspore.ops.FusedSparseProximalAdagrad",
                    "dtype": "fp32",
                    "indices_dtype": np.dtype(itype).name,
                    "shape": [rows, cols],
                    "lr": float(s[0]),
                    "l1": float(s[1]),
                    "l2": float(s[2]),
                    "special_values": special,
                }
                arrays = {
                    "var": var0,
                    "accum": acc0,
                    "grad": grad,
                    "indices": idx,
                    "lr": s[0],
                    "l1": s[1],
                    "l2": s[2],
                    "var_out": var1,
                    "accum_out": acc1,
                }
                outside = (idx < 0) | (idx >= rows)
                if outside.any():  # the project refuses these indices: a behaviour note, not a vector
                    config.update(
                        kind="behaviour_out_of_range_indices",
                        behaviour="MindSpore skips every index outside [0, rows) without an error; "
                        "the other occurrences are applied as usual",
                        out_of_range_count=int(outside.sum()),
                    )
                    rec.add_record("behaviour", name, config, arrays)
                else:
                    rec.add_kernel(name, config, arrays)


# ---------------------------------------------------------------------------
# optimizer trajectories
# ---------------------------------------------------------------------------

PARAM_SPECS = [("w", (3, 5)), ("beta_b", (7,)), ("gamma_c", (4,)), ("v", (2, 3))]

SCHEDULES: dict[str, tuple[str, dict]] = {  # case tag -> (mindspore.nn class name, kwargs)
    "ExponentialDecayLR": (
        "ExponentialDecayLR",
        {"learning_rate": 0.1, "decay_rate": 0.9, "decay_steps": 2, "is_stair": False},
    ),
    "ExponentialDecayLR_stair": (
        "ExponentialDecayLR",
        {"learning_rate": 0.1, "decay_rate": 0.9, "decay_steps": 2, "is_stair": True},
    ),
    "NaturalExpDecayLR": (
        "NaturalExpDecayLR",
        {"learning_rate": 0.1, "decay_rate": 0.9, "decay_steps": 2, "is_stair": False},
    ),
    "NaturalExpDecayLR_stair": (
        "NaturalExpDecayLR",
        {"learning_rate": 0.1, "decay_rate": 0.9, "decay_steps": 2, "is_stair": True},
    ),
    "InverseDecayLR": (
        "InverseDecayLR",
        {"learning_rate": 0.1, "decay_rate": 0.9, "decay_steps": 2, "is_stair": False},
    ),
    "CosineDecayLR": ("CosineDecayLR", {"min_lr": 0.01, "max_lr": 0.1, "decay_steps": 4}),
    "PolynomialDecayLR": (
        "PolynomialDecayLR",
        {
            "learning_rate": 0.1,
            "end_learning_rate": 0.01,
            "decay_steps": 4,
            "power": 0.5,
            "update_decay_steps": False,
        },
    ),
    "PolynomialDecayLR_update": (
        "PolynomialDecayLR",
        {
            "learning_rate": 0.1,
            "end_learning_rate": 0.01,
            "decay_steps": 4,
            "power": 0.5,
            "update_decay_steps": True,
        },
    ),
    "WarmUpLR": ("WarmUpLR", {"learning_rate": 0.1, "warmup_steps": 3}),
}


# The examples of MindSpore's schedule docstrings (values checked by tests/optim/test_schedules.py).
DOC_SCHEDULES: dict[str, tuple[str, dict]] = {
    "doc_ExponentialDecayLR": (
        "ExponentialDecayLR",
        {"learning_rate": 0.1, "decay_rate": 0.9, "decay_steps": 4},
    ),
    "doc_NaturalExpDecayLR": (
        "NaturalExpDecayLR",
        {"learning_rate": 0.1, "decay_rate": 0.9, "decay_steps": 4, "is_stair": True},
    ),
    "doc_InverseDecayLR": (
        "InverseDecayLR",
        {"learning_rate": 0.1, "decay_rate": 0.9, "decay_steps": 4, "is_stair": True},
    ),
    "doc_CosineDecayLR": ("CosineDecayLR", {"min_lr": 0.01, "max_lr": 0.1, "decay_steps": 4}),
    "doc_PolynomialDecayLR": (
        "PolynomialDecayLR",
        {"learning_rate": 0.1, "end_learning_rate": 0.01, "decay_steps": 4, "power": 0.5},
    ),
    "doc_WarmUpLR": ("WarmUpLR", {"learning_rate": 0.1, "warmup_steps": 2}),
}


def schedule(tag: str, table: dict[str, tuple[str, dict]] = SCHEDULES):
    """Build the MindSpore schedule cell of `tag`."""
    cls, kw = table[tag]
    return getattr(nn, cls)(**kw)


def step_weight_decay():
    """A Cell giving the dynamic weight decay ``0.01 * float32(step) + 0.001`` (float32)."""

    class StepWeightDecay(nn.Cell):
        def construct(self, global_step):
            return ops.cast(global_step, ms.float32).reshape(()) * 0.01 + 0.001

    return StepWeightDecay()


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
    out = schedule(spec[0])(Tensor(np.array([step], np.int32)))
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
        return schedule(spec[0])
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
    return {"type": "schedule", "class": SCHEDULES[spec[0]][0], "kwargs": SCHEDULES[spec[0]][1]}


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
    specs = cfg.get("param_specs", PARAM_SPECS)
    params = {n: Parameter(Tensor(rng.standard_normal(s).astype(dtype)), name=n) for n, s in specs}
    wd = cfg.get("weight_decay", 0.0)
    wd_obj = step_weight_decay() if wd == "StepWeightDecay" else wd
    if "groups" in cfg:
        groups = []
        for g in cfg["groups"]:
            d = {"params": [params[n] for n in g["params"]]}
            if "lr" in g:
                d["lr"] = build_lr(g["lr"])
            if "weight_decay" in g:
                d["weight_decay"] = g["weight_decay"]
            if "grad_centralization" in g:
                d["grad_centralization"] = g["grad_centralization"]
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
        except (RuntimeError, ValueError, IndexError, TypeError) as exc:  # past-the-end rates; no kernel
            error = f"{type(exc).__name__}: {first_line(exc)}"
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
        "param_shapes": {n: list(s) for n, s in specs},
        "accum": cfg["accum"],
        "l1": cfg["l1"],
        "l2": cfg["l2"],
        "loss_scale": cfg["loss_scale"],
        "learning_rate": spec_json(cfg["lr"]),
        "weight_decay": wd if not isinstance(wd, str) else {"cell": wd, "formula": "0.01*f32(step)+0.001"},
        "groups": [{**g, **({"lr": spec_json(g["lr"])} if "lr" in g else {})} for g in cfg.get("groups", [])],
        "order_params": cfg.get("order"),
        "steps_requested": steps,
        "steps_done": done,
        "error": error,
    }
    rec.add_record("trajectories", name, config, arrays)


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
        "opt_groups_centralization": {
            "param_specs": [("conv", (2, 16, 3)), ("fc", (4, 16)), ("bias", (5,))],
            "groups": [
                {"params": ["conv", "fc"], "grad_centralization": True, "weight_decay": 0.01},
                {"params": ["bias"]},
            ],
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
        rec.add_record(
            "trajectories",
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
        error = f"{type(exc).__name__}: {first_line(exc)}"
        rec.add_record("behaviour", name, {"kind": "optimizer_sparse_net", "error": error}, {})
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)


def record_schedules(rec: Recorder, steps: int = 12) -> None:
    """Record each schedule cell's float32 value for steps ``0 .. steps-1`` (one record).

    Covers the trajectory cases' schedules and the examples of MindSpore's
    docstrings; array ``<tag>`` holds the values, key ``schedules`` the
    class and arguments of each tag.

    Parameters
    ----------
    rec : Recorder
        Destination.
    steps : int, optional
        Number of steps evaluated.
    """
    table = {**SCHEDULES, **DOC_SCHEDULES}
    arrays = {}
    for tag in table:
        cell = schedule(tag, table)
        arrays[tag] = np.array(
            [host(cell(Tensor(np.array([t], np.int32)))).reshape(()) for t in range(steps)], F32
        )
    config = {
        "kind": "schedule_values",
        "steps": steps,
        "schedules": {tag: {"class": cls, "kwargs": kw} for tag, (cls, kw) in table.items()},
    }
    rec.add_record("trajectories", "schedule_values", config, arrays)


def import_recording(src: Path, dest: Path) -> dict:
    """Turn a recording folder into the committed layout (needs this project, not MindSpore).

    ``src/kernels`` becomes a conformance-vector suite ``dest/kernels``
    (``import_npz_folder``); ``trajectories/``, ``behaviour/`` (their
    manifests and records checked first) and ``provenance.json`` are copied.

    Parameters
    ----------
    src : pathlib.Path
        Output folder of a recording run.
    dest : pathlib.Path
        Destination, replaced section by section.

    Returns
    -------
    dict
        Counts per section.
    """
    from proxadagrad_ref.vectors.recorded import import_npz_folder, read_records

    dest.mkdir(parents=True, exist_ok=True)
    summary = {"kernels": import_npz_folder(src / "kernels", dest / "kernels", "mindspore")["cases"]}
    for section in ("trajectories", "behaviour"):
        records = read_records(src / section)  # every checksum and array reference checked first
        if (dest / section).exists():
            shutil.rmtree(dest / section)
        shutil.copytree(src / section, dest / section)
        summary[section] = len(records)
    shutil.copy2(src / "provenance.json", dest / "provenance.json")
    return summary


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
    ap.add_argument("--out", type=Path, help="output folder of a recording run (needs MindSpore)")
    ap.add_argument("--import-from", type=Path, help="recording folder to convert (needs no MindSpore)")
    ap.add_argument("--dest", type=Path, default=Path("conformance_vectors/recorded/mindspore"))
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--threads", type=int, default=1, help="CPU kernel threads (1 = deterministic split)")
    ap.add_argument("--no-sparse-net", action="store_true", help="skip the graph-mode sparse net")
    args = ap.parse_args(argv)
    if args.import_from is not None:
        print(json.dumps(import_recording(args.import_from, args.dest)))
        return 0
    if args.out is None or ms is None:
        ap.error("recording needs --out and an environment with MindSpore")

    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_device("CPU")
    ms.device_context.cpu.op_tuning.threads_num(args.threads)
    rng = np.random.default_rng(args.seed)
    rec = Recorder(args.out)
    record_kernels(rec, rng)
    record_optimizers(rec, rng)
    record_schedules(rec)
    if not args.no_sparse_net:
        record_sparse_net(rec, rng)
    provenance = {
        "mindspore_version": ms.__version__,
        **host_description(),
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
