"""Fast evaluation engines for NumPy arrays: chunked NumPy and compiled numba.

A profile formula (:mod:`proxadagrad_ref._profiles`) is elementwise, so it can
be evaluated over any partition of the arrays without changing a bit. Three
engines evaluate the *same* formula function:

``"reference"``
    ``Profile.evaluate`` on the whole arrays (every array-API namespace). It
    allocates O(N) temporaries; it defines the results.
``"numpy"``
    The formula evaluated on cache-sized blocks of contiguous NumPy arrays,
    each block's results written straight into the outputs (in place, or into
    the two preallocated results), blocks spread over a small thread pool
    (NumPy releases the GIL inside its loops). The formula is recorded once
    per call as the list of NumPy calls it makes, then replayed on every
    block with ``out=`` into a few reused per-thread buffers (no allocation
    per block). Extra memory is O(threads x chunk). float16, float32 and float64.
``"numba"``
    The formula compiled by numba with its free names rebound to scalar
    implementations (:mod:`proxadagrad_ref._numba_ops`), in a serial loop
    that widens each element to float64 when the profile does; large arrays
    are cut into a few slices run on the same thread pool (the loop releases
    the GIL). No extra memory. float32 and float64 only (numba has no float16
    arithmetic). Used when the optional ``fast`` extra (numba) is installed.

``"cupy"``
    CuPy arrays: the formula as one fused elementwise kernel whose C++ body is
    generated from the formula (:mod:`proxadagrad_ref._cupy`). Opt-in: its
    body is verified on the CPU, the kernel not yet on a GPU.

``"auto"`` picks numba where it applies and is installed, else chunked NumPy,
else the reference path (non-NumPy namespaces, non-contiguous or overlapping
arrays). :func:`engine_info` says which engine a call would use. Block size
and thread count never change a result: ``tests/test_fast.py`` compares all
engines bit for bit, over several block sizes and thread counts.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import types as pytypes
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from . import _ops
from ._profiles import Formula, Profile

__all__ = [
    "CHUNK", "ENGINES", "engine_info", "evaluate", "indices_unique", "numba_available", "surely_non_negative",
    "warm_up",
]

Array = Any
Namespace = Any

ENGINES = ("auto", "reference", "numpy", "numba", "cupy")

CHUNK = 1 << 16
"""Block size of the chunked NumPy engine, in elements (64 Ki: 512 KiB in float64).

Measured here (16 Mi float32, exact profile, 2 threads): 16 Ki blocks 2.5-3x slower than
64 Ki (each of the ~20 ufunc calls per block hands the GIL over), 256 Ki slower again
(blocks leave the L2 cache).
"""

SMALL_CHUNK = 1 << 14
"""Block size for formulas with operations that allocate their results (no ``out=``):
it keeps those temporaries O(16 Ki) per thread."""

_MIN_PARALLEL = 1 << 16
"""Below this many elements the chunked engine runs on the calling thread."""

_NUMBA_MIN_PARALLEL = 1 << 18
"""Below this many elements the compiled loop runs on the calling thread (~0.5 ms of work)."""


_NUMBA: list[bool] = []


def numba_available() -> bool:
    """True when numba (the ``fast`` extra) is importable (looked up once)."""
    if not _NUMBA:
        _NUMBA.append(importlib.util.find_spec("numba") is not None)
    return _NUMBA[0]


_THREADS = max(1, min(os.cpu_count() or 1, 8))


def _threads() -> int:
    return _THREADS


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOL_LOCK = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    """The shared pool of `threads` workers (one per count: a running call never loses its pool)."""
    with _POOL_LOCK:
        found = _POOLS.get(threads)
        if found is None:
            found = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="proxadagrad")
            _POOLS[threads] = found
        return found


def _flat_inputs(xp: Namespace, arrays: tuple[Array, ...]) -> tuple[np.ndarray, ...] | None:
    """1-D views of NumPy arrays sharing one contiguous layout, or None when a fast engine can't apply."""
    if xp is not _numpy_namespace():
        return None
    if not all(type(x) is np.ndarray for x in arrays):
        return None
    if all(x.flags.c_contiguous for x in arrays):
        return tuple(x.reshape(-1) for x in arrays)
    if all(x.flags.f_contiguous for x in arrays):
        return tuple(x.reshape(-1, order="F") for x in arrays)
    return None


_NUMPY_NS: Namespace | None = None


def _numpy_namespace() -> Namespace:
    global _NUMPY_NS
    if _NUMPY_NS is None:
        import array_api_compat

        _NUMPY_NS = array_api_compat.array_namespace(np.empty(0))
    return _NUMPY_NS


def surely_non_negative(xp: Namespace, x: Array) -> bool:
    """True when `x` is a NumPy array whose minimum is ``>= 0`` (one pass, no temporary).

    False means "run the full check" (other namespaces, NaN present, or a
    negative entry, which the full check reports).
    """
    if type(x) is not np.ndarray or x.size == 0:
        return False
    return bool(np.min(x) >= 0)


def indices_unique(idx: Array) -> bool:
    """True when `idx` is a NumPy array with no repeated value (False means "group them").

    Increasing indices are recognised in one pass; others are sorted once.
    """
    if type(idx) is not np.ndarray or idx.ndim != 1:
        return False
    if idx.shape[0] < 2 or bool(np.all(idx[1:] > idx[:-1])):
        return True
    ordered = np.sort(idx)
    return not bool(np.any(ordered[1:] == ordered[:-1]))


def engine_info(
    dtype: Any = np.float32, emulate: str | None = None, *, engine: str = "auto"
) -> dict[str, Any]:
    """Which engine evaluates a contiguous NumPy step of `dtype` and profile `emulate`.

    Returns a dict with ``engine`` (``"numba"``, ``"numpy"`` or ``"reference"``),
    ``numba`` (its version, or None when not installed), ``chunk`` and ``threads``
    (of the chunked NumPy engine; ``chunk`` is :data:`CHUNK`, or :data:`SMALL_CHUNK`
    for formulas whose operations allocate their results, such as emulated FMA).

    Examples
    --------
    >>> import numpy as np
    >>> engine_info(np.float16)["engine"]
    'numpy'

    """
    from ._profiles import get_profile

    profile = get_profile(emulate, "adaptive", _numpy_namespace(), np.dtype(dtype))
    version = None
    if numba_available():
        from importlib.metadata import version as _version

        version = _version("numba")
    return {
        "engine": _choose(engine, profile, np.dtype(dtype), fast_ok=True),
        "numba": version,
        "chunk": CHUNK,
        "threads": _threads(),
    }


def _choose(engine: str, profile: Profile, dtype: np.dtype[Any], *, fast_ok: bool) -> str:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "reference":
        return "reference"
    if not fast_ok:
        if engine == "auto":
            return "reference"
        raise ValueError(
            f"engine={engine!r} needs contiguous NumPy arrays of one layout that do not overlap; "
            "use engine='auto' or 'reference'"
        )
    numba_ok = dtype in (np.float32, np.float64)
    if engine == "numba":
        if not numba_available():
            raise ImportError("engine='numba' needs numba: pip install 'proxadagrad_ref[fast]'")
        if not _compilable(profile):
            raise ValueError(
                f"engine='numba' has no scalar version of an operation of the {profile.name} profile"
            )
        if not numba_ok:
            raise TypeError(
                f"engine='numba' supports float32 and float64, not {dtype} (numba has no float16)"
            )
        return "numba"
    if engine == "auto" and numba_ok and numba_available() and _compilable(profile):
        return "numba"
    return "numpy"


_COMPILABLE: dict[Profile, bool] = {}


def _compilable(profile: Profile) -> bool:
    """True when every operation the profile's formulas use has a numba scalar version (cached)."""
    found = _COMPILABLE.get(profile)
    if found is None:
        from ._numba_ops import SCALAR_OPS
        from ._ops import OPS

        formulas = (profile.dense, profile.sparse, profile.tail, profile.sparse_tail, profile.sparse_column)
        used = {name for f in formulas if f is not None for name in f.__code__.co_names if name in OPS}
        found = _COMPILABLE[profile] = used <= SCALAR_OPS.keys()
    return found


def evaluate(
    profile: Profile, formula: Formula, xp: Namespace, var: Array, accum: Array, grad: Array,
    lr: Array, l1: Array, l2: Array, *, prox_step: str, out: tuple[Array, Array] | None = None,
    engine: str = "auto", chunk: int | None = None, threads: int | None = None,
) -> tuple[Array, Array]:
    """``profile.evaluate`` with a choice of engine, optionally writing into `out`.

    With ``out=(w_out, a_out)`` the results are written there (they may be
    `var` and `accum` themselves: the update is elementwise, and each block is
    read before it is written) and `out` is returned; otherwise two new arrays.
    `chunk` (chunked NumPy engine) and `threads` (both fast engines) never change a bit.
    """
    if engine == "cupy":  # opt-in until it has run on a GPU in the tests (see _cupy)
        from . import _cupy

        return _cupy.evaluate(
            profile, formula, xp, var, accum, grad, lr, l1, l2, prox_step=prox_step, out=out
        )
    arrays = (var, accum, grad) if out is None else (var, accum, grad, *out)
    flat = _flat_inputs(xp, arrays)
    fast_ok = flat is not None and not _overlap(var, accum, grad, out)
    name = _choose(engine, profile, np.dtype(var.dtype) if fast_ok else np.dtype("float64"), fast_ok=fast_ok)
    if name == "reference":
        w_new, a_new = profile.evaluate(formula, xp, var, accum, grad, lr, l1, l2, prox_step=prox_step)
        if out is None:
            if isinstance(w_new, np.generic):  # NumPy arithmetic on 0-d arrays returns scalars
                return np.asarray(w_new), np.asarray(a_new)
            return w_new, a_new
        out[0][...] = w_new
        out[1][...] = a_new
        return out
    if out is None:
        out = (np.empty_like(var), np.empty_like(accum))
        assert flat is not None
        flat = (*flat[:3], *_flat_inputs(xp, out))  # type: ignore[misc]
    assert flat is not None
    w, a, g, w_out, a_out = flat
    adaptive = prox_step == "adaptive"
    threads = _threads() if threads is None else threads
    if name == "numba":
        in_place = out[0] is var and out[1] is accum
        _numba_evaluate(
            profile, formula, w, a, g, lr, l1, l2, adaptive, w_out, a_out, threads=threads, in_place=in_place
        )
    else:
        _chunked_evaluate(
            profile, formula, w, a, g, lr, l1, l2, adaptive, w_out, a_out,
            chunk=chunk, threads=threads,
        )
    return out


def _overlap(var: Array, accum: Array, grad: Array, out: tuple[Array, Array] | None) -> bool:
    """True when blockwise evaluation could read what it already wrote (partial aliasing)."""
    if out is None:
        return False
    w_out, a_out = out
    pairs = [(w_out, a_out), (w_out, grad), (a_out, grad), (w_out, accum), (a_out, var)]
    if w_out is not var:
        pairs.append((w_out, var))
    if a_out is not accum:
        pairs.append((a_out, accum))
    return any(np.may_share_memory(x, y) for x, y in pairs)


# -- chunked NumPy ---------------------------------------------------------------------------
#
# The formula is run once on recording stand-ins (:class:`_Node`) that carry a one-element
# sample of their value: this yields the exact sequence of NumPy calls the formula makes on
# whole arrays, with every dtype known. Each block then replays that sequence, writing each
# ufunc result (``out=``) into a small set of per-thread buffers that are reused as soon as a
# value is dead; vocabulary ops without a ufunc (fma, signum, ...) are called as they are.
# Same functions, same operands, same dtypes as ``Profile.evaluate``: the same bits.

_UFUNC_OPS: dict[str, np.ufunc] = {
    "sqrt": np.sqrt,
    "absolute": np.absolute,
    "sign": np.sign,
    "maximum": np.maximum,
}
"""Vocabulary ops that *are* a NumPy ufunc for NumPy arrays (``_ops`` calls exactly these)."""


class _Untraceable(Exception):
    """The formula did something a recording can't replay (e.g. branched on array values)."""


class _Step:
    __slots__ = ("args", "fn", "out", "refs", "ufunc")

    def __init__(self, fn: Any, args: list[Any], refs: list[tuple[int, int]], ufunc: bool) -> None:
        self.fn, self.args, self.refs, self.ufunc = fn, args, refs, ufunc
        self.out = -1  # buffer index of a ufunc's result


class _Recording:
    def __init__(self) -> None:
        self.steps: list[_Step] = []
        self.dtypes: list[np.dtype[Any]] = []  # dtype of each value (inputs first, then steps)

    def record(self, fn: Any, args: tuple[Any, ...], ufunc: bool) -> Any:
        nodes = [(k, x) for k, x in enumerate(args) if isinstance(x, _Node)]
        if not nodes:
            return fn(*args)  # constants only (hyper-parameters): computed now, as on whole arrays
        if any(x.recording is not self for _, x in nodes):
            raise _Untraceable("values of two recordings mixed")
        sample = fn(*(x.sample if isinstance(x, _Node) else x for x in args))
        if not isinstance(sample, np.ndarray) or sample.shape != (1,):
            raise _Untraceable(f"{getattr(fn, '__name__', fn)} gave {type(sample).__name__}")
        template = [None if isinstance(x, _Node) else x for x in args]
        self.steps.append(_Step(fn, template, [(k, x.index) for k, x in nodes], ufunc))
        self.dtypes.append(sample.dtype)
        return _Node(self, len(self.dtypes) - 1, sample)


def _binary(ufunc: np.ufunc) -> tuple[Any, Any]:
    def op(self: _Node, other: Any) -> Any:
        return self.recording.record(ufunc, (self, other), True)

    def reflected(self: _Node, other: Any) -> Any:
        return self.recording.record(ufunc, (other, self), True)

    return op, reflected


class _Node:
    """A value of the formula during recording: its place in the recording and a 1-element sample."""

    __slots__ = ("index", "recording", "sample")
    __array_ufunc__ = None  # NumPy scalars and 0-d arrays defer to the reflected operators

    def __init__(self, recording: _Recording, index: int, sample: np.ndarray) -> None:
        self.recording, self.index, self.sample = recording, index, sample

    def __bool__(self) -> bool:
        raise _Untraceable("the formula branches on array values")

    __add__, __radd__ = _binary(np.add)
    __sub__, __rsub__ = _binary(np.subtract)
    __mul__, __rmul__ = _binary(np.multiply)
    __truediv__, __rtruediv__ = _binary(np.true_divide)
    __gt__, __lt__ = _binary(np.greater)[0], _binary(np.less)[0]
    __ge__, __le__ = _binary(np.greater_equal)[0], _binary(np.less_equal)[0]
    __eq__, __ne__ = _binary(np.equal)[0], _binary(np.not_equal)[0]
    __hash__ = None  # type: ignore[assignment]

    def __neg__(self) -> Any:
        return self.recording.record(np.negative, (self,), True)


def _recording_op(name: str) -> Any:
    fn, ufunc = (_UFUNC_OPS[name], True) if name in _UFUNC_OPS else (_ops.OPS[name], False)

    def op(*args: Any) -> Any:
        for x in args:
            if isinstance(x, _Node):
                return x.recording.record(fn, args, ufunc)
        return _ops.OPS[name](*args)  # constants only: the array op itself

    op.__name__ = name
    return op


_RECORDING_OPS = {name: _recording_op(name) for name in _ops.OPS}
_RECORDERS: dict[Formula, Formula] = {}


class _Program:
    """A formula's recorded NumPy calls, with buffers assigned by liveness.

    With `convert` the three inputs are first copied (widened exactly) into
    buffers of the compute dtype; those buffers join the same liveness pool, so
    an input's buffer is reused once its last reader has run.
    """

    def __init__(self, recording: _Recording, outputs: tuple[int, int], convert: bool) -> None:
        self.steps = recording.steps
        self.outputs = outputs
        self.buffer_dtypes: list[np.dtype[Any]] = []
        self.inputs: list[int] = []  # buffer of each converted input (empty without `convert`)
        last_use = {i: len(self.steps) for i in outputs}
        for s, step in enumerate(self.steps):
            for _, i in step.refs:
                last_use[i] = max(last_use.get(i, -1), s)
        holder: dict[int, int] = {}  # value index -> buffer holding it
        free: list[int] = []

        def allocate(value: int, dtype: np.dtype[Any], now: int) -> int:
            found = next((b for b in free if self.buffer_dtypes[b] == dtype), None)
            if found is None:
                found = len(self.buffer_dtypes)
                self.buffer_dtypes.append(dtype)
            else:
                free.remove(found)
            if last_use.get(value, -1) > now:
                holder[value] = found
            else:
                free.append(found)
            return found

        if convert:
            self.inputs = [allocate(i, recording.dtypes[i], -1) for i in range(3)]
        for s, step in enumerate(self.steps):
            for _, i in step.refs:  # a ufunc may write over an operand it reads elementwise
                if last_use.get(i) == s and i in holder:
                    free.append(holder.pop(i))
            if step.ufunc:
                step.out = allocate(3 + s, recording.dtypes[3 + s], s)

    def run(self, blocks: list[np.ndarray], buffers: list[np.ndarray], m: int) -> tuple[Any, Any]:
        """Replay on one block: `blocks` are the block's (w, a, g), converted first when needed."""
        values: list[Any] = blocks
        if self.inputs:
            values = []
            for x, b in zip(blocks, self.inputs, strict=True):
                values.append(buffers[b][:m])
                np.copyto(values[-1], x, casting="unsafe")  # astype's conversion, into a buffer
        for step in self.steps:
            args = step.args.copy()
            for k, i in step.refs:
                args[k] = values[i]
            if step.ufunc:
                values.append(step.fn(*args, out=buffers[step.out][:m]))
            else:
                values.append(step.fn(*args))
        return values[self.outputs[0]], values[self.outputs[1]]


def _record(
    formula: Formula, compute: np.dtype[Any], hyper: tuple[Array, ...], adaptive: bool, convert: bool
) -> _Program:
    """Run `formula` once on recording stand-ins for (w, a, g); `hyper` are the real values."""
    recorder = _RECORDERS.get(formula)
    if recorder is None:
        scalar_globals = dict(formula.__globals__)
        scalar_globals.update(_RECORDING_OPS)
        recorder = _RECORDERS[formula] = pytypes.FunctionType(
            formula.__code__, scalar_globals, formula.__name__, formula.__defaults__, formula.__closure__
        )
    recording = _Recording()
    leaves = [_Node(recording, i, np.ones(1, compute)) for i in range(3)]
    recording.dtypes.extend([compute] * 3)
    with np.errstate(all="ignore"):
        w_new, a_new = recorder(*leaves, *hyper, adaptive)
    if not (isinstance(w_new, _Node) and isinstance(a_new, _Node)):
        raise _Untraceable("a result does not depend on the arrays")
    return _Program(recording, (w_new.index, a_new.index), convert)


def _chunked_evaluate(
    profile: Profile, formula: Formula, w: np.ndarray, a: np.ndarray, g: np.ndarray,
    lr: Array, l1: Array, l2: Array, adaptive: bool, w_out: np.ndarray, a_out: np.ndarray,
    *, chunk: int | None, threads: int,
) -> None:
    """Evaluate `formula` block by block; each block's results go straight into the outputs.

    `chunk` None: :data:`CHUNK`, or :data:`SMALL_CHUNK` when the formula calls
    operations that allocate their own results (emulated FMA, rsqrt, ...).
    """
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk must be a positive number of elements, got {chunk}")
    compute = np.dtype(profile.compute_dtype(_numpy_namespace(), w.dtype))
    # Profile.evaluate converts everything to the compute dtype unless all inputs already have it.
    convert = any(x.dtype != compute for x in (w, a, g, lr, l1, l2))
    hyper = tuple(np.asarray(h, dtype=compute) for h in (lr, l1, l2))
    n = w.shape[0]
    program: _Program | None = None
    if n > (SMALL_CHUNK if chunk is None else chunk):  # one block: the formula is as fast as a replay
        try:
            program = _record(formula, compute, hyper, adaptive, convert)
        except (_Untraceable, TypeError):  # e.g. an operator the stand-ins lack: blocks call the formula
            program = None
    if chunk is None:
        allocating = program is None or not all(step.ufunc for step in program.steps)
        chunk = SMALL_CHUNK if allocating else CHUNK
    size = chunk
    local = threading.local()
    errstate = np.geterr()  # np.errstate is per thread (a context variable): carry it to the workers

    def block(start: int) -> None:
        with np.errstate(**errstate):
            _block(start)

    def _block(start: int) -> None:
        stop = min(start + size, n)
        m = stop - start
        inputs: list[np.ndarray] = [w[start:stop], a[start:stop], g[start:stop]]
        if program is None:
            if convert:
                inputs = [x.astype(compute) for x in inputs]
            w_new, a_new = formula(*inputs, *hyper, adaptive)
        else:
            buffers = getattr(local, "buffers", None)
            if buffers is None:
                buffers = local.buffers = [np.empty(min(size, n), dt) for dt in program.buffer_dtypes]
            w_new, a_new = program.run(inputs, buffers, m)
        # Same rounding as ``astype`` in Profile.evaluate (C cast, round to nearest even).
        np.copyto(w_out[start:stop], w_new, casting="same_kind")
        np.copyto(a_out[start:stop], a_new, casting="same_kind")

    starts = range(0, n, chunk)
    if threads <= 1 or n < _MIN_PARALLEL or len(starts) < 2:
        for start in starts:
            block(start)
        return
    for _ in _pool(threads).map(block, starts):
        pass


# -- numba -----------------------------------------------------------------------------------

_KERNELS: dict[tuple[Formula, np.dtype[Any], str], Any] = {}
_KERNELS_LOCK = threading.Lock()


def _kernel(formula: Formula, compute: np.dtype[Any], kind: str = "dense") -> Any:
    """The compiled loops of `formula` for compute dtype `compute` (built once, kept).

    ``kind="dense"``: ``(into_outputs, in_place)`` of ``_numba_ops.make_kernel``;
    ``kind="rows"``: ``(rows_non_negative, rows_in_place)`` of ``_numba_ops.make_row_kernel``.
    """
    key = (formula, compute, kind)
    with _KERNELS_LOCK:
        found = _KERNELS.get(key)
        if found is None:
            from . import _numba_ops

            scalar = _numba_ops.compile_formula(formula, compute)
            make = _numba_ops.make_kernel if kind == "dense" else _numba_ops.make_row_kernel
            found = _KERNELS[key] = make(scalar, compute)
        return found


def _numba_evaluate(
    profile: Profile, formula: Formula, w: np.ndarray, a: np.ndarray, g: np.ndarray,
    lr: Array, l1: Array, l2: Array, adaptive: bool, w_out: np.ndarray, a_out: np.ndarray,
    *, threads: int, in_place: bool,
) -> None:
    """Run the compiled loop over the whole arrays, or over `threads` slices on the pool.

    `in_place`: the outputs are the inputs `w` and `a` (their flat views).
    """
    compute = np.dtype(profile.compute_dtype(_numpy_namespace(), w.dtype))
    into_outputs, over_inputs = _kernel(formula, compute)
    hyper = (lr[()], l1[()], l2[()])

    def run(start: int, stop: int) -> None:
        if in_place:
            over_inputs(w[start:stop], a[start:stop], g[start:stop], *hyper, adaptive)
        else:
            into_outputs(
                w[start:stop], a[start:stop], g[start:stop], *hyper, adaptive,
                w_out[start:stop], a_out[start:stop],
            )

    n = w.shape[0]
    if threads <= 1 or n < _NUMBA_MIN_PARALLEL:
        run(0, n)
        return
    # A few slices per thread: on a loaded machine a descheduled worker holds up less.
    pieces = min(4 * threads, max(1, n // (_NUMBA_MIN_PARALLEL // 2)))
    bounds = [n * k // pieces for k in range(pieces + 1)]
    for _ in _pool(threads).map(run, bounds[:-1], bounds[1:]):
        pass


def update_rows(
    profile: Profile, formula: Formula, xp: Namespace, var: Array, accum: Array, grad: Array,
    idx: Array, lr: Array, l1: Array, l2: Array, *, prox_step: str, inplace: bool = True,
    threads: int | None = None,
) -> tuple[Array, Array] | None:
    """The rows ``idx`` of `var` and `accum` updated by one compiled pass; None if this path can't.

    The fused form of "gather the rows, evaluate `formula`, scatter them back":
    the same formula, conversions and rounding on each element, so the same
    bits, without the four passes of gathered copies. It applies to C-contiguous
    float32/float64 NumPy tables with numba installed, `grad` rows of shape
    ``(len(idx),) + var.shape[1:]`` and *distinct* indices. Before writing, it
    checks that the touched accumulators are ``>= 0``; if one is not (or NaN),
    it returns None, so the caller's general path reports or handles it.
    Returns ``(var, accum)`` updated in place, or (``inplace=False``) updated
    copies; None means nothing was written or copied: use the general path.
    """
    if xp is not _numpy_namespace() or not numba_available():
        return None
    if not all(type(x) is np.ndarray and x.flags.c_contiguous for x in (var, accum, grad, idx)):
        return None
    if var.dtype != accum.dtype or var.dtype not in (np.float32, np.float64) or var.ndim < 1:
        return None
    if grad.dtype not in (np.float32, np.float64) or idx.dtype != np.int64 or idx.ndim != 1:
        return None
    if not _compilable(profile) or np.may_share_memory(var, accum) or np.may_share_memory(grad, var) \
            or np.may_share_memory(grad, accum):
        return None
    compute = np.dtype(profile.compute_dtype(_numpy_namespace(), var.dtype))
    k = idx.shape[0]
    inner = var.size // var.shape[0] if var.shape[0] else 0
    if grad.size != k * inner:
        return None
    non_negative, in_place = _kernel(formula, compute, "rows")
    if not non_negative(accum.reshape(accum.shape[0], inner), idx):
        return None
    if not inplace:
        var, accum = var.copy(), accum.copy()
    table, acc, rows = var.reshape(var.shape[0], inner), accum.reshape(accum.shape[0], inner), \
        grad.reshape(k, inner)
    hyper = (lr[()], l1[()], l2[()])
    adaptive = prox_step == "adaptive"
    threads = _threads() if threads is None else threads
    if threads <= 1 or k * inner < _NUMBA_MIN_PARALLEL or k < 2:
        in_place(table, acc, rows, idx, *hyper, adaptive)
        return var, accum
    pieces = min(4 * threads, k)
    bounds = [k * j // pieces for j in range(pieces + 1)]

    def run(start: int, stop: int) -> None:
        in_place(table, acc, rows[start:stop], idx[start:stop], *hyper, adaptive)

    for _ in _pool(threads).map(run, bounds[:-1], bounds[1:]):
        pass
    return var, accum


_WALK_BELOW = 1 / 256
"""Walk ``indptr`` (numba) when it holds fewer than this many stored entries per row, else scan it.

Measured (1 Mi-row ``indptr``, between sparse steps that evict it from the caches): the walk
costs ~0.3 µs per touched row (dependent cache misses), the NumPy scan ~0.8 ns per row."""


def csr_touched_rows(indptr: np.ndarray) -> np.ndarray:
    """Rows of a CSR matrix that hold at least one stored entry, ascending (int64).

    A very sparse matrix (fewer than :data:`_WALK_BELOW` entries per row) is
    walked from one non-empty row to the next (numba, O(touched rows x log
    gap)); otherwise ``indptr`` is scanned with one NumPy comparison (O(rows),
    but at memory speed).
    """
    rows = indptr.shape[0] - 1
    if numba_available() and rows > 0 and indptr.dtype in (np.int32, np.int64):
        if int(indptr[-1]) - int(indptr[0]) < rows * _WALK_BELOW:
            return _csr_walk(indptr)
    return _csr_scan(indptr)


def _csr_walk(indptr: np.ndarray) -> np.ndarray:
    from ._numba_ops import csr_touched_rows as walk

    return np.asarray(walk(indptr))


def _csr_scan(indptr: np.ndarray) -> np.ndarray:
    return np.flatnonzero(indptr[1:] != indptr[:-1]).astype(np.int64)


def warm_up(emulate: str | None = None, dtype: Any = np.float32, prox_step: str = "adaptive") -> None:
    """Compile the numba kernels of a profile ahead of time (no-op without numba).

    Both loops of each formula (into new arrays, and in place) for `dtype`.
    """
    from ._profiles import get_profile

    dt = np.dtype(dtype)
    if not numba_available() or dt not in (np.float32, np.float64):
        return
    profile = get_profile(emulate, prox_step, _numpy_namespace(), dt)
    h = np.asarray(0.5, dt)
    for formula in {profile.dense, profile.sparse}:
        w, a, g = np.ones(4, dt), np.ones(4, dt), np.ones(4, dt)
        evaluate(profile, formula, _numpy_namespace(), w, a, g, h, h, h, prox_step=prox_step, engine="numba")
        evaluate(profile, formula, _numpy_namespace(), w, a, g, h, h, h, prox_step=prox_step, engine="numba",
                 out=(w, a))
