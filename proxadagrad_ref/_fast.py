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
    (NumPy releases the GIL inside its loops). Extra memory is
    O(threads x chunk). float16, float32 and float64.
``"numba"``
    The formula compiled by numba with its free names rebound to scalar
    implementations (:mod:`proxadagrad_ref._numba_ops`), run in a parallel
    loop that widens each element to float64 when the profile does.
    float32 and float64 only (numba has no float16 arithmetic). Used when the
    optional ``fast`` extra (numba) is installed.

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
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ._profiles import Formula, Profile

__all__ = ["CHUNK", "ENGINES", "engine_info", "evaluate", "numba_available", "surely_non_negative", "warm_up"]

Array = Any
Namespace = Any

ENGINES = ("auto", "reference", "numpy", "numba")

CHUNK = 1 << 14
"""Default block size of the chunked NumPy engine, in elements (16 Ki: 128 KiB in float64)."""

_MIN_PARALLEL = 4 * CHUNK
"""Below this many elements the chunked engine runs on the calling thread."""


def numba_available() -> bool:
    """True when numba (the ``fast`` extra) is importable."""
    return importlib.util.find_spec("numba") is not None


def _threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers != threads:
            if _POOL is not None:
                _POOL.shutdown(wait=True)
            _POOL = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="proxadagrad")
        return _POOL


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


def engine_info(
    dtype: Any = np.float32, emulate: str | None = None, *, engine: str = "auto"
) -> dict[str, Any]:
    """Which engine evaluates a contiguous NumPy step of `dtype` and profile `emulate`.

    Returns a dict with ``engine`` (``"numba"``, ``"numpy"`` or ``"reference"``),
    ``numba`` (its version, or None when not installed), ``chunk`` and ``threads``
    (of the chunked NumPy engine).

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
        if not numba_ok:
            raise TypeError(
                f"engine='numba' supports float32 and float64, not {dtype} (numba has no float16)"
            )
        return "numba"
    if engine == "auto" and numba_ok and numba_available():
        return "numba"
    return "numpy"


def evaluate(
    profile: Profile, formula: Formula, xp: Namespace, var: Array, accum: Array, grad: Array,
    lr: Array, l1: Array, l2: Array, *, prox_step: str, out: tuple[Array, Array] | None = None,
    engine: str = "auto", chunk: int | None = None, threads: int | None = None,
) -> tuple[Array, Array]:
    """``profile.evaluate`` with a choice of engine, optionally writing into `out`.

    With ``out=(w_out, a_out)`` the results are written there (they may be
    `var` and `accum` themselves: the update is elementwise, and each block is
    read before it is written) and `out` is returned; otherwise two new arrays.
    `chunk` and `threads` tune the chunked NumPy engine; they never change a bit.
    """
    arrays = (var, accum, grad) if out is None else (var, accum, grad, *out)
    flat = _flat_inputs(xp, arrays)
    fast_ok = flat is not None and not _overlap(var, accum, grad, out)
    name = _choose(engine, profile, np.dtype(var.dtype) if fast_ok else np.dtype("float64"), fast_ok=fast_ok)
    if name == "reference":
        w_new, a_new = profile.evaluate(formula, xp, var, accum, grad, lr, l1, l2, prox_step=prox_step)
        if out is None:
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
    if name == "numba":
        _numba_evaluate(profile, formula, w, a, g, lr, l1, l2, adaptive, w_out, a_out)
    else:
        _chunked_evaluate(
            profile, formula, w, a, g, lr, l1, l2, adaptive, w_out, a_out,
            chunk=CHUNK if chunk is None else chunk, threads=_threads() if threads is None else threads,
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


def _chunked_evaluate(
    profile: Profile, formula: Formula, w: np.ndarray, a: np.ndarray, g: np.ndarray,
    lr: Array, l1: Array, l2: Array, adaptive: bool, w_out: np.ndarray, a_out: np.ndarray,
    *, chunk: int, threads: int,
) -> None:
    """Evaluate `formula` block by block; each block's results go straight into the outputs."""
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of elements, got {chunk}")
    compute = np.dtype(profile.compute_dtype(_numpy_namespace(), w.dtype))
    # Profile.evaluate converts everything to the compute dtype unless all inputs already have it.
    convert = any(x.dtype != compute for x in (w, a, g, lr, l1, l2))
    hyper = tuple(np.asarray(h, dtype=compute) for h in (lr, l1, l2))

    errstate = np.geterr()  # np.errstate is per thread (a context variable): carry it to the workers

    def block(start: int) -> None:
        with np.errstate(**errstate):
            _block(start)

    def _block(start: int) -> None:
        stop = min(start + chunk, n)
        inputs: tuple[np.ndarray, ...] = (w[start:stop], a[start:stop], g[start:stop])
        if convert:
            inputs = tuple(x.astype(compute) for x in inputs)
        w_new, a_new = formula(*inputs, *hyper, adaptive)
        # Same rounding as ``astype`` in Profile.evaluate (C cast, round to nearest even).
        np.copyto(w_out[start:stop], w_new, casting="same_kind")
        np.copyto(a_out[start:stop], a_new, casting="same_kind")

    n = w.shape[0]
    starts = range(0, n, chunk)
    if threads <= 1 or n < _MIN_PARALLEL or len(starts) < 2:
        for start in starts:
            block(start)
        return
    for _ in _pool(threads).map(block, starts):
        pass


# -- numba -----------------------------------------------------------------------------------

_KERNELS: dict[tuple[Formula, str], Any] = {}
_KERNELS_LOCK = threading.Lock()


def _kernel(formula: Formula, compute: np.dtype[Any]) -> Any:
    """The compiled parallel kernel of `formula` for compute dtype `compute` (built once, kept)."""
    key = (formula, compute.name)
    with _KERNELS_LOCK:
        found = _KERNELS.get(key)
        if found is None:
            from . import _numba_ops

            scalar = _numba_ops.compile_formula(formula, compute)
            found = _KERNELS[key] = _numba_ops.make_kernel(scalar, compute)
        return found


def _numba_evaluate(
    profile: Profile, formula: Formula, w: np.ndarray, a: np.ndarray, g: np.ndarray,
    lr: Array, l1: Array, l2: Array, adaptive: bool, w_out: np.ndarray, a_out: np.ndarray,
) -> None:
    compute = np.dtype(profile.compute_dtype(_numpy_namespace(), w.dtype))
    kernel = _kernel(formula, compute)
    kernel(w, a, g, lr[()], l1[()], l2[()], adaptive, w_out, a_out)


def warm_up(emulate: str | None = None, dtype: Any = np.float32, prox_step: str = "adaptive") -> None:
    """Compile the numba kernel of a profile ahead of time (no-op without numba)."""
    from ._profiles import get_profile

    dt = np.dtype(dtype)
    if not numba_available() or dt not in (np.float32, np.float64):
        return
    profile = get_profile(emulate, prox_step, _numpy_namespace(), dt)
    x = np.ones(4, dt)
    h = np.asarray(0.5, dt)
    for formula in {profile.dense, profile.sparse}:
        evaluate(profile, formula, _numpy_namespace(), x, x, x, h, h, h, prox_step=prox_step, engine="numba")
