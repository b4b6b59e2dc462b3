"""Every CUDA kernel of the CuPy engine keeps float32 subnormals under CuPy's ``-ftz=true``: the PTX shows it.

CuPy appends ``-ftz=true`` after the caller's NVRTC options, and NVRTC obeys
the last of two (see :mod:`proxadagrad_ref.engines.cupy`). Here every kernel
the engine can generate -- each profile formula with a C++ form x float32 /
float64 parameters x prox form x ``l1``/``l2`` zero or not, the dense kernel
and the rows kernel, float32 and (summed in float64) float64 gradients, and
the duplicate-summing kernel -- is compiled by NVRTC with the options CuPy
passes, in CuPy's order (no GPU needed: the ``nvidia-cuda-nvrtc-cu12`` wheel),
and its PTX is read:

* no instruction carries ``.ftz``;
* one ``fma.rn`` per ``fma`` of the traced formula, of its type, and no other
  fused multiply-add; one ``div.rn`` per division, one ``sqrt.rn`` per square
  root; every floating-point instruction is one the primitives of
  :mod:`proxadagrad_ref.engines.ccode` write (no ``.approx``, ``rcp``,
  ``rsqrt``, ``max``/``min``);
* the PTX is the same without ``-ftz=true`` and under ``--use_fast_math``, and
  so is the machine code ptxas makes of it (``sm_90``): no option changes the
  arithmetic.

The counts expected come from the formula's trace (what NumPy computes), not
from the generated text. The kernel source is a reconstruction of CuPy 14's
``ElementwiseKernel`` template (``cupy/_core/_kernel.pyx``:
``_get_simple_elementwise_kernel_code`` and ``_get_elementwise_kernel_code``)
with stand-ins for CuPy's ``CArray``/``CIndexer`` headers, which index and do
no arithmetic. Where CuPy is importable (it needs no GPU for this), the
reconstruction is compared with the source CuPy itself generates, and CuPy's
own compile path is driven to check the options it passes and the PTX it gets.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from typing import Any, NamedTuple

import numpy as np
import pytest

from proxadagrad_ref.engines import ccode, nvrtc
from proxadagrad_ref.engines import cupy as cupy_engine
from proxadagrad_ref.numerics.interpret import trace
from proxadagrad_ref.numerics.profiles import PROFILES


def _nvrtc_missing() -> str | None:
    try:
        nvrtc.version()
    except OSError as exc:
        return f"NVRTC cannot be loaded: {str(exc).splitlines()[0]}"
    return None


needs_nvrtc = pytest.mark.skipif(_nvrtc_missing() is not None, reason=str(_nvrtc_missing()))

ARCH = "compute_90"
PRECISE = (*cupy_engine.KERNEL_OPTIONS, "--std=c++17", "--device-as-default-execution-space")
FAST = ("--use_fast_math", "--std=c++17", "--device-as-default-execution-space")
PARTS = ("dense", "tail", "sparse", "sparse_tail", "sparse_column")
HYPER = [(0.1, l1, l2) for l1, l2 in itertools.product((0.0, 0.05), (0.0, 0.1))]
_C_TYPES = {"float32": "float", "float64": "double", "int64": "long long", "bool": "bool"}
SCALARS = {"lr", "l1", "l2", "inner"}  # the kernels' arguments passed as host scalars
TABLE_NDIM = 2  # the rows kernel's raw tables: (rows, inner)


class Kernel(NamedTuple):
    """One kernel the CuPy engine generates, and what its formula computes (ops per PTX type)."""

    id: str
    in_params: str
    out_params: str
    operation: str
    ops: Counter[tuple[str, str]]  # (op, "f32"/"f64") -> number of steps


def _formula_cases() -> list[tuple[str, Any, Any, str]]:
    """(profile, formula, parameter dtype, part) for every distinct formula with a C++ form."""
    seen, found = set(), []
    for name, profile in sorted(PROFILES.items()):
        for part in PARTS:
            formula = getattr(profile, part)
            if formula is None or not ccode.expressible(formula):
                continue
            dtypes = profile.sparse_dtypes or profile.dtypes if part.startswith("sparse") else profile.dtypes
            for dtype in dtypes:
                if dtype in ("float32", "float64") and (formula, dtype) not in seen:
                    seen.add((formula, dtype))
                    found.append((name, formula, dtype, part))
    return found


def _traced_ops(profile: Any, formula: Any, dtype: str, hyper: tuple[float, ...], adaptive: bool) -> Counter:
    """How many of each operation NumPy makes for the formula, by the PTX type of its result."""
    compute = np.dtype(profile.compute_dtype(np, np.dtype(dtype)))
    samples = [np.ones(1, compute) for _ in range(3)]
    traced = trace(formula, samples, [np.asarray(h, compute) for h in hyper], adaptive, trace_hyper=True)
    ptx_type = {"float32": "f32", "float64": "f64"}
    return Counter((s.op, ptx_type.get(s.value.dtype.name, s.value.dtype.name)) for s in traced.steps)


SOURCES = (("dense", cupy_engine.kernel_source), ("rows", cupy_engine.rows_kernel_source))


def kernels() -> list[Kernel]:
    """Every kernel of the engine: formula x dtype x grad dtype x prox form x l1/l2 x dense/rows, and sums."""
    found = []
    for name, formula, dtype, part in _formula_cases():
        profile = PROFILES[name]
        grads = [dtype, "float64"] if profile.widen and dtype == "float32" else [dtype]
        for grad, step, hyper in itertools.product(grads, profile.prox_steps, HYPER):
            adaptive = step == "adaptive"
            ops = _traced_ops(profile, formula, dtype, hyper, adaptive)
            tag = f"{name}-{part}-{dtype}-g{grad[-2:]}-{step}-l1={hyper[1]}-l2={hyper[2]}"
            for kind, source in SOURCES:
                sig = source(formula, profile, np.dtype(dtype), hyper, adaptive, grad_dtype=np.dtype(grad))
                found.append(Kernel(f"{tag}-{kind}", *sig, ops))
    for rows, total in (("float32", "float32"), ("float32", "float64"), ("float64", "float64")):
        found.append(Kernel(f"sum-{rows}-to-{total}", *cupy_engine.sum_rows_source(rows, total), Counter()))
    return found


KERNELS = kernels()


def _params(spec: str, is_const: bool) -> list[tuple[str, str, bool, bool]]:
    """``(c type, name, raw, const)`` of ElementwiseKernel parameters (``"float32 w, raw int64 idx"``)."""
    found = []
    for item in spec.split(","):
        words = item.split()
        raw = words[0] == "raw"
        dtype, name = words[-2], words[-1]
        found.append((_C_TYPES[dtype], name, raw, is_const))
    return found


def cupy_source(kernel: Kernel, preamble: str = cupy_engine.PREAMBLE) -> str:
    """The source CuPy 14's ElementwiseKernel builds for `kernel` (C-contiguous arrays, 32-bit indexing).

    Non-raw arrays are bound to references (``const float &w = _raw_w[_ind.get()];``),
    raw arrays keep their dimensions, scalars are passed by value; then the
    operation, inside CuPy's grid-stride loop.
    """
    params, binds = [], []
    for c_type, name, raw, is_const in _params(kernel.in_params, True) + _params(kernel.out_params, False):
        const = "const " if is_const else ""
        if name in SCALARS:
            params.append(f"{const}{c_type} {name}")
        elif raw:
            ndim = TABLE_NDIM if name in ("var", "accum") else 1
            params.append(f"{const}CArray<{c_type}, {ndim}, 1, 1> {name}")
        else:
            params.append(f"{const}CArray<{c_type}, 1, 1, 1> _raw_{name}")
            binds.append(f"{const}{c_type} &{name} = _raw_{name}[_ind.get()];")
    params.append("CIndexer<1, 1> _ind")
    operation = "\n".join([*binds, kernel.operation])
    head = "\n    \n    "  # CuPy's template: its (here empty) type declarations' line, then the preamble
    return f"""{head}{preamble}
    extern "C" __global__ void {cupy_engine.NAME}({", ".join(params)}) {{
      ;
      #pragma unroll 1
      CUPY_FOR(i, _ind.size()) {{
        _ind.set(i);
        {operation};
      }}
      ;
    }}
    """


STAND_INS = """
// Stand-ins for CuPy's <cupy/carray.cuh>: the indexing the kernels use, and no arithmetic.
template <typename T, int ndim, bool c_contiguous = true, bool use_32bit_indexing = false>
class CArray {
 public:
  T* data_;
  long long size_, shape_[ndim], strides_[ndim];
  __device__ T& operator[](long long i) { return data_[i]; }
  __device__ const T& operator[](long long i) const { return data_[i]; }
};
template <int ndim, bool use_32bit_indexing = false>
class CIndexer {
 public:
  long long size_, shape_[ndim], index_;
  __device__ long long size() const { return size_; }
  __device__ void set(long long i) { index_ = i; }
  __device__ long long get() const { return index_; }
};
#define CUPY_FOR(i, n) \\
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \\
         i += (long long)blockDim.x * gridDim.x)
"""


@functools.cache
def ptx_of(source: str, options: tuple[str, ...]) -> str:
    return nvrtc.compile_ptx(STAND_INS + source, options, arch=ARCH)[0]


FP = re.compile(r"\.f(32|64)\b")
LOADS = re.compile(r"^(ld|st|mov)\.")
ALLOWED = {
    f"{op}.{t}"
    for t in ("f32", "f64")
    for op in (
        "add.rn", "sub.rn", "mul.rn", "div.rn", "sqrt.rn", "fma.rn", "neg", "abs", "copysign",
        "setp.gt", "setp.lt", "setp.eq", "setp.neu", "selp",
    )
} | {"cvt.rn.f32.f64", "cvt.f64.f32"}
"""The floating-point instructions the primitives write (loads, stores and moves aside)."""

_PTX_OP = {"fma": "fma.rn", "divide": "div.rn", "sqrt": "sqrt.rn"}


def check_ptx(ptx: str, ops: Counter) -> None:
    """The PTX keeps subnormals and computes the formula's operations as written (see the module notes)."""
    found = nvrtc.instructions(ptx)
    assert found, "no instruction in the PTX"
    ftz = [op for op in found if ".ftz" in op]
    assert not ftz, f"{len(ftz)} flush-to-zero instructions: {Counter(ftz)}"
    other = {op for op in found if FP.search(op) and not LOADS.match(op)} - ALLOWED
    assert not other, f"floating-point instructions no primitive writes: {sorted(other)}"
    counts = Counter(found)
    fused = sum(n for op, n in counts.items() if op.startswith(("fma.", "mad.")))
    assert fused == ops["fma", "f32"] + ops["fma", "f64"], "fused multiply-adds other than the formula's fma"
    for (op, t), n in sorted(ops.items()):
        if op in _PTX_OP:
            instruction = f"{_PTX_OP[op]}.{t}"
            assert counts[instruction] == n, f"{counts[instruction]} {instruction}, the formula: {n}"


@needs_nvrtc
@pytest.mark.parametrize("kernel", KERNELS, ids=[k.id for k in KERNELS])
def test_ptx_keeps_subnormals_and_the_formula_s_operations(kernel: Kernel) -> None:
    check_ptx(ptx_of(cupy_source(kernel), cupy_engine.CUPY_OPTIONS), kernel.ops)


UNIQUE = list({cupy_source(k): k for k in KERNELS}.values())


@needs_nvrtc
@pytest.mark.parametrize("kernel", UNIQUE, ids=[k.id for k in UNIQUE])
def test_ptx_does_not_depend_on_the_options(kernel: Kernel) -> None:
    """CuPy's ``-ftz=true``, no flush requested, fast math: the same PTX, so no option can change a bit."""
    source = cupy_source(kernel)
    cupy_ptx = ptx_of(source, cupy_engine.CUPY_OPTIONS)
    assert ptx_of(source, PRECISE) == cupy_ptx
    assert ptx_of(source, FAST) == cupy_ptx


REPRESENTATIVE = [k for k in UNIQUE if "l1=0.05-l2=0.1" in k.id or k.id.startswith("sum")]


@needs_nvrtc
@pytest.mark.parametrize("kernel", REPRESENTATIVE, ids=[k.id for k in REPRESENTATIVE])
def test_the_machine_code_does_not_depend_on_the_options(kernel: Kernel) -> None:
    """After ptxas (NVRTC's own, ``sm_90``: H100, H200): the same cubin, byte for byte, whatever the options.

    ptxas contracts multiplies and adds by default; an instruction with an
    explicit rounding (``.rn``) it leaves alone.
    """
    source = STAND_INS + cupy_source(kernel)
    cubin = nvrtc.compile_cubin(source, cupy_engine.CUPY_OPTIONS, arch="sm_90")[0]
    assert cubin[:4] == b"\x7fELF"
    assert nvrtc.compile_cubin(source, PRECISE, arch="sm_90")[0] == cubin
    assert nvrtc.compile_cubin(source, FAST, arch="sm_90")[0] == cubin


def test_the_kernels_cover_every_formula_with_a_c_form() -> None:
    covered = {(name, part, dtype) for name, _, dtype, part in _formula_cases()}
    assert covered == {
        ("exact", "dense", "float32"),
        ("exact", "dense", "float64"),
        ("mindspore", "dense", "float32"),
        ("mindspore", "tail", "float32"),
        ("mindspore", "sparse", "float32"),
        ("tensorflow", "sparse_column", "float32"),
        ("tensorflow", "sparse_column", "float64"),
    }
    # exact: 2 dtypes (+ float64 gradient for float32) x 2 prox forms; others 1 prox form; 4 l1/l2; 2 kernels
    assert len(KERNELS) == (3 * 2 + 3 + 2) * 4 * 2 + 3
    assert {k.id.rsplit("-", 1)[1] for k in KERNELS if not k.id.startswith("sum")} == {"dense", "rows"}
    assert any(k.ops["fma", "f32"] == 4 for k in KERNELS)  # MindSpore's dense formula with l1 > 0


CONTROL = """
extern "C" __global__ void control(const float* x, const float* y, float* out) {
  const int i = threadIdx.x;
  out[i] = fmaf(x[i], y[i], x[i] * y[i] + sqrtf(x[i]) / y[i]);
}
"""


@needs_nvrtc
def test_plain_c_is_flushed_and_contracted_where_the_checks_look() -> None:
    """The checks can fail: plain C under CuPy's options flushes, and fast math contracts and approximates."""
    ptx = nvrtc.compile_ptx(CONTROL, cupy_engine.CUPY_OPTIONS, arch=ARCH)[0]
    found = Counter(nvrtc.instructions(ptx))
    assert found["fma.rn.ftz.f32"] == 1 and found["mul.rn.ftz.f32"] == 1 and found["sqrt.rn.ftz.f32"] == 1
    with pytest.raises(AssertionError, match="flush-to-zero"):
        check_ptx(ptx, Counter({("fma", "f32"): 1}))
    fast = nvrtc.compile_ptx(CONTROL, FAST, arch=ARCH)[0]
    assert any(".approx" in op for op in nvrtc.instructions(fast))
    with pytest.raises(AssertionError):
        check_ptx(fast, Counter({("fma", "f32"): 1, ("sqrt", "f32"): 1, ("divide", "f32"): 1}))
    precise = nvrtc.compile_ptx(CONTROL, PRECISE, arch=ARCH)[0]
    check_ptx(precise, Counter({("fma", "f32"): 1, ("sqrt", "f32"): 1, ("divide", "f32"): 1}))
    with pytest.raises(AssertionError, match="fused multiply-adds"):
        check_ptx(precise, Counter({("sqrt", "f32"): 1, ("divide", "f32"): 1}))


@needs_nvrtc
def test_nvrtc_reports_errors_with_its_log() -> None:
    with pytest.raises(nvrtc.NVRTCError, match="NVRTC_ERROR_COMPILATION") as caught:
        nvrtc.compile_ptx('extern "C" __global__ void k() { undefined_name(); }', arch=ARCH)
    assert "undefined_name" in caught.value.log


def test_instructions_are_read_off_ptx_lines() -> None:
    ptx = """
    .reg .f32 %f<4>;
    // begin inline asm
    { .reg .pred p; setp.neu.f32 p, %f1, %f2; selp.s32 %r1, 1, 0, p; }
    // end inline asm
    @%p1 bra $L__BB0_2;
    add.rn.f32 %f3, %f1, %f2; // add
$L__BB0_2:
    ret;
    """
    assert nvrtc.instructions(ptx) == ["setp.neu.f32", "selp.s32", "bra", "add.rn.f32", "ret"]


# With CuPy installed (no GPU needed): the reconstruction is CuPy's own source, and its options CUPY_OPTIONS.


def _cupy_internals() -> Any:
    try:
        import cupy
        from cupy._core import _carray, _kernel, _scalar
    except Exception as exc:  # not installed, or a CuPy without these internals
        pytest.skip(f"CuPy's kernel internals cannot be imported ({type(exc).__name__}: {exc})")
    return cupy, _kernel, _scalar, _carray


_ARG_NDARRAY, _ARG_INDEXER, _ARG_SCALAR = 1, 2, 3  # cupy/_core/_kernel.pxd, enum _ArgKind


def cupy_generated_source(kernel: Kernel) -> str:
    """The source CuPy's ElementwiseKernel generates for `kernel`'s call (CuPy's private code generator)."""
    cupy, _kernel, _scalar, _carray = _cupy_internals()
    k = cupy.ElementwiseKernel(
        kernel.in_params, kernel.out_params, kernel.operation, cupy_engine.NAME,
        preamble=cupy_engine.PREAMBLE, options=cupy_engine.KERNEL_OPTIONS,
    )
    params = k.params[:-1]  # the last is CuPy's indexer
    types = [None if p.name in SCALARS else p.dtype for p in params]
    n_in = len(k.in_params)
    _, _, type_map = k._decide_params_type(tuple(types[:n_in]), tuple(types[n_in:]))
    infos = []
    for p, t in zip(params, types, strict=True):
        if t is None:
            infos.append(_kernel._ArgInfo(_ARG_SCALAR, _scalar.CScalar, p.dtype, 0, True, True))
        else:
            ndim = TABLE_NDIM if p.raw and p.name in ("var", "accum") else 1
            infos.append(_kernel._ArgInfo(_ARG_NDARRAY, cupy.ndarray, np.dtype(t), ndim, True, True))
    infos.append(_kernel._ArgInfo(_ARG_INDEXER, _carray.Indexer, None, 1, True, True))
    return _kernel._get_elementwise_kernel_code(
        tuple(infos), type_map, k.params, k.operation, k.name, k.preamble
    )


@pytest.mark.parametrize("kernel", UNIQUE, ids=[k.id for k in UNIQUE])
def test_the_reconstruction_is_the_source_cupy_generates(kernel: Kernel) -> None:
    assert cupy_source(kernel) == cupy_generated_source(kernel)


class _Captured(Exception):
    """Raised once CuPy's compile path has handed NVRTC the kernel (no GPU to load it on)."""


@needs_nvrtc
@pytest.mark.parametrize("kernel", REPRESENTATIVE, ids=[k.id for k in REPRESENTATIVE])
def test_the_compile_path_of_cupy_passes_these_options_and_gets_this_ptx(
    kernel: Kernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CuPy's ``compile_with_cache`` (what ElementwiseKernel calls), stopped just after NVRTC has compiled."""
    _cupy_internals()
    from cupy._core import core
    from cupy.cuda import compiler

    monkeypatch.setenv("CUPY_CACHE_IN_MEMORY", "1")  # nothing written to CuPy's cache directory
    # PTX for compute_XX (as CUPY_COMPILE_WITH_PTX=1 asks), without asking the absent device for its arch
    ptx_for = lambda arch=None: (f"-arch=compute_{arch}", "ptx")  # noqa: E731
    monkeypatch.setattr(compiler, "_get_arch_for_options_for_nvrtc", ptx_for)
    captured: dict[str, Any] = {}
    real = compiler._NVRTCProgram.compile

    def compile_and_stop(self: Any, options: tuple[str, ...] = (), log_stream: Any = None) -> Any:
        result = real(self, options, log_stream)
        if self.src:  # CuPy first compiles an empty source to read NVRTC's version
            captured["options"], captured["ptx"] = options, result[0]
            raise _Captured
        return result

    monkeypatch.setattr(compiler._NVRTCProgram, "compile", compile_and_stop)
    try:
        core.compile_with_cache(cupy_generated_source(kernel), cupy_engine.KERNEL_OPTIONS, arch=ARCH[-2:])
    except _Captured:
        pass
    except RuntimeError as exc:  # e.g. "Failed to find CUDA headers" (pip install nvidia-cuda-runtime-cu12)
        pytest.skip(f"CuPy cannot assemble its compile options here: {exc}")
    options = [o for o in captured["options"] if not o.startswith(("-I", "-arch="))]
    assert options == list(cupy_engine.CUPY_OPTIONS)
    ptx = captured["ptx"].decode() if isinstance(captured["ptx"], bytes) else captured["ptx"]
    check_ptx(ptx, kernel.ops)
    arithmetic = [op for op in nvrtc.instructions(ptx) if FP.search(op) and not LOADS.match(op)]
    ours = ptx_of(cupy_source(kernel), cupy_engine.CUPY_OPTIONS)
    assert arithmetic == [op for op in nvrtc.instructions(ours) if FP.search(op) and not LOADS.match(op)]
