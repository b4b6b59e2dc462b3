"""The CuPy engine's pieces that run without a GPU: which steps get a fused kernel, signs, the summing kernel.

On a GPU, ``scripts/gpu_check.sh`` runs the CuPy rows of the suite (bits
against NumPy). Here, on the CPU:

* :func:`~proxadagrad_ref.engines.cupy.fused_refusal` -- which steps the fused
  kernels take and which go to the host (or are refused for ``engine="cupy"``);
* the bit tests that replace CuPy's flushing comparisons
  (``x < 0``, ``x >= 0`` from the bits) agree with NumPy's comparisons on every
  edge value of every dtype;
* the duplicate-summing kernel and the kernel body with a float64 gradient (the
  exact profile's summed duplicates), compiled by g++ through the same C++
  primitives in their host form, give NumPy's bits.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from proxadagrad_ref.backends import compat
from proxadagrad_ref.engines import ccode, reference
from proxadagrad_ref.engines import cupy as cupy_engine
from proxadagrad_ref.engines.step import Elementwise
from proxadagrad_ref.kernels.grads import group, sum_duplicates
from proxadagrad_ref.numerics.profiles import PROFILES

NP = compat.numpy_namespace()
CXX = shutil.which("g++")
needs_cxx = pytest.mark.skipif(CXX is None, reason="no g++ on this machine")
C_TYPE = {"float32": "float", "float64": "double"}


def edge_values(dtype: str) -> np.ndarray:
    """Zeros, subnormals, normals, infinities and NaNs (both signs, two payloads) of `dtype`."""
    dt = np.dtype(dtype)
    fi = np.finfo(dt)
    magnitudes = [0.0, float(fi.smallest_subnormal), 3 * float(fi.smallest_subnormal),
                  float(fi.smallest_normal) / 2, float(fi.smallest_normal), 1.0, float(fi.max), np.inf]
    values = np.array([s * m for m in magnitudes for s in (1.0, -1.0)], dtype=np.float64)
    with np.errstate(over="ignore"):
        values = values.astype(dt)
    unsigned = {2: np.uint16, 4: np.uint32, 8: np.uint64}[dt.itemsize]
    nans = np.full(4, np.nan, dt).view(unsigned)
    nans[1] |= unsigned(1)  # another payload
    nans[2:] |= unsigned(1) << unsigned(8 * dt.itemsize - 1)  # negative NaNs
    return np.concatenate([values, nans.view(dt)])


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_signs_read_off_the_bits_are_numpy_s_comparisons(dtype: str) -> None:
    x = edge_values(dtype)
    with np.errstate(invalid="ignore"):
        assert np.array_equal(compat._negative_bits(x, dtype), x < 0)
        assert np.array_equal(compat._non_negative_bits(x, dtype), x >= 0)
    assert compat._negative_bits(x, dtype).sum() == 7  # -subnormal, -3 subnormal, -normal/2, ..., -inf
    assert np.array_equal(compat.negative(NP, x), x < 0)
    assert np.array_equal(compat.non_negative(NP, x), x >= 0)


def _task(name: str, part: str, dtype: str, grad: str | None = None) -> Elementwise:
    profile = PROFILES[name]
    x = np.ones(4, dtype)
    hyper = tuple(np.asarray(v, dtype) for v in (0.1, 0.05, 0.1))
    g = x if grad is None else np.ones(4, grad)
    return Elementwise(profile, getattr(profile, part), NP, x, x.copy(), g, hyper, True)


@pytest.mark.parametrize(
    ("name", "part", "dtype", "grad", "refused"),
    [
        ("exact", "dense", "float32", None, None),
        ("exact", "dense", "float64", None, None),
        ("exact", "sparse", "float32", "float64", None),  # duplicates summed in float64
        ("mindspore", "dense", "float32", None, None),
        ("mindspore", "tail", "float32", None, None),
        ("mindspore", "sparse", "float32", None, None),
        ("tensorflow", "sparse_column", "float32", None, None),
        ("tensorflow", "dense", "float32", None, "no C\\+\\+ form of an operation of the tensorflow"),
        ("tensorflow", "tail", "float64", None, "no C\\+\\+ form"),
        ("exact", "dense", "float16", None, "float32 and float64 parameters, not float16"),
        ("mindspore", "dense", "float16", None, "not float16"),
        ("mindspore", "sparse", "float32", "float64", "grad of var's dtype float32, got float64"),
    ],
)
def test_which_steps_get_a_fused_kernel(
    name: str, part: str, dtype: str, grad: str | None, refused: str | None
) -> None:
    """None: a fused kernel (``"auto"``, ``"cupy"``); else ``"auto"`` runs on the host, ``"cupy"`` raises."""
    refusal = cupy_engine.fused_refusal(_task(name, part, dtype, grad))
    if refused is None:
        assert refusal is None
    else:
        assert isinstance(refusal, (TypeError, ValueError))
        with pytest.raises(type(refusal), match=refused):
            raise refusal


def test_group_counts_are_the_occurrences_of_each_group() -> None:
    idx = np.random.default_rng(5).integers(0, 300, 2000)
    groups = group(idx, NP)
    want = [int(np.sum(idx == u)) for u in groups.unique]
    assert cupy_engine.group_counts(groups.widths).tolist() == want
    assert max(want) > 5 and min(want) == 1


def _build(source: str, symbol: str, argtypes: list[Any], tmp: Path) -> Any:
    """Compile C++ `source` with g++ (IEEE: no contraction, no fast math) and return its `symbol`."""
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    src, lib = tmp / f"{key}.cpp", tmp / f"{key}.so"
    src.write_text(source)
    assert CXX is not None
    command = [CXX, "-O2", "-std=c++17", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC"]
    subprocess.run([*command, "-o", str(lib), str(src)], check=True, capture_output=True)
    fn = getattr(ctypes.CDLL(str(lib)), symbol)
    fn.argtypes = argtypes
    fn.restype = None
    return fn


def _array(dtype: Any) -> Any:
    return np.ctypeslib.ndpointer(dtype=np.dtype(dtype), flags="C_CONTIGUOUS")


@needs_cxx
@pytest.mark.parametrize(
    ("rows_dtype", "total_dtype"), [("float32", "float32"), ("float32", "float64"), ("float64", "float64")]
)
@pytest.mark.parametrize("inner", [1, 7])
def test_the_summing_kernel_adds_as_numpy_does(
    rows_dtype: str, total_dtype: str, inner: int, tmp_path: Path
) -> None:
    """The kernel's operation in a host loop over its elements, against the NumPy path's sums."""
    _, _, operation = cupy_engine.sum_rows_source(rows_dtype, total_dtype)
    r, t = C_TYPE[rows_dtype], C_TYPE[total_dtype]
    source = f"""{ccode.PREAMBLE}
extern "C" void sum_rows(long long n, long long inner, const {r}* rows, const long long* order,
                         const long long* starts, const long long* counts, {t}* total) {{
  for (long long i = 0; i < n; ++i) {{
{operation}
  }}
}}
"""
    index = _array(np.int64)
    rows_p, total_p = _array(rows_dtype), _array(total_dtype)
    argtypes = [ctypes.c_longlong, ctypes.c_longlong, rows_p, index, index, index, total_p]
    kernel = _build(source, "sum_rows", argtypes, tmp_path)
    rng = np.random.default_rng(inner)
    k, tiny = 3000, np.finfo(rows_dtype).smallest_subnormal
    subnormal = (rng.integers(-50, 51, size=(k, inner)) * tiny).astype(rows_dtype)  # exact multiples
    edges = rng.choice(edge_values(rows_dtype), size=(k, inner))
    rows = np.where(rng.random((k, inner)) < 0.1, edges, subnormal)
    idx = rng.integers(0, 400, k)
    groups = group(idx, NP)
    with np.errstate(all="ignore"):
        unique, want = sum_duplicates(rows, idx, NP, groups=groups, dtype=np.dtype(total_dtype))
    got = np.empty_like(want)
    counts = cupy_engine.group_counts(groups.widths)
    kernel(got.size, inner, np.ascontiguousarray(rows), groups.order.astype(np.int64),
           groups.starts.astype(np.int64), counts, got)
    assert np.array_equal(unique, groups.unique)
    unsigned = {4: np.uint32, 8: np.uint64}[want.dtype.itemsize]
    both_nan = np.isnan(got) & np.isnan(want)
    assert np.array_equal(got.view(unsigned)[~both_nan], want.view(unsigned)[~both_nan])
    assert np.array_equal(np.isnan(got), np.isnan(want))
    float32_subnormal = (want != 0) & (np.abs(want) < np.finfo(rows_dtype).smallest_normal)
    assert np.count_nonzero(float32_subnormal) > want.size // 4  # what CuPy's own additions would flush


@needs_cxx
@pytest.mark.parametrize(("l1", "l2"), [(0.0, 0.1), (0.05, 0.1)])
@pytest.mark.parametrize("step", ["adaptive", "fixed"])
def test_the_body_with_a_float64_gradient_gives_the_reference_bits(
    l1: float, l2: float, step: str, tmp_path: Path
) -> None:
    """The exact profile's float32 step on duplicates summed in float64: ``g`` is a double in the kernel."""
    profile = PROFILES["exact"]
    hyper = [np.asarray(v, np.float32) for v in (0.1, l1, l2)]
    body = ccode.c_body(profile.sparse, np.float64, tuple(h[()] for h in hyper), step == "adaptive")
    source = f"""{ccode.PREAMBLE}
extern "C" void step(long n, const float* w_, const float* a_, const double* g_, float lr, float l1, float l2,
                     float* w_out_, float* a_out_) {{
  for (long i = 0; i < n; ++i) {{
    const float w = w_[i], a = a_[i];
    const double g = g_[i];
    float w_out, a_out;
    {{
{body}
    }}
    w_out_[i] = w_out;
    a_out_[i] = a_out;
  }}
}}
"""
    f32, f64 = _array(np.float32), _array(np.float64)
    argtypes = [ctypes.c_long, f32, f32, f64, ctypes.c_float, ctypes.c_float, ctypes.c_float, f32, f32]
    kernel = _build(source, "step", argtypes, tmp_path)
    rng = np.random.default_rng(3)
    w = rng.choice(edge_values("float32"), 20_000)
    a = np.abs(rng.choice(edge_values("float32"), 20_000))
    # float64 sums of float32 rows: values beyond float32's range and precision
    g = rng.choice(edge_values("float32"), 20_000).astype(np.float64)
    g *= rng.choice([1.0, 1 + 2.0**-40, 3e-10], 20_000)
    task = Elementwise(profile, profile.sparse, NP, w, a, g, tuple(hyper), step == "adaptive")
    want = reference.evaluate(task)
    got = (np.empty_like(w), np.empty_like(a))
    kernel(w.size, w, a, g, *(h[()] for h in hyper), *got)
    for x, y in zip(got, want, strict=True):
        both_nan = np.isnan(x) & np.isnan(y)
        assert np.array_equal(x.view(np.uint32)[~both_nan], y.view(np.uint32)[~both_nan])
        assert np.array_equal(np.isnan(x), np.isnan(y))


# On a GPU (scripts/gpu_check.sh): every profile and dtype through "auto" and "reference" gives NumPy's bits.


def _cupy() -> Any:
    """CuPy with a device, or a skip that says why not."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except ImportError:
        pytest.skip("CuPy is not installed")
    except Exception as exc:  # CuPy present but no driver or device
        pytest.skip(f"CuPy cannot reach a CUDA device ({type(exc).__name__})")
    return cupy


def edge_triples(dtype: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every combination of edge values for ``(w, a, g)``, ``a`` among the non-negative ones."""
    values = edge_values(dtype)
    with np.errstate(invalid="ignore"):
        non_negative = values[(values >= 0) | np.isnan(values)]
    w, a, g = (x.ravel() for x in np.meshgrid(values, non_negative, values, indexing="ij"))
    return w.copy(), a.copy(), g.copy()


def same_bits(got: Any, want: np.ndarray) -> None:
    from proxadagrad_ref.backends.compat import to_numpy

    got = to_numpy(got)
    assert got.dtype == want.dtype and got.shape == want.shape
    unsigned = {2: np.uint16, 4: np.uint32, 8: np.uint64}[want.dtype.itemsize]
    both_nan = np.isnan(got) & np.isnan(want)
    differ = np.flatnonzero((got.view(unsigned) != want.view(unsigned)) & ~both_nan)
    first = differ[:5]
    assert not differ.size, f"{differ.size} differ, at {first}: {got.ravel()[first]} vs {want.ravel()[first]}"


STEPS = [
    (None if name == "exact" else name, dtype, step)
    for name, profile in sorted(PROFILES.items())
    for dtype in profile.dtypes
    for step in profile.prox_steps
]


@pytest.mark.gpu
@pytest.mark.parametrize(("emulate", "dtype", "step"), STEPS)
@pytest.mark.parametrize("engine", ["auto", "reference"])
@pytest.mark.parametrize("inplace", [False, True])
def test_cupy_dense_steps_give_numpy_s_bits(emulate: str | None, dtype: str, step: str, engine: str,
                                            inplace: bool) -> None:
    """Fused where the formula has a C++ form, on the host elsewhere (TensorFlow, float16): NumPy's bits."""
    cupy = _cupy()
    from proxadagrad_ref import apply_proximal_adagrad

    w, a, g = edge_triples(dtype)
    for l1, l2 in ((0.0, 0.0), (0.05, 0.1), (1e-40, 0.0)):
        kw: dict[str, Any] = {"prox_step": step, "emulate": emulate}
        want = apply_proximal_adagrad(w, a, 0.1, l1, l2, g, **kw, engine="reference")
        dw, da, dg = (cupy.asarray(x) for x in (w, a, g))
        got = apply_proximal_adagrad(dw, da, 0.1, l1, l2, dg, **kw, engine=engine, inplace=inplace)
        assert (got[0] is dw and got[1] is da) == inplace
        same_bits(got[0], want[0])
        same_bits(got[1], want[1])


SPARSE_STEPS = [
    (None if name == "exact" else name, dtype, step)
    for name, profile in sorted(PROFILES.items())
    for dtype in profile.sparse_dtypes or profile.dtypes
    for step in profile.prox_steps
]


@pytest.mark.gpu
@pytest.mark.parametrize(("emulate", "dtype", "step"), SPARSE_STEPS)
@pytest.mark.parametrize("inner", [1, 7, 8])
@pytest.mark.parametrize("engine", ["auto", "reference"])
def test_cupy_sparse_steps_give_numpy_s_bits(emulate: str | None, dtype: str, step: str, inner: int,
                                             engine: str) -> None:
    """Distinct and repeated rows (summed on the device by the generated kernel), subnormal gradients."""
    cupy = _cupy()
    from proxadagrad_ref import sparse_apply_proximal_adagrad

    rng = np.random.default_rng(inner)
    rows = 600
    values = edge_values(dtype)
    w = rng.choice(values, (rows, inner))
    a = np.abs(rng.choice(values, (rows, inner)))
    tiny = np.finfo(dtype).smallest_subnormal
    for idx in (rng.choice(rows, 200, replace=False), rng.integers(0, rows, 400)):
        subnormal = (rng.integers(-20, 21, (idx.shape[0], inner)) * tiny).astype(dtype)
        edges = rng.choice(values, (idx.shape[0], inner))
        g = np.where(rng.random((idx.shape[0], inner)) < 0.2, edges, subnormal)
        kw: dict[str, Any] = {"prox_step": step, "emulate": emulate}
        for inplace in (False, True):
            want = sparse_apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, idx, **kw, engine="reference")
            dv, da, dg, di = (cupy.asarray(x) for x in (w, a, g, idx))
            got = sparse_apply_proximal_adagrad(dv, da, 0.1, 0.05, 0.1, dg, di, **kw, engine=engine,
                                                inplace=inplace)
            same_bits(got[0], want[0])
            same_bits(got[1], want[1])


@pytest.mark.gpu
def test_cupy_refuses_what_numpy_refuses_subnormals_included() -> None:
    """A negative subnormal accumulator or learning rate is refused as on NumPy (CuPy's ``<`` passes it)."""
    cupy = _cupy()
    from proxadagrad_ref import apply_proximal_adagrad, sparse_apply_proximal_adagrad

    tiny = float(np.finfo(np.float32).smallest_subnormal)
    w = cupy.ones(4, cupy.float32)
    a = cupy.asarray(np.array([0.1, -tiny, 0.2, 0.0], np.float32))
    with pytest.raises(ValueError, match="accum must be non-negative; it has 1 negative"):
        apply_proximal_adagrad(w, a, 0.1, 0.0, 0.0, w)
    with pytest.raises(ValueError, match="accum \\(touched rows\\) must be non-negative"):
        sparse_apply_proximal_adagrad(w.reshape(4, 1), a.reshape(4, 1), 0.1, 0.0, 0.0, w[:2].reshape(2, 1),
                                      cupy.asarray(np.array([0, 1])))
    with pytest.raises(ValueError, match="lr must be a finite number >= 0"):
        apply_proximal_adagrad(w, cupy.ones(4, cupy.float32), -tiny, 0.0, 0.0, w)
    with pytest.raises(ValueError, match="lr must be a finite number >= 0"):
        apply_proximal_adagrad(w, cupy.ones(4, cupy.float32), cupy.asarray(-tiny, cupy.float32), 0.0, 0.0, w)


@pytest.mark.gpu
def test_cupy_hyper_parameters_are_rounded_as_numpy_rounds() -> None:
    """A float64 0-d l1 of 1e-40 is a float32 subnormal for a float32 step (CuPy's astype would give 0)."""
    cupy = _cupy()
    from proxadagrad_ref import apply_proximal_adagrad

    w, a, g = edge_triples("float32")
    want = apply_proximal_adagrad(w, a, 1e-30, np.asarray(1e-40), 0.0, g, engine="reference")
    got = apply_proximal_adagrad(cupy.asarray(w), cupy.asarray(a), 1e-30, cupy.asarray(1e-40), 0.0,
                                 cupy.asarray(g))
    same_bits(got[0], want[0])
    same_bits(got[1], want[1])


@pytest.mark.gpu
@pytest.mark.parametrize("emulate", [None, "mindspore"])
@pytest.mark.parametrize("sparse", [False, True])
def test_cupy_optimizer_stages_give_numpy_s_bits(emulate: str | None, sparse: bool) -> None:
    """Weight decay, loss scale, centralization, duplicate sums: on the host for CuPy parameters."""
    cupy = _cupy()
    from proxadagrad_ref import Parameter, ProximalAdagrad

    rng = np.random.default_rng(4)
    tiny = np.finfo(np.float32).smallest_subnormal
    w0 = (rng.integers(-30, 31, (64, 8)) * tiny).astype(np.float32)
    w0[::3] = rng.standard_normal((22, 8)).astype(np.float32)
    if sparse:
        idx = rng.integers(0, 64, 50)
        values = (rng.integers(-30, 31, (50, 8)) * tiny).astype(np.float32)
        grads = [(idx, values), (cupy.asarray(idx), cupy.asarray(values))]
    else:
        dense = (rng.integers(-30, 31, (64, 8)) * tiny).astype(np.float32)
        grads = [dense, cupy.asarray(dense)]
    results = []
    for data, grad in zip((w0.copy(), cupy.asarray(w0)), grads, strict=True):
        p = Parameter(data, name="w")
        opt = ProximalAdagrad([{"params": [p], "grad_centralization": not sparse, "weight_decay": 1e-3}],
                              learning_rate=0.1, l1=1e-3, loss_scale=4.0, emulate=emulate, accum=1e-30)
        for _ in range(3):
            opt((grad,))
        results.append((p.data, opt.accum[0]))
    same_bits(results[1][0], results[0][0])
    same_bits(results[1][1], results[0][1])
