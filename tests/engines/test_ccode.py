"""The C++ body generated from each formula (the CuPy kernel's body) gives the reference path's bits.

The body is compiled here with the host's g++ (``-ffp-contract=off``, as NVRTC
gets ``--fmad=false``) into a loop over arrays and called through ctypes, on
edge values and random inputs. Skipped where no g++ is installed.
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
from helpers import NP, Backend, assert_same_bits, edge_inputs, random_inputs, reference_eval

from proxadagrad_ref.engines import ccode as _ccode
from proxadagrad_ref.numerics.profiles import PROFILES

CXX = shutil.which("g++")
needs_cxx = pytest.mark.skipif(CXX is None, reason="no g++ on this machine")

_C_TYPE = {"float32": "float", "float64": "double"}

# (profile, formula attribute, parameter dtype, prox_step): every formula with a C++ form.
CASES = [
    (name, part, dtype, step)
    for name, profile in sorted(PROFILES.items())
    for part in ("dense", "tail", "sparse")
    if getattr(profile, part) is not None and _ccode.expressible(getattr(profile, part))
    for dtype in (profile.sparse_dtypes or profile.dtypes if part == "sparse" else profile.dtypes)
    if dtype in _C_TYPE
    for step in profile.prox_steps
]


def test_cases_cover_exact_and_mindspore_but_not_tensorflow() -> None:
    names = {name for name, *_ in CASES}
    assert names == {"exact", "mindspore"}
    assert not _ccode.expressible(PROFILES["tensorflow"].dense)  # its table rsqrt has no C++ form


def build(source: str, symbol: str, argtypes: list[Any], tmp: Path) -> Any:
    """Compile C++ `source` with g++ (IEEE: no contraction, no fast math) and return its `symbol`."""
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    src, lib = tmp / f"{key}.cpp", tmp / f"{key}.so"
    if not lib.exists():
        src.write_text(source)
        assert CXX is not None
        subprocess.run(
            [CXX, "-O2", "-std=c++17", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC",
             "-o", str(lib), str(src)],
            check=True, capture_output=True,
        )
    fn = getattr(ctypes.CDLL(str(lib)), symbol)
    fn.argtypes = argtypes
    fn.restype = None
    return fn


def c_types(dtype: str) -> tuple[Any, Any]:
    """ctypes of a contiguous array and of a scalar of `dtype`."""
    array = np.ctypeslib.ndpointer(dtype=np.dtype(dtype), flags="C_CONTIGUOUS")
    return array, (ctypes.c_float if dtype == "float32" else ctypes.c_double)


def compile_body(body: str, dtype: str, tmp: Path) -> Any:
    """A formula body in a C++ loop over arrays: ``pa_kernel(n, w, a, g, lr, l1, l2, w_out, a_out)``."""
    t = _C_TYPE[dtype]
    source = f"""#include <cmath>
#include <math.h>
{_ccode.PREAMBLE}
extern "C" void pa_kernel(long n, const {t}* w_, const {t}* a_, const {t}* g_, {t} lr, {t} l1, {t} l2,
                          {t}* w_out_, {t}* a_out_) {{
  for (long i = 0; i < n; ++i) {{
    const {t} w = w_[i], a = a_[i], g = g_[i];
    {t} w_out, a_out;
    {{
{body}
    }}
    w_out_[i] = w_out;
    a_out_[i] = a_out;
  }}
}}
"""
    array, scalar = c_types(dtype)
    argtypes = [ctypes.c_long, array, array, array, scalar, scalar, scalar, array, array]
    return build(source, "pa_kernel", argtypes, tmp)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ccode")


@needs_cxx
@pytest.mark.parametrize(("name", "part", "dtype", "step"), CASES)
@pytest.mark.parametrize(("l1", "l2"), [(0.0, 0.0), (0.05, 0.1), (0.0, 0.1)])
def test_compiled_body_matches_reference(
    name: str, part: str, dtype: str, step: str, l1: float, l2: float, build_dir: Path
) -> None:
    profile = PROFILES[name]
    formula = getattr(profile, part)
    hyper = [np.asarray(v, dtype=dtype) for v in (0.1, l1, l2)]
    compute = np.dtype(profile.compute_dtype(NP, np.dtype(dtype)))
    body = _ccode.c_body(formula, compute, tuple(h[()] for h in hyper), step == "adaptive")
    kernel = compile_body(body, dtype, build_dir)
    for w, a, g in (edge_inputs(dtype), random_inputs(dtype, 20_000, seed=11)):
        want = reference_eval(profile, formula, w, a, g, hyper, step)
        got = (np.empty_like(w), np.empty_like(a))
        kernel(w.size, w, a, g, *(h[()] for h in hyper), *got)
        assert_same_bits(got, want)


@needs_cxx
def test_a_wrong_body_is_caught(build_dir: Path) -> None:
    """The comparison can fail: the printed (fixed) form's body against the kernels' (adaptive) results."""
    profile = PROFILES["exact"]
    hyper = [np.asarray(v, dtype="float32") for v in (0.1, 0.05, 0.1)]
    body = _ccode.c_body(profile.dense, np.float64, tuple(h[()] for h in hyper), adaptive=False)
    kernel = compile_body(body, "float32", build_dir)
    w, a, g = random_inputs("float32", 1000, seed=1)
    want = reference_eval(profile, profile.dense, w, a, g, hyper, "adaptive")
    got = (np.empty_like(w), np.empty_like(a))
    kernel(w.size, w, a, g, *(h[()] for h in hyper), *got)
    with pytest.raises(AssertionError):
        assert_same_bits(got, want)


def test_array_branches_and_unknown_ops_are_refused() -> None:
    def branchy(w: Any, a: Any, g: Any, lr: Any, l1: Any, l2: Any, adaptive: bool) -> tuple[Any, Any]:
        if w > 0:
            return w, a
        return a, w

    with pytest.raises(_ccode.Untraceable, match="compares array values"):
        _ccode.c_body(branchy, np.float32, (0.1, 0.0, 0.0), True)
    with pytest.raises(_ccode.Untraceable, match="without a C\\+\\+ form"):
        _ccode.c_body(PROFILES["tensorflow"].dense, np.float32, (0.1, 0.0, 0.0), True)


def _gpu_reason() -> str | None:
    return Backend.CUPY.available()


DENSE = sorted({(name, dtype, step) for name, part, dtype, step in CASES if part == "dense"})


@pytest.mark.parametrize(("name", "dtype", "step"), DENSE)
@pytest.mark.parametrize("inplace", [False, True])
def test_cupy_engine_matches_numpy_reference(name: str, dtype: str, step: str, inplace: bool) -> None:
    """On a GPU: the fused kernel of every expressible profile gives the NumPy reference path's bits."""
    reason = _gpu_reason()
    if reason is not None:
        pytest.skip(reason)
    import cupy

    from proxadagrad_ref import apply_proximal_adagrad

    emulate = None if name == "exact" else name
    for w, a, g in (edge_inputs(dtype), random_inputs(dtype, 1_000_003, seed=12)):
        for l1, l2 in ((0.0, 0.0), (0.05, 0.1)):
            with np.errstate(all="ignore"):
                want = apply_proximal_adagrad(w, a, 0.1, l1, l2, g, prox_step=step, emulate=emulate,
                                              engine="reference")
            dw, da, dg = (cupy.asarray(x) for x in (w, a, g))
            got = apply_proximal_adagrad(dw, da, 0.1, l1, l2, dg, prox_step=step, emulate=emulate,
                                         engine="cupy", inplace=inplace)
            if inplace:
                assert got[0] is dw and got[1] is da
            assert_same_bits((cupy.asnumpy(got[0]), cupy.asnumpy(got[1])), want)


def compile_rows(body: str, dtype: str, tmp: Path) -> Any:
    """The sparse kernel's statements (``_ccode.rows_operation``) in a C++ loop over the touched elements."""
    t = _C_TYPE[dtype]
    source = f"""#include <cmath>
#include <math.h>
{_ccode.PREAMBLE}
extern "C" void pa_rows(long n, long long inner, const long long* idx, const {t}* g_, {t} lr, {t} l1, {t} l2,
                        {t}* var, {t}* accum) {{
  for (long i = 0; i < n; ++i) {{
    const {t} g = g_[i];
{_ccode.rows_operation(body, t)}
  }}
}}
"""
    array, scalar = c_types(dtype)
    index = np.ctypeslib.ndpointer(dtype=np.int64, flags="C_CONTIGUOUS")
    argtypes = [ctypes.c_long, ctypes.c_longlong, index, array, scalar, scalar, scalar, array, array]
    return build(source, "pa_rows", argtypes, tmp)


SPARSE = [(name, dtype, step) for name, part, dtype, step in CASES if part == "sparse"]


@needs_cxx
@pytest.mark.parametrize(("name", "dtype", "step"), SPARSE)
@pytest.mark.parametrize("inner", [1, 7, 64])
def test_compiled_rows_operation_matches_gather_scatter(
    name: str, dtype: str, step: str, inner: int, build_dir: Path
) -> None:
    profile = PROFILES[name]
    hyper = [np.asarray(v, dtype=dtype) for v in (0.1, 0.05, 0.1)]
    compute = np.dtype(profile.compute_dtype(NP, np.dtype(dtype)))
    body = _ccode.c_body(profile.sparse, compute, tuple(h[()] for h in hyper), step == "adaptive")
    kernel = compile_rows(body, dtype, build_dir)
    rows = 3000
    w, a, _ = random_inputs(dtype, rows * inner, seed=inner)
    a = np.abs(a)
    var, accum = w.reshape(rows, inner), a.reshape(rows, inner)
    idx = np.random.default_rng(inner).choice(rows, 1000, replace=False).astype(np.int64)
    g = random_inputs(dtype, 1000 * inner, seed=3)[2].reshape(1000, inner)
    with np.errstate(all="ignore"):
        w_rows, a_rows = reference_eval(profile, profile.sparse, var[idx], accum[idx], g, hyper, step)
    want_var, want_accum = var.copy(), accum.copy()
    want_var[idx], want_accum[idx] = w_rows, a_rows
    kernel(g.size, inner, idx, g, *(h[()] for h in hyper), var, accum)
    assert_same_bits((var, accum), (want_var, want_accum))


@pytest.mark.parametrize(("name", "dtype", "step"), SPARSE)
@pytest.mark.parametrize("inplace", [False, True])
def test_cupy_sparse_engine_matches_numpy(name: str, dtype: str, step: str, inplace: bool) -> None:
    """On a GPU: the fused sparse kernel gives the NumPy path's bits (unique rows and summed duplicates)."""
    reason = _gpu_reason()
    if reason is not None:
        pytest.skip(reason)
    import cupy

    from proxadagrad_ref import sparse_apply_proximal_adagrad

    emulate = None if name == "exact" else name
    w, a, _ = random_inputs(dtype, 4000 * 64, seed=8)
    var, accum = w.reshape(4000, 64), np.abs(a).reshape(4000, 64)
    rng = np.random.default_rng(9)
    for idx in (rng.choice(4000, 1500, replace=False), rng.choice(4000, 1500, replace=True)):
        g = random_inputs(dtype, 1500 * 64, seed=10)[2].reshape(1500, 64)
        with np.errstate(all="ignore"):
            want = sparse_apply_proximal_adagrad(var, accum, 0.1, 0.05, 0.1, g, idx, prox_step=step,
                                                 emulate=emulate, engine="reference")
        dv, da = cupy.asarray(var), cupy.asarray(accum)
        got = sparse_apply_proximal_adagrad(dv, da, 0.1, 0.05, 0.1, cupy.asarray(g), cupy.asarray(idx),
                                            prox_step=step, emulate=emulate, engine="cupy", inplace=inplace)
        assert_same_bits((cupy.asnumpy(got[0]), cupy.asnumpy(got[1])), want)
