"""What several test modules need: paths, backends, bit comparisons, inputs, "a failed call changes nothing".

Importable from every test module as ``helpers`` (``pythonpath = ["tests"]`` in ``pyproject.toml``); test
modules import nothing from each other, only from here, :mod:`published` and :mod:`vector_impls`.
"""

from __future__ import annotations

import enum
import importlib.util
import itertools
import json
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from proxadagrad_ref import RowTensor
from proxadagrad_ref.backends.compat import numpy_namespace
from proxadagrad_ref.engines import dispatch
from proxadagrad_ref.engines.step import Elementwise
from proxadagrad_ref.numerics.profiles import PROFILES

# --- paths ----------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent  # the repository
SUITE = ROOT / "conformance_vectors"  # the committed default suite
RECORDED = SUITE / "recorded"  # framework recordings committed beside it

# --- backends -------------------------------------------------------------------------------------------

NP = numpy_namespace()
HAS_NUMBA = dispatch.numba_available()  # numba installed and importable (the engine's own probe)
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason=f"no numba engine: {dispatch.numba_unavailable()}")


class Backend(enum.Enum):
    """Array libraries the kernel tests run on (the ``xp`` fixture of ``conftest.py``)."""

    NUMPY = "numpy"
    ARRAY_API_STRICT = "array_api_strict"
    CUPY = "cupy"

    def available(self) -> str | None:
        """None when usable here, else the reason to skip."""
        if self is Backend.CUPY:
            if importlib.util.find_spec("cupy") is None:
                return "CuPy is not installed"
            try:
                import cupy

                if cupy.cuda.runtime.getDeviceCount() < 1:
                    return "no CUDA device"
            except Exception as exc:  # CuPy present but no driver/device
                return f"CuPy cannot reach a CUDA device ({type(exc).__name__})"
        return None

    def module(self) -> ModuleType:
        if self is Backend.NUMPY:
            return np
        if self is Backend.ARRAY_API_STRICT:
            import array_api_strict

            return array_api_strict
        import cupy

        return cupy


def engines_for(dtype: str) -> list[str]:
    """The blockwise engines of the dense kernel for `dtype` here: NumPy, and numba where installed."""
    return ["numpy", "numba"] if HAS_NUMBA else ["numpy"]


# --- bits -----------------------------------------------------------------------------------------------

_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def to_numpy(x: object) -> np.ndarray:
    """Copy any backend's array (or a NumPy scalar) to a NumPy array (for comparisons)."""
    if isinstance(x, (np.ndarray, np.generic)):
        return np.array(x, copy=True)
    if hasattr(x, "get"):  # CuPy
        return x.get()  # type: ignore[no-any-return]
    return np.from_dlpack(x).copy()


def bits(x: object) -> np.ndarray:
    """The bit patterns of an array of any backend (a copy), as unsigned integers of its width."""
    a = np.ascontiguousarray(to_numpy(x))
    return a.view(_UINT[a.dtype.itemsize])


def canonical_bits(x: object) -> np.ndarray:
    """:func:`bits`, with every NaN mapped to one pattern (NaN sign and payload are unspecified)."""
    a = to_numpy(x)
    return bits(np.where(np.isnan(a), np.array(np.nan, a.dtype), a))


def bytes_of(*arrays: object) -> list[bytes]:
    """Every bit of each array (NaN signs and payloads, signed zeros), as bytes that compare with ``==``."""
    return [to_numpy(x).tobytes() for x in arrays]


def same_bits(a: object, b: object) -> np.ndarray:
    """Element-wise: same bits, or both NaN (payloads are not compared); `a` and `b` share dtype and shape."""
    x, y = to_numpy(a), to_numpy(b)
    assert x.dtype == y.dtype and x.shape == y.shape, (x.dtype, y.dtype, x.shape, y.shape)
    return (bits(x) == bits(y)) | (np.isnan(x) & np.isnan(y))


def assert_same_bits(got: Sequence[object], want: Sequence[object], context: object = None) -> None:
    """Equal bits, signed zeros and infinities included; NaN where the reference has NaN.

    The sign and payload of a NaN made from two *different* NaN operands are not
    reproducible even within NumPy: its SIMD body and scalar tail order the
    operands differently (``+nan + -nan`` gives either), so they depend on an
    element's position in the array. Those are the only bits not compared.
    """
    for g, w in zip(got, want, strict=True):
        g, w = to_numpy(g), to_numpy(w)
        assert g.dtype == w.dtype and g.shape == w.shape, (context, g.dtype, w.dtype, g.shape, w.shape)
        diff = np.flatnonzero(~same_bits(g, w))
        first = diff[:5]
        where = "" if context is None else f"{context}: "
        assert diff.size == 0, (
            f"{where}{diff.size} differ, at {first}: {g.ravel()[first]} vs {w.ravel()[first]}"
        )


# --- inputs and the reference engine ------------------------------------------------------------------


def edge_inputs(dtype: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every combination of edge values for (w, a, g): zeros, subnormals, inf, NaN, huge, tiny."""
    dt = np.dtype(dtype)
    fi = np.finfo(dt)
    signed = [0.0, -0.0, fi.smallest_subnormal, -fi.smallest_subnormal, fi.smallest_normal, 1.0, -1.0,
              0.3, -2.5, fi.max, -fi.max, np.inf, -np.inf, np.nan, -np.nan, fi.eps, 1e3]
    non_negative = [0.0, fi.smallest_subnormal, fi.smallest_normal, 1e-3, 1.0, fi.max, np.inf, np.nan]
    with np.errstate(over="ignore"):
        combos = np.array(list(itertools.product(signed, non_negative, signed)), dtype=np.float64).astype(dt)
    return combos[:, 0].copy(), combos[:, 1].copy(), combos[:, 2].copy()


def random_inputs(dtype: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w, a, g) of `n` elements whose magnitudes span many decades (a >= 0), from `seed`."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    scale = 10.0 ** rng.integers(-6, 4, size=n)
    w = (rng.standard_normal(n) * scale).astype(dt)
    a = (rng.random(n) * 10.0 ** rng.integers(-8, 3, size=n)).astype(dt)
    g = (rng.standard_normal(n) * scale[::-1]).astype(dt)
    return w, a, g


def reference_eval(profile, formula, w, a, g, hyper, step):  # type: ignore[no-untyped-def]
    """The reference engine on whole arrays (what every other engine must reproduce)."""
    from proxadagrad_ref.engines import reference

    return reference.evaluate(Elementwise(profile, formula, NP, w, a, g, tuple(hyper), step == "adaptive"))


def run_dense(name: str, dtype: str, step: str, inputs: tuple[np.ndarray, ...], l1: float, l2: float,
              engine: str, **kw: object) -> tuple[np.ndarray, np.ndarray]:
    """Profile `name`'s dense formula on `inputs` through `engine` (lr 0.1, `l1`, `l2` in `dtype`)."""
    profile = PROFILES[name]
    dt = np.dtype(dtype)
    hyper = [np.asarray(v, dtype=dt) for v in (0.1, l1, l2)]
    w, a, g = inputs
    with np.errstate(all="ignore"):
        task = Elementwise(profile, profile.dense, NP, w, a, g, tuple(hyper), step == "adaptive")
        return dispatch.evaluate(task, engine=engine, **kw)  # type: ignore[arg-type]


# --- vector files ---------------------------------------------------------------------------------------


def case_meta() -> dict[str, Any]:
    """The metadata of a valid dense case ``x`` (the template the vector-file tests edit)."""
    return {
        "id": "x",
        "semantics_version": 1,
        "op": "dense",
        "profile": "exact",
        "prox_step": "adaptive",
        "dtype": "float32",
        "hyper": {"lr": "0x1.0p-1", "l1": "0x0.0p+0", "l2": "0x0.0p+0"},
        "options": {},
        "compliance": {"mode": "BOUND", "fp_special": "ieee", "bound": "forward-v1", "sqrt_ulps": 3},
        "seed": 0,
        "repro": "",
        "source": {"kind": "engine"},
        "tags": [],
    }


def write_npz_recording(src: Path) -> None:
    """A small raw framework recording at `src`: a dense and a sparse ``.npz`` case and ``provenance.json``.

    The outputs are the engine's ``emulate="mindspore"`` ones; the layout is what
    :func:`proxadagrad_ref.vectors.recorded.import_npz_folder` reads.
    """
    from proxadagrad_ref import apply_proximal_adagrad, sparse_apply_proximal_adagrad

    src.mkdir()
    rng = np.random.Generator(np.random.PCG64(3))
    hyper = {"lr": np.float32(0.1), "l1": np.float32(0.05), "l2": np.float32(0.1)}
    w, a, g = rng.standard_normal(6).astype(np.float32), np.full(6, 0.1, np.float32), rng.standard_normal(6)
    g = g.astype(np.float32)
    w1, a1 = apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, emulate="mindspore")
    np.savez(src / "dense_a.npz", var=w, accum=a, grad=g, **hyper, var_out=w1, accum_out=a1)
    tw, ta = np.ones((4, 2), np.float32), np.full((4, 2), 0.1, np.float32)
    rows, idx = rng.standard_normal((3, 2)).astype(np.float32), np.array([2, 0, 2], np.int32)
    s1, s2 = sparse_apply_proximal_adagrad(tw, ta, 0.1, 0.05, 0.1, rows, idx, emulate="mindspore")
    sparse = {"var": tw, "accum": ta, "grad": rows, "indices": idx, **hyper, "var_out": s1, "accum_out": s2}
    np.savez(src / "sparse_b.npz", **sparse)
    provenance = {"framework_version": "2.10.0", "device": "CPU", "cases": {"dense_a": {"note": "x"}}}
    (src / "provenance.json").write_text(json.dumps(provenance))


def load_script_module(name: str) -> ModuleType:
    """A module of ``scripts/`` (e.g. ``recording``, what the recording scripts share), imported by path."""
    path = ROOT / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- memory ---------------------------------------------------------------------------------------------

SMALL_PEAK = 1 << 20  # bytes: what "no large allocation" means


def peak_allocation(fn: Callable[[], Any], *, refused: tuple[type[BaseException], ...] = ()) -> int:
    """Peak traced allocation while `fn()` runs, in bytes above the start (NumPy reports its buffers).

    An exception of a class in `refused` ends `fn` quietly (the allocation of a refusal is measured);
    the result of `fn` is kept alive until the peak is read.
    """
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        result = None
        try:
            result = fn()
        except refused:
            pass
        _, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        tracemalloc.stop()
    return peak - base


# --- a failed call changes nothing ---------------------------------------------------------------------


def _arrays_in(value: object) -> list[object]:
    """The arrays a kernel argument holds: itself, a RowTensor's parts, a scipy.sparse matrix's data."""
    if isinstance(value, np.ndarray) or type(value).__module__.startswith("array_api_strict"):
        return [value]
    if isinstance(value, RowTensor):
        return [*_arrays_in(value.indices), *_arrays_in(value.values)]
    if sp.issparse(value):
        return [value.data]  # type: ignore[attr-defined]
    return []


def assert_failed_kernel_call_changes_nothing(
    kernel: Callable[..., Any], args: dict[str, Any], error: type[Exception], word: str
) -> None:
    """``kernel(**args)`` raises `error` naming `word`, with ``inplace`` False and True, and no bit changes.

    A call whose `args` already hold ``inplace`` is made with that value (twice).
    """
    before = {k: bytes_of(*_arrays_in(v)) for k, v in args.items()}
    for inplace in (False, True):
        call_args = args if "inplace" in args else {**args, "inplace": inplace}
        with pytest.raises(error) as info:
            kernel(**call_args)
        assert word in str(info.value), str(info.value)
        after = {k: bytes_of(*_arrays_in(v)) for k, v in args.items()}
        assert after == before, f"an input changed after a failed call (inplace={inplace})"


def optimizer_snapshot(opt: Any) -> tuple[list[bytes], list[bytes], int]:
    """Every bit of an optimizer's parameters and accumulators, and its global step."""
    return bytes_of(*(p.data for p in opt.parameters)), bytes_of(*opt.accum), opt.global_step


def _arrays_of(opt: Any) -> list[tuple[int, np.dtype[Any], tuple[int, ...]]]:
    """Identity, dtype and shape of every parameter array and accumulator."""
    return [(id(x), x.dtype, tuple(x.shape)) for x in (*(p.data for p in opt.parameters), *opt.accum)]


def assert_failed_step_changes_nothing(
    opt: Any, grads: Any, error: type[Exception], named: Sequence[str]
) -> None:
    """``opt(grads)`` raises `error` naming each of `named`; every bit, array, dtype and the step are kept."""
    before, arrays = optimizer_snapshot(opt), _arrays_of(opt)
    with pytest.raises(error) as info:
        opt(grads)
    for text in named:
        assert text in str(info.value), str(info.value)
    assert optimizer_snapshot(opt) == before
    assert _arrays_of(opt) == arrays
