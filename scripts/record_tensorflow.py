"""Record TensorFlow Proximal Adagrad kernel outputs as reference data.

Run inside a virtual environment that has TensorFlow (CPU wheel) installed::

    python scripts/record_tensorflow.py --seed 0 --out recorded/tensorflow

Every case is one call of a TensorFlow raw op on fixed, seeded inputs:

* ``ResourceApplyProximalAdagrad`` for dense cases (float32 and float64);
* ``ResourceSparseApplyProximalAdagrad`` for sparse cases (unique sorted,
  unique unsorted and repeated indices; one-column and multi-column rows).

Each case is written as ``<name>.npz`` holding plain numeric arrays only:
``var``, ``accum``, ``grad``, ``indices`` (sparse cases), ``lr``, ``l1``,
``l2`` (0-d arrays of the variable dtype) and the op results ``var_out`` and
``accum_out``.  ``cases.json`` describes each case and ``provenance.json``
records the software versions, the CPU, the date, the seed and the ops called.
``rsqrt_probe.npz`` stores ``tf.math.rsqrt`` on a fixed float32 probe vector
(``x``, ``y``); its result depends on the CPU's ``rsqrtps`` approximation, so
it identifies which hardware table the float32 kernels used.

Notes
-----
TensorFlow runs its CPU kernels with flush-to-zero and denormals-are-zero
enabled, and its float32 ``rsqrt`` packet path uses the approximate
``rsqrtps`` instruction refined by one Newton step, so the float32 outputs
depend on the CPU vendor.  Results are copied into fresh NumPy arrays before
the next op runs, because a resource variable's buffer is updated in place.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf

DENSE_OP = "ResourceApplyProximalAdagrad"
SPARSE_OP = "ResourceSparseApplyProximalAdagrad"

# (label, lr, l1, l2): l1/l2 zero, one of them, both; learning rates tiny..large.
HYPER_PARAMETERS: list[tuple[str, float, float, float]] = [
    ("lr1e-6_l1_0_l2_0", 1e-6, 0.0, 0.0),
    ("lr1e-2_l1_0_l2_0", 1e-2, 0.0, 0.0),
    ("lr1e-1_l1_1e-2_l2_0", 0.1, 1e-2, 0.0),
    ("lr1e-1_l1_0_l2_1e-2", 0.1, 0.0, 1e-2),
    ("lr1e-1_l1_1e-2_l2_1e-2", 0.1, 1e-2, 1e-2),
    ("lr1_l1_5e-1_l2_5e-1", 1.0, 0.5, 0.5),
    ("lr10_l1_1e-1_l2_0", 10.0, 0.1, 0.0),
    ("lr1e-3_l1_1e-8_l2_1e-8", 1e-3, 1e-8, 1e-8),
]


def host(value: tf.Variable | tf.Tensor) -> np.ndarray:
    """Copy a TensorFlow variable or tensor into an independent NumPy array.

    Parameters
    ----------
    value : tf.Variable or tf.Tensor
        Value to copy.

    Returns
    -------
    numpy.ndarray
        Fresh array that later in-place updates of ``value`` cannot change.
    """
    return np.array(value.numpy(), copy=True)


def cpu_info() -> dict[str, str]:
    """Read the CPU identification from ``/proc/cpuinfo``.

    Returns
    -------
    dict of str
        ``vendor_id``, ``cpu_family``, ``model``, ``model_name``, ``stepping``,
        ``microcode`` and ``flags`` of the first CPU (empty strings when a
        field or the file is unavailable).
    """
    keys = {
        "vendor_id": "vendor_id",
        "cpu family": "cpu_family",
        "model": "model",
        "model name": "model_name",
        "stepping": "stepping",
        "microcode": "microcode",
        "flags": "flags",
    }
    info = dict.fromkeys(keys.values(), "")
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    break
                name, _, value = line.partition(":")
                name = name.strip()
                if name in keys:
                    info[keys[name]] = value.strip()
    except OSError:
        pass
    return info


def mixed_values(rng: np.random.Generator, n: int, dtype: type, low: float, high: float) -> np.ndarray:
    """Draw signed values whose magnitudes span ``10**low`` to ``10**high``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n : int
        Number of values.
    dtype : type
        NumPy floating dtype of the result.
    low, high : float
        Decimal exponent range of the magnitudes.

    Returns
    -------
    numpy.ndarray
        Array of shape ``(n,)``; about 5 % of the entries are exactly zero.
    """
    values = rng.standard_normal(n) * 10.0 ** rng.uniform(low, high, n)
    values[rng.random(n) < 0.05] = 0.0
    return values.astype(dtype)


def random_state(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> dict[str, np.ndarray]:
    """Build a random ``var`` / ``accum`` pair of the given shape.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    shape : tuple of int
        Shape of both arrays.
    dtype : type
        NumPy floating dtype.

    Returns
    -------
    dict of numpy.ndarray
        ``var`` (magnitudes 1e-6..1e3) and ``accum`` (0..10 times a power of
        ten in 1e-3..10, with about 10 % exact zeros).
    """
    n = int(np.prod(shape))
    var = mixed_values(rng, n, dtype, -6.0, 3.0)
    accum = rng.uniform(0.0, 10.0, n) * 10.0 ** rng.integers(-3, 2, n)
    accum[rng.random(n) < 0.1] = 0.0
    return {"var": var.reshape(shape), "accum": accum.astype(dtype).reshape(shape)}


def special_grid(dtype: type) -> dict[str, np.ndarray]:
    """Cross every special value of ``var`` and ``grad`` with special ``accum`` values.

    Parameters
    ----------
    dtype : type
        NumPy floating dtype.

    Returns
    -------
    dict of numpy.ndarray
        Flat ``var``, ``accum`` and ``grad`` covering zeros of both signs,
        subnormals, the smallest normal, ordinary values, the largest finite
        value, infinities and NaN.
    """
    info = np.finfo(dtype)
    finite = [0.0, -0.0, info.tiny / 4, -info.tiny / 4, info.tiny, 1.0, -1.0, 1e-3, 3.0, info.max, -info.max]
    values = np.array([*finite, np.inf, -np.inf, np.nan], dtype=dtype)
    accums = np.array([0.0, -0.0, info.tiny / 4, 1e-30, 1.0, 4.0, info.max, np.inf, np.nan], dtype=dtype)
    var, accum, grad = np.meshgrid(values, accums, values, indexing="ij")
    return {"var": var.ravel().copy(), "accum": accum.ravel().copy(), "grad": grad.ravel().copy()}


def run_dense(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Apply ``ResourceApplyProximalAdagrad`` once and return its results.

    Parameters
    ----------
    inputs : dict of numpy.ndarray
        ``var``, ``accum``, ``grad``, ``lr``, ``l1`` and ``l2``.

    Returns
    -------
    dict of numpy.ndarray
        ``var_out`` and ``accum_out``.
    """
    var = tf.Variable(inputs["var"])
    accum = tf.Variable(inputs["accum"])
    tf.raw_ops.ResourceApplyProximalAdagrad(
        var=var.handle,
        accum=accum.handle,
        lr=inputs["lr"],
        l1=inputs["l1"],
        l2=inputs["l2"],
        grad=inputs["grad"],
    )
    return {"var_out": host(var), "accum_out": host(accum)}


def run_sparse(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Apply ``ResourceSparseApplyProximalAdagrad`` once and return its results.

    Parameters
    ----------
    inputs : dict of numpy.ndarray
        ``var``, ``accum``, ``grad`` (one row per index), ``indices``, ``lr``,
        ``l1`` and ``l2``.

    Returns
    -------
    dict of numpy.ndarray
        ``var_out`` and ``accum_out`` (the whole tables).
    """
    var = tf.Variable(inputs["var"])
    accum = tf.Variable(inputs["accum"])
    tf.raw_ops.ResourceSparseApplyProximalAdagrad(
        var=var.handle,
        accum=accum.handle,
        lr=inputs["lr"],
        l1=inputs["l1"],
        l2=inputs["l2"],
        grad=inputs["grad"],
        indices=inputs["indices"],
    )
    return {"var_out": host(var), "accum_out": host(accum)}


def scalars(dtype: type, lr: float, l1: float, l2: float) -> dict[str, np.ndarray]:
    """Return the hyper-parameters as 0-d arrays of the variable dtype.

    Parameters
    ----------
    dtype : type
        NumPy floating dtype of the variable.
    lr, l1, l2 : float
        Learning rate and regularization strengths.

    Returns
    -------
    dict of numpy.ndarray
        ``lr``, ``l1`` and ``l2``.
    """
    return {"lr": np.array(lr, dtype=dtype), "l1": np.array(l1, dtype=dtype), "l2": np.array(l2, dtype=dtype)}


def sparse_indices(rng: np.random.Generator, kind: str, rows: int, count: int, itype: type) -> np.ndarray:
    """Draw row indices of one of the recorded kinds.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    kind : {"unique_sorted", "unique_unsorted", "duplicates"}
        ``duplicates`` draws ``count`` indices from the first tenth of the
        table, so most rows repeat, in no particular order.
    rows : int
        Number of rows of the table.
    count : int
        Number of indices.
    itype : type
        ``numpy.int32`` or ``numpy.int64``.

    Returns
    -------
    numpy.ndarray
        One-dimensional index array.
    """
    if kind == "unique_sorted":
        idx = np.sort(rng.choice(rows, count, replace=False))
    elif kind == "unique_unsorted":
        idx = rng.choice(rows, count, replace=False)
    elif kind == "duplicates":
        idx = rng.integers(0, max(rows // 10, 1), count)
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    return idx.astype(itype)


def build_cases(seed: int) -> list[tuple[str, str, dict[str, np.ndarray], dict[str, object]]]:
    """Generate every case's inputs deterministically from ``seed``.

    Parameters
    ----------
    seed : int
        Seed of the NumPy generator.

    Returns
    -------
    list of tuple
        ``(name, op, inputs, description)`` per case.
    """
    rng = np.random.default_rng(seed)
    cases: list[tuple[str, str, dict[str, np.ndarray], dict[str, object]]] = []
    for dtype in (np.float32, np.float64):
        dname = np.dtype(dtype).name
        # Dense, random: an odd size leaves a scalar tail after the packets.
        for label, lr, l1, l2 in HYPER_PARAMETERS:
            n = 2051 if dtype is np.float32 else 2049
            inputs = random_state(rng, (n,), dtype)
            inputs["grad"] = mixed_values(rng, n, dtype, -20.0, 10.0)
            inputs.update(scalars(dtype, lr, l1, l2))
            cases.append((f"dense_{dname}_{label}", DENSE_OP, inputs, {"kind": "dense random", "n": n}))
        # Dense, larger array (multi-threaded split), one setting per dtype.
        n = 32768 + 3
        inputs = random_state(rng, (n,), dtype)
        inputs["grad"] = mixed_values(rng, n, dtype, -8.0, 4.0)
        inputs.update(scalars(dtype, 0.05, 1e-3, 1e-3))
        cases.append((f"dense_{dname}_large", DENSE_OP, inputs, {"kind": "dense random", "n": n}))
        # Dense, special values.
        for label, lr, l1, l2 in (HYPER_PARAMETERS[1], HYPER_PARAMETERS[4], HYPER_PARAMETERS[5]):
            inputs = special_grid(dtype)
            inputs.update(scalars(dtype, lr, l1, l2))
            cases.append(
                (f"dense_special_{dname}_{label}", DENSE_OP, inputs, {"kind": "dense special values"})
            )
        # Sparse, random tables.
        for inner, rows, count in ((1, 2000, 800), (13, 300, 100), (64, 150, 60)):
            for kind in ("unique_sorted", "unique_unsorted", "duplicates"):
                for label, lr, l1, l2 in HYPER_PARAMETERS[1::2]:
                    itype = np.int32 if kind != "unique_unsorted" else np.int64
                    shape = (rows, inner)
                    inputs = random_state(rng, shape, dtype)
                    inputs["grad"] = mixed_values(rng, count * inner, dtype, -8.0, 4.0).reshape(count, inner)
                    inputs["indices"] = sparse_indices(rng, kind, rows, count, itype)
                    inputs.update(scalars(dtype, lr, l1, l2))
                    desc = {"kind": f"sparse {kind}", "inner_dim": inner, "index_dtype": np.dtype(itype).name}
                    cases.append((f"sparse_{dname}_inner{inner}_{kind}_{label}", SPARSE_OP, inputs, desc))
        # Sparse, one-dimensional variable (inner_dim == 1 with a rank-1 table).
        inputs = random_state(rng, (3000,), dtype)
        inputs["grad"] = mixed_values(rng, 2000, dtype, -8.0, 4.0)
        inputs["indices"] = sparse_indices(rng, "duplicates", 3000, 2000, np.int64)
        inputs.update(scalars(dtype, 0.1, 1e-2, 1e-2))
        cases.append((f"sparse_{dname}_rank1_duplicates", SPARSE_OP, inputs, {"kind": "sparse rank-1 table"}))
        # Sparse, special values (rows visited in reverse order).
        for inner in (1, 13):
            grid = special_grid(dtype)
            n = grid["var"].size // inner * inner
            inputs = {key: value[:n].reshape(-1, inner) for key, value in grid.items()}
            inputs["indices"] = np.arange(n // inner)[::-1].astype(np.int64)
            inputs.update(scalars(dtype, 0.1, 1e-2, 1e-2))
            desc = {"kind": "sparse special values", "inner_dim": inner}
            cases.append((f"sparse_special_{dname}_inner{inner}", SPARSE_OP, inputs, desc))
    return cases


def rsqrt_probe() -> dict[str, np.ndarray]:
    """Evaluate ``tf.math.rsqrt`` on one float32 input per ``rsqrtps`` table entry.

    Returns
    -------
    dict of numpy.ndarray
        ``x`` (8192 values in [1, 4): mantissa top 12 bits 0..4095 for both
        exponent parities) and ``y`` (``tf.math.rsqrt(x)``, packet path).
    """
    top = np.arange(4096, dtype=np.uint32) << np.uint32(11)
    bits = np.concatenate([np.uint32(127 << 23) | top, np.uint32(128 << 23) | top])
    x = bits.view(np.float32)
    return {"x": x, "y": host(tf.math.rsqrt(tf.constant(x)))}


def main(argv: list[str] | None = None) -> int:
    """Record all cases into the output folder.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (defaults to ``sys.argv[1:]``).

    Returns
    -------
    int
        Process exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the input generator")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    runners = {DENSE_OP: run_dense, SPARSE_OP: run_sparse}
    catalogue = []
    total = 0
    for name, op, inputs, desc in build_cases(args.seed):
        outputs = runners[op](inputs)
        np.savez(args.out / f"{name}.npz", **inputs, **outputs)
        total += int(inputs["var"].size)
        catalogue.append({"name": name, "op": op, "dtype": inputs["var"].dtype.name, **desc})
    np.savez(args.out / "rsqrt_probe.npz", **rsqrt_probe())

    with open(args.out / "cases.json", "w", encoding="utf-8") as handle:
        json.dump(catalogue, handle, indent=1)
    provenance = {
        "tool": "scripts/record_tensorflow.py",
        "seed": args.seed,
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "tensorflow_version": tf.__version__,
        "tensorflow_git_version": getattr(tf.version, "GIT_VERSION", ""),
        "tensorflow_compiler_version": getattr(tf.version, "COMPILER_VERSION", ""),
        "numpy_version": np.__version__,
        "python_version": sys.version,
        "platform": platform.platform(),
        "cpu": cpu_info(),
        "ops_called": sorted({case["op"] for case in catalogue} | {"Rsqrt"}),
        "execution": "eager, tf.raw_ops on resource variables, default thread pools",
        "cases": len(catalogue),
        "table_elements": total,
    }
    with open(args.out / "provenance.json", "w", encoding="utf-8") as handle:
        json.dump(provenance, handle, indent=1)
    print(f"wrote {len(catalogue)} cases ({total} table elements) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
