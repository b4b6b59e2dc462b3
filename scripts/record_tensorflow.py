"""Record TensorFlow Proximal Adagrad kernel outputs as reference data.

Two steps, two environments (the recording needs TensorFlow, the import only
this project)::

    /tmp/venv-tf/bin/python scripts/record_tensorflow.py --out /tmp/tf_raw
    /tmp/venv-dev/bin/python scripts/record_tensorflow.py --import-from /tmp/tf_raw \
        --dest conformance_vectors/recorded/tensorflow

``--size small`` (the default, about 2.5 MB once imported) is what the
repository commits; ``--size full`` records the same kinds of case on larger
arrays and more hyper-parameter combinations (about 21 MB, 179 cases; all verify).

Every case is one call of a TensorFlow raw op on fixed, seeded inputs:

* ``ResourceApplyProximalAdagrad`` for dense cases (float32 and float64), on
  sizes that leave every possible scalar tail after the packets (8 float32 /
  4 float64 lanes), on a grid of special values, and on every hyper-parameter
  combination of :data:`HYPER_PARAMETERS`;
* ``ResourceSparseApplyProximalAdagrad`` for sparse cases: rows of 1, 3, 8, 13
  and 64 elements (``inner_dim == 1`` takes TensorFlow's plain C++ loop, wider
  rows its Eigen packet path), unique sorted, unique unsorted and repeated
  indices, a rank-1 table and special values.

The recording run writes into ``--out``:

``kernels/``
    one ``<name>.npz`` per case holding plain numeric arrays only: ``var``,
    ``accum``, ``grad``, ``indices`` (sparse cases), ``lr``, ``l1``, ``l2``
    (0-d arrays of the variable dtype) and the op results ``var_out`` and
    ``accum_out``; plus ``provenance.json`` whose ``"cases"`` describes each
    file (the layout ``proxadagrad_ref.vectors.recorded.import_npz_folder``
    reads).
``rsqrt_probe.npz``
    ``tf.math.rsqrt`` on one float32 input per ``vrsqrtps`` table entry
    (``x``, ``y``); its result depends on the CPU's approximation, so it tells
    which hardware table the float32 kernels used (``provenance.json`` holds
    the verdict, see :func:`probe_verdict`).
``provenance.json``, ``cases.json``
    software versions, CPU model and flags, date, seed, size, ops called; an
    index of every case.

The import step turns ``kernels/`` into a conformance-vector suite at
``--dest`` (profile ``tensorflow``, duplicates ``sequential``, compliance
``EXACT``) and copies ``provenance.json``, ``cases.json`` and
``rsqrt_probe.npz`` beside it.

Notes
-----
TensorFlow runs its CPU kernels with flush-to-zero and denormals-are-zero
enabled, and its float32 ``rsqrt`` packet path uses the approximate
``vrsqrtps`` instruction refined by one Newton step, so the float32 outputs
depend on the CPU vendor.  Results are copied into fresh NumPy arrays before
the next op runs, because a resource variable's buffer is updated in place.
Accumulators are never negative (the engine refuses negative accumulators);
``var`` and ``grad`` take every special value.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from recording import host_description, save_kernel_case, write_index

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
try:  # only the recording step needs TensorFlow; --import-from runs without it
    import tensorflow as tf
except ImportError:  # pragma: no cover - depends on the environment
    tf = None

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


def host(value: Any) -> np.ndarray:
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
    values: np.ndarray = np.array([*finite, np.inf, -np.inf, np.nan], dtype=dtype)
    accums: np.ndarray = np.array(
        [0.0, -0.0, info.tiny / 4, 1e-30, 1.0, 4.0, info.max, np.inf, np.nan], dtype=dtype
    )
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
        ``duplicates`` draws ``count`` indices from the first quarter of the
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
        idx = rng.integers(0, max(rows // 4, 2), count)
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    return idx.astype(itype)


@dataclass(frozen=True)
class Sizes:
    """How much one recording covers.

    Attributes
    ----------
    dense_sizes : tuple of int
        Dense array lengths recorded once each (hyper-parameters rotate through
        :data:`HYPER_PARAMETERS`); together they leave every scalar tail length.
    dense_hyper_n : int
        Dense length recorded once per hyper-parameter combination.
    dense_large : int
        Length of one larger dense float32 case (large enough for the thread
        pool to split it), 0 for none.
    sparse_tables : tuple of (int, int, int)
        ``(inner_dim, rows, count)`` per sparse table shape.
    sparse_hypers : int
        Hyper-parameter combinations recorded per sparse shape and index kind
        (1, 2 or 4: distinct settings out of four).
    rank1 : tuple of (int, int)
        ``(rows, count)`` of the rank-1 sparse table with repeated indices.
    """

    dense_sizes: tuple[int, ...]
    dense_hyper_n: int
    dense_large: int
    sparse_tables: tuple[tuple[int, int, int], ...]
    sparse_hypers: int
    rank1: tuple[int, int]


SIZES = {
    "small": Sizes(
        dense_sizes=(1, 7, 8, 13, 1000, 4099, 2, 3, 4, 5, 6, 12, 17, 259),
        dense_hyper_n=515,
        dense_large=8195,
        sparse_tables=((1, 300, 120), (3, 100, 40), (8, 60, 24), (13, 40, 16), (64, 12, 6)),
        sparse_hypers=2,
        rank1=(500, 300),
    ),
    "full": Sizes(
        dense_sizes=(1, 7, 8, 13, 1000, 4099, 2, 3, 4, 5, 6, 12, 17, 259, 65539),
        dense_hyper_n=2051,
        dense_large=32771,
        sparse_tables=((1, 2000, 800), (3, 600, 240), (8, 400, 160), (13, 300, 100), (64, 150, 60)),
        sparse_hypers=4,
        rank1=(3000, 2000),
    ),
}
"""Size presets: ``small`` is committed; ``full`` is the broader local run."""

INDEX_KINDS = ("unique_sorted", "unique_unsorted", "duplicates")


def build_cases(seed: int, sizes: Sizes) -> list[tuple[str, str, dict[str, np.ndarray], dict[str, object]]]:
    """Generate every case's inputs deterministically from ``seed``.

    Parameters
    ----------
    seed : int
        Seed of the NumPy generator.
    sizes : Sizes
        Array sizes and how many combinations to record.

    Returns
    -------
    list of tuple
        ``(name, op, inputs, description)`` per case.
    """
    rng = np.random.default_rng(seed)
    cases: list[tuple[str, str, dict[str, np.ndarray], dict[str, object]]] = []
    sparse_hypers = HYPER_PARAMETERS[1::2]
    for dtype in (np.float32, np.float64):
        dname = np.dtype(dtype).name
        # Dense, random, every hyper-parameter combination (515 = 64*8 + 3 = 128*4 + 3: a tail of 3).
        for label, lr, l1, l2 in HYPER_PARAMETERS:
            n = sizes.dense_hyper_n
            inputs = random_state(rng, (n,), dtype)
            inputs["grad"] = mixed_values(rng, n, dtype, -20.0, 10.0)
            inputs.update(scalars(dtype, lr, l1, l2))
            cases.append((f"dense_{dname}_{label}", DENSE_OP, inputs, {"kind": "dense random", "n": n}))
        # Dense, random, sizes around the packet width: every tail length n % 8 and n % 4.
        for k, n in enumerate(sizes.dense_sizes):
            label, lr, l1, l2 = HYPER_PARAMETERS[k % len(HYPER_PARAMETERS)]
            inputs = random_state(rng, (n,), dtype)
            inputs["grad"] = mixed_values(rng, n, dtype, -8.0, 4.0)
            inputs.update(scalars(dtype, lr, l1, l2))
            desc = {"kind": "dense size", "n": n, "hyper": label}
            cases.append((f"dense_{dname}_n{n}", DENSE_OP, inputs, desc))
        # Dense, larger float32 array (the thread pool splits it into packet-aligned blocks).
        if sizes.dense_large and dtype is np.float32:
            n = sizes.dense_large
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
        # Sparse, random tables: each shape and index kind with `sparse_hypers` rotating settings.
        combo = 0
        for inner, rows, count in sizes.sparse_tables:
            for kind in INDEX_KINDS:
                for j in range(sizes.sparse_hypers):
                    spread = len(sparse_hypers) // sizes.sparse_hypers  # distinct settings per shape and kind
                    label, lr, l1, l2 = sparse_hypers[(combo + j * spread) % len(sparse_hypers)]
                    itype = np.int32 if kind != "unique_unsorted" else np.int64
                    shape = (rows, inner)
                    inputs = random_state(rng, shape, dtype)
                    inputs["grad"] = mixed_values(rng, count * inner, dtype, -8.0, 4.0).reshape(count, inner)
                    inputs["indices"] = sparse_indices(rng, kind, rows, count, itype)
                    inputs.update(scalars(dtype, lr, l1, l2))
                    desc = {"kind": f"sparse {kind}", "inner_dim": inner, "index_dtype": np.dtype(itype).name}
                    cases.append((f"sparse_{dname}_inner{inner}_{kind}_{label}", SPARSE_OP, inputs, desc))
                combo += 1
        # Sparse, one-dimensional variable (inner_dim == 1 with a rank-1 table).
        rows, count = sizes.rank1
        inputs = random_state(rng, (rows,), dtype)
        inputs["grad"] = mixed_values(rng, count, dtype, -8.0, 4.0)
        inputs["indices"] = sparse_indices(rng, "duplicates", rows, count, np.int64)
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
    if len({name for name, _, _, _ in cases}) != len(cases):
        raise AssertionError("two cases share a name (one file would overwrite the other)")
    for _, _, inputs, _ in cases:
        if (inputs["accum"] < 0).any():  # the engine refuses negative accumulators: never record them
            raise AssertionError("a generated accumulator is negative")
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


def probe_verdict(probe: dict[str, np.ndarray]) -> dict[str, object]:
    """Say which ``vrsqrtps`` table produced a recorded ``tf.math.rsqrt`` probe.

    The AMD Zen 3 table shipped with the engine
    (``proxadagrad_ref/data/rsqrtps_amd_zen3.npy``), refined by Eigen's Newton
    step in float32 (each operation rounded on its own, no FMA), is compared
    with the probe element by element.

    Parameters
    ----------
    probe : dict of numpy.ndarray
        ``x`` and ``y`` from :func:`rsqrt_probe`.

    Returns
    -------
    dict
        ``rsqrt_1_bits`` (TensorFlow's ``rsqrt(1.0)``, hex: after the Newton
        step), ``amd_zen3_estimate_1_bits`` (the AMD table's raw estimate for
        1.0, before the step), ``matches_amd_zen3_table`` (count of
        the 8192 probe values reproduced) and ``vendor_table`` (``"amd-zen3"``
        when all match, ``"other (Intel?)"`` otherwise).
    """
    f32 = np.float32
    table = np.load(Path(__file__).resolve().parents[1] / "proxadagrad_ref" / "data" / "rsqrtps_amd_zen3.npy")
    y0 = table.reshape(-1).astype(np.uint32).view(f32)  # the probe's x are exactly the table's inputs
    x = probe["x"].astype(f32)
    y1 = (y0 * f32(-0.5)) * ((x * y0) * y0 - f32(1.0)) + y0
    same = int((y1.view(np.uint32) == probe["y"].view(np.uint32)).sum())
    one = int(np.flatnonzero(x == f32(1.0))[0])
    return {
        "rsqrt_1_bits": f"0x{int(probe['y'].view(np.uint32)[one]):08X}",
        "amd_zen3_estimate_1_bits": f"0x{int(table.reshape(-1)[one]):08X}",
        "matches_amd_zen3_table": f"{same}/{x.size}",
        "vendor_table": "amd-zen3" if same == x.size else "other (Intel?)",
    }


def import_recording(src: Path, dest: Path) -> dict[str, object]:
    """Turn a recording folder into the committed layout (needs this project, not TensorFlow).

    ``src/kernels`` becomes a conformance-vector suite at ``dest`` (profile
    ``tensorflow``, duplicates ``sequential``, compliance ``EXACT``);
    ``provenance.json``, ``cases.json`` and ``rsqrt_probe.npz`` are copied
    beside it.

    Parameters
    ----------
    src : pathlib.Path
        Output folder of a recording run.
    dest : pathlib.Path
        Destination folder, replaced as a whole.

    Returns
    -------
    dict
        ``import_npz_folder``'s summary.
    """
    from proxadagrad_ref.vectors.recorded import import_npz_folder

    summary = import_npz_folder(src / "kernels", dest, "tensorflow")
    for name in ("provenance.json", "cases.json", "rsqrt_probe.npz"):
        shutil.copy2(src / name, dest / name)
    return summary


def main(argv: list[str] | None = None) -> int:
    """Record all cases into the output folder, or import a recording.

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
    parser.add_argument("--size", choices=sorted(SIZES), default="small", help="size preset (default small)")
    parser.add_argument("--out", type=Path, help="output folder of a recording run (needs TensorFlow)")
    parser.add_argument("--import-from", type=Path, help="recording folder to convert (needs no TensorFlow)")
    parser.add_argument("--dest", type=Path, default=Path("conformance_vectors/recorded/tensorflow"))
    args = parser.parse_args(argv)
    if args.import_from is not None:
        print(json.dumps(import_recording(args.import_from, args.dest)))
        return 0
    if args.out is None or tf is None:
        parser.error("recording needs --out and an environment with TensorFlow")
    kernels = args.out / "kernels"
    kernels.mkdir(parents=True, exist_ok=True)

    runners = {DENSE_OP: run_dense, SPARSE_OP: run_sparse}
    catalogue: list[dict[str, Any]] = []
    total = 0
    for name, op, inputs, desc in build_cases(args.seed, SIZES[args.size]):
        save_kernel_case(kernels, name, {**inputs, **runners[op](inputs)})
        total += int(inputs["var"].size)
        catalogue.append({"name": name, "op": op, "dtype": inputs["var"].dtype.name, **desc})
    probe = rsqrt_probe()
    np.savez(args.out / "rsqrt_probe.npz", x=probe["x"], y=probe["y"])

    provenance = {
        "tool": "scripts/record_tensorflow.py",
        "seed": args.seed,
        "size": args.size,
        "tensorflow_version": tf.__version__,
        "tensorflow_git_version": getattr(tf.version, "GIT_VERSION", ""),
        "tensorflow_compiler_version": getattr(tf.version, "COMPILER_VERSION", ""),
        **host_description(),
        "rsqrt_probe": probe_verdict(probe),
        "ops_called": sorted({case["op"] for case in catalogue} | {"Rsqrt"}),
        "execution": "eager, tf.raw_ops on resource variables, default thread pools",
        "cases": len(catalogue),
        "table_elements": total,
    }
    per_case = {case["name"]: {k: v for k, v in case.items() if k != "name"} for case in catalogue}
    write_index(args.out, provenance, catalogue, per_case)
    print(f"wrote {len(catalogue)} cases ({total} table elements) to {args.out}")
    print(f"rsqrt probe: {json.dumps(provenance['rsqrt_probe'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
