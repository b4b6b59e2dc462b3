"""Choosing an engine and running it: :func:`evaluate` (an :class:`~.step.Elementwise`), :func:`update_rows`.

A profile formula (:mod:`proxadagrad_ref.numerics.profiles`) is elementwise,
so it can be evaluated over any partition of the arrays without changing a
bit. The engines evaluate the *same* formula function:

``"reference"``
    Whole arrays of every array-API namespace (:mod:`.reference`). It
    allocates O(N) temporaries; it defines the results.
``"numpy"``
    Cache-sized blocks of contiguous NumPy arrays, each block's results
    written straight into the outputs, blocks spread over a small thread pool
    (:mod:`.chunked`). float16, float32 and float64.
``"numba"``
    The formula compiled by numba (:mod:`.numba`), in a serial loop over
    slices run on the same thread pool. No extra memory. float16 (held as its
    bits, widened on the load and rounded once on the store), float32 and
    float64. numba is a dependency where it has wheels (CPython 3.10-3.15 on
    Linux x86-64 and aarch64, Windows x86-64, macOS arm64); where it is
    absent, or installed but fails to import (a NumPy newer than numba
    supports makes ``import numba`` raise), the NumPy engines run instead,
    with the same bits, and :func:`engine_info` says why.
``"cupy"``
    CuPy arrays: the formula as one fused elementwise kernel whose C++ body is
    generated from the formula (:mod:`.cupy`), every float operation inline
    PTX that CuPy's forced ``-ftz=true`` cannot flush.

``"auto"`` picks numba where it applies and is installed, else chunked NumPy,
else the reference engine (non-NumPy namespaces, non-contiguous or
overlapping arrays). :func:`engine_info` says which engine a call would use.
CuPy arrays never run through CuPy's own (flushing) float operations:
``"auto"`` runs the fused kernel where one applies and the NumPy engines on
host copies elsewhere, ``"reference"`` the reference engine on host copies
(:mod:`.cupy` gives the evidence).
Block size and thread count never change a result: the engine tests compare
all engines bit for bit, over several block sizes and thread counts.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from typing import Any

import numpy as np

from ..backends.compat import is_cupy_namespace, non_negative, numpy_namespace
from ..backends.host import empty_aligned
from ..numerics.ops import VOCABULARY
from ..numerics.profiles import Profile, get_profile, hyper_dtype_name
from . import chunked, pool, reference
from .step import Elementwise, RowUpdate

__all__ = [
    "ENGINES",
    "NumbaImportWarning",
    "check_engine",
    "engine_info",
    "evaluate",
    "numba_available",
    "numba_unavailable",
    "rows_non_negative",
    "update_rows",
    "warm_up",
]

Array = Any
Namespace = Any

ENGINES = ("auto", "reference", "numpy", "numba", "cupy")

_NUMBA: list[str | None] = []

ALIGN_FROM = 1 << 16
"""Bytes of a result from which it is allocated at :data:`~proxadagrad_ref.backends.host.ALIGNMENT`
(``empty_aligned`` costs ~1.6 us more than ``numpy.empty_like``; below 64 KiB a copy by JAX costs less)."""


class NumbaImportWarning(RuntimeWarning):
    """numba is installed but cannot be imported: the NumPy engines run instead (same bits, slower)."""


def _probe_numba() -> str | None:
    """Why the numba engine cannot run in this process, or None (numba and this package's engine import)."""
    if importlib.util.find_spec("numba") is None:
        return "numba is not installed"
    try:
        importlib.import_module("numba")  # raises ImportError where NumPy is newer than numba supports
        importlib.import_module(f"{__package__}.numba")
    except (ImportError, OSError) as exc:  # OSError: llvmlite's shared library did not load
        return f"numba is installed but failed to import ({type(exc).__name__}: {exc})"
    return None


def numba_unavailable() -> str | None:
    """Why the numba engine cannot run here (None when it can); found once, by importing numba.

    numba installed but failing to import gives one :class:`NumbaImportWarning`.
    """
    if not _NUMBA:
        reason = _probe_numba()
        _NUMBA.append(reason)
        if reason is not None and reason != "numba is not installed":
            warnings.warn(
                f"proxadagrad_ref: {reason}; the NumPy engines run instead (the same bits, slower)",
                NumbaImportWarning,
                stacklevel=3,
            )
    return _NUMBA[0]


def numba_available() -> bool:
    """True when the numba engine can run (numba imports; see :func:`numba_unavailable`)."""
    return numba_unavailable() is None


def check_engine(engine: object, xp: Namespace) -> None:
    """Refuse an `engine` that is not a name of :data:`ENGINES`, or ``"cupy"`` for other arrays."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "cupy" and not is_cupy_namespace(xp):
        raise ValueError("engine='cupy' needs CuPy arrays")


def _flat(arrays: tuple[Array, ...]) -> tuple[np.ndarray, ...] | None:
    """1-D views of NumPy arrays sharing one contiguous layout, or None when a fast engine can't apply."""
    if not all(type(x) is np.ndarray for x in arrays):
        return None
    if all(x.flags.c_contiguous for x in arrays):
        return tuple(x.reshape(-1) for x in arrays)
    if all(x.flags.f_contiguous for x in arrays):
        return tuple(x.reshape(-1, order="F") for x in arrays)
    return None


def _overlap(task: Elementwise, out: tuple[Array, Array] | None) -> bool:
    """True when blockwise evaluation could read what it already wrote (partial aliasing)."""
    if out is None:
        return False
    var, accum, grad = task.var, task.accum, task.grad
    w_out, a_out = out
    pairs = [(w_out, a_out), (w_out, grad), (a_out, grad), (w_out, accum), (a_out, var)]
    if w_out is not var:
        pairs.append((w_out, var))
    if a_out is not accum:
        pairs.append((a_out, accum))
    return any(np.may_share_memory(x, y) for x, y in pairs)


_COMPILABLE: dict[Profile, bool] = {}


def _compilable(profile: Profile) -> bool:
    """True when every operation the profile's formulas use has a numba scalar version (cached)."""
    found = _COMPILABLE.get(profile)
    if found is None:
        from .numba import SCALAR_OPS

        formulas = (profile.dense, profile.sparse, profile.tail, profile.sparse_tail, profile.sparse_column)
        used = {name for f in formulas if f is not None for name in f.__code__.co_names if name in VOCABULARY}
        found = _COMPILABLE[profile] = used <= SCALAR_OPS.keys()
    return found


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
    numba_ok = dtype in (np.float16, np.float32, np.float64)
    if engine == "numba":
        reason = numba_unavailable()
        if reason is not None:
            raise ImportError(f"engine='numba' cannot run: {reason}")
        if not _compilable(profile):
            raise ValueError(
                f"engine='numba' has no scalar version of an operation of the {profile.name} profile"
            )
        if not numba_ok:
            raise TypeError(f"engine='numba' supports float16, float32 and float64, not {dtype}")
        return "numba"
    if engine == "auto" and numba_ok and numba_available() and _compilable(profile):
        return "numba"
    return "numpy"


def evaluate(
    task: Elementwise,
    *,
    out: tuple[Array, Array] | None = None,
    engine: str = "auto",
    chunk: int | None = None,
    threads: int | None = None,
) -> tuple[Array, Array]:
    """``(var_new, accum_new)`` of `task` by the chosen engine, optionally written into `out`.

    With ``out=(w_out, a_out)`` the results are written there (they may be
    `var` and `accum` themselves: the update is elementwise, and each block is
    read before it is written) and `out` is returned; otherwise two new arrays.
    `chunk` (chunked NumPy engine) and `threads` (both NumPy engines) never change a bit.
    """
    if engine == "cupy" or (engine in ("auto", "reference") and is_cupy_namespace(task.xp)):
        from . import cupy  # CuPy's own float operations flush subnormals: see .cupy

        return cupy.evaluate(task, out, engine)
    arrays = (task.var, task.accum, task.grad) if out is None else (task.var, task.accum, task.grad, *out)
    flat = _flat(arrays) if task.xp is numpy_namespace() else None
    fast_ok = flat is not None and not _overlap(task, out)
    dtype = np.dtype(task.var.dtype) if fast_ok else np.dtype("float64")
    name = _choose(engine, task.profile, dtype, fast_ok=fast_ok)
    if name == "reference":
        w_new, a_new = reference.evaluate(task)
        if out is None:
            return w_new, a_new
        out[0][...] = w_new
        out[1][...] = a_new
        return out
    assert flat is not None
    if out is None:
        # aligned, JAX wraps large results without a copy; a small one costs more to align than to copy
        new = empty_aligned if task.var.nbytes >= ALIGN_FROM else np.empty_like
        out = (new(task.var), new(task.accum))
        flat_out = _flat(out)
        assert flat_out is not None
        flat = (*flat[:3], *flat_out)
    threads = pool.THREADS if threads is None else threads
    if name == "numba":
        from . import numba

        in_place = out[0] is task.var and out[1] is task.accum
        numba.evaluate(task, flat, in_place=in_place, threads=threads)
    else:
        chunked.evaluate(task, flat, chunk=chunk, threads=threads)
    return out


def rows_non_negative(xp: Namespace, accum: Array, idx: Array) -> bool:
    """True when every element of the rows ``accum[idx]`` is ``>= 0``; False at a negative or NaN entry.

    One compiled pass over the touched rows for a contiguous NumPy table with
    numba (no gathered copy), else a gather and a comparison.
    """
    if type(accum) is np.ndarray and type(idx) is np.ndarray and accum.ndim >= 1 and accum.shape[0]:
        if (
            numba_available()
            and accum.flags.c_contiguous
            and idx.dtype == np.int64
            and accum.dtype in (np.float32, np.float64)
        ):
            from .numba import rows_non_negative as compiled

            return bool(compiled(accum.reshape(accum.shape[0], -1), idx))
    rows = xp.take(accum, idx, axis=0)
    with np.errstate(invalid="ignore"):
        return bool(xp.all(non_negative(xp, rows)))  # rows >= 0, subnormals included on every library


def update_rows(
    task: RowUpdate, *, inplace: bool, engine: str = "auto", threads: int | None = None
) -> tuple[Array, Array] | None:
    """The rows of `task` updated where they lie in one fused pass; None when no fused engine applies.

    Unless ``task.checked``, the touched accumulators are checked first (a
    negative or NaN one: None). numba (``engine`` ``"auto"`` or ``"numba"``): C-contiguous float32/float64
    NumPy tables, gradient rows of the table's dtype family, int64 indices,
    nothing overlapping. CuPy (``engine`` ``"auto"`` or ``"cupy"``): see :mod:`.cupy`. None means
    nothing has been written or copied: the caller's general path (gather,
    evaluate, scatter) applies. Returns ``(var, accum)`` updated in place, or updated copies.
    """
    if engine == "cupy" or is_cupy_namespace(task.xp):
        from . import cupy

        return cupy.update_rows(task, inplace=inplace, engine=engine)
    if engine not in ("auto", "numba") or not _fused_rows_apply(task):
        return None
    from . import numba

    with np.errstate(all="ignore"):
        return numba.update_rows(task, inplace=inplace, threads=pool.THREADS if threads is None else threads)


def _fused_rows_apply(task: RowUpdate) -> bool:
    var, accum, grad, idx = task.var, task.accum, task.grad, task.idx
    if task.xp is not numpy_namespace() or not numba_available():
        return False
    if not all(type(x) is np.ndarray and x.flags.c_contiguous for x in (var, accum, grad, idx)):
        return False
    if var.dtype != accum.dtype or var.dtype not in (np.float32, np.float64) or var.ndim < 1:
        return False
    if grad.dtype not in (np.float32, np.float64) or idx.dtype != np.int64 or idx.ndim != 1:
        return False
    if not _compilable(task.profile):
        return False
    if any(np.may_share_memory(x, y) for x, y in ((var, accum), (grad, var), (grad, accum))):
        return False
    inner = var.size // var.shape[0] if var.shape[0] else 0
    return bool(grad.size == idx.shape[0] * inner)


def engine_info(
    dtype: Any = np.float32, emulate: str | None = None, *, engine: str = "auto"
) -> dict[str, Any]:
    """Which engine evaluates a contiguous NumPy step of `dtype` and profile `emulate`.

    Returns a dict with ``engine`` (``"numba"``, ``"numpy"`` or ``"reference"``),
    ``numba`` (its version, or None when the numba engine cannot run),
    ``numba_unavailable`` (why not, e.g. ``"numba is not installed"``, or None),
    ``half_conversions`` (how the numba loops load and store float16:
    ``"native"``, the CPU's F16C instructions, or ``"portable"``, integer
    arithmetic; None without numba), ``chunk`` and ``threads``
    (of the chunked NumPy engine; ``chunk`` is its block size for formulas
    whose operations write into buffers, a quarter of it for those that allocate
    their results, such as emulated FMA).

    Examples
    --------
    >>> import numpy as np
    >>> from proxadagrad_ref import engine_info
    >>> engine_info(np.float16, engine="numpy")["engine"]
    'numpy'

    """
    profile = get_profile(emulate, "adaptive", numpy_namespace(), np.dtype(dtype))
    version = half = None
    reason = numba_unavailable()
    if reason is None:
        from importlib.metadata import version as _version

        from .numba import NATIVE_HALF

        version, half = _version("numba"), "native" if NATIVE_HALF else "portable"
    return {
        "engine": _choose(engine, profile, np.dtype(dtype), fast_ok=True),
        "numba": version,
        "numba_unavailable": reason,
        "half_conversions": half,
        "chunk": chunked.CHUNK,
        "threads": pool.THREADS,
    }


def warm_up(emulate: str | None = None, dtype: Any = np.float32, prox_step: str = "adaptive") -> None:
    """Compile the numba kernels of a profile ahead of time (no-op without numba).

    Both loops of each of its formulas (into new arrays, and in place), and
    the row loops of its sparse formulas, for parameters of `dtype`.

    Examples
    --------
    >>> import numpy as np
    >>> from proxadagrad_ref import warm_up
    >>> warm_up("mindspore", np.float32)  # a first in-place MindSpore step then compiles nothing

    """
    dt = np.dtype(dtype)
    xp = numpy_namespace()
    profile = get_profile(emulate, prox_step, xp, dt)
    if not numba_available() or dt not in (np.float16, np.float32, np.float64):
        return
    h = np.asarray(0.5, hyper_dtype_name(dt.name))  # as the kernels hand them over
    formulas = {profile.dense, profile.sparse, profile.tail, profile.sparse_tail, profile.sparse_column}
    for formula in formulas - {None}:
        assert formula is not None
        w, a, g = np.ones(8, dt), np.ones(8, dt), np.ones(8, dt)
        task = Elementwise(profile, formula, xp, w, a, g, (h, h, h), prox_step == "adaptive")
        evaluate(task, engine="numba")
        evaluate(task, engine="numba", out=(w, a))
        rows = task.on(w.reshape(1, 8), a.reshape(1, 8), g.reshape(1, 8)).at_rows(np.zeros(1, np.int64))
        update_rows(rows, inplace=True)
