"""Which path a kernel call takes for each array library: NumPy's bits on every library, or a clear refusal.

Decided per library from measurements (``docs/backends.md``: op by op against
NumPy, float16/32/64, edge and random values):

=================  ==============================================================  ===========================
library            path                                                            why
=================  ==============================================================  ===========================
NumPy              the engines (reference, chunked NumPy, numba)                   the reference
array-api-strict   the reference engine on its arrays                              NumPy underneath: same bits
CuPy               the engines' CuPy kernels (:mod:`proxadagrad_ref.engines.cupy`)  from the formulas
torch (CPU)        NumPy engines on the tensors' own memory, results as tensors    not IEEE-faithful (below)
JAX                NumPy engines on host views; under ``jit`` a ``pure_callback``  not IEEE-faithful (below)
Dask               lazy: the NumPy engines on each chunk (``map_blocks``)          chunks are NumPy arrays
anything else      refused (TypeError naming the library)                          not measured
=================  ==============================================================  ===========================

torch 2.13 (CPU) differs from NumPy in operations every profile uses:
``torch.sqrt`` is not correctly rounded (17 % of all float32 inputs 1 ulp
off), ``scalar / tensor`` is ``reciprocal`` then a product (two roundings),
float16 arithmetic with a Python float uses the float in float32,
float64 -> float16 rounds twice, and ``maximum`` of signed zeros depends on
the element's position. JAX 0.10 (XLA CPU) flushes subnormals to zero,
divides by a scalar through its reciprocal, and under ``jit`` contracts
``a*b + c`` into an FMA and rewrites ``x / sqrt(y)`` as ``x * rsqrt(y)``.
So neither library's arithmetic is used: their arrays are evaluated by the
NumPy engines on the same memory (:mod:`proxadagrad_ref.backends.host`).

Dask: nothing is computed during the call except what a check truly needs:
the values of a 0-d dask hyper-parameter, and for the sparse kernel the
indices and gradient rows (small; they decide which chunks change). The
accumulator check (``accum >= 0``) runs when a chunk is computed: a chunk with
a negative accumulator raises the kernel's ``ValueError`` from ``compute()``,
and since dask arrays are never updated in place, nothing of the inputs
changes. ``inplace=True`` is refused: store the lazy results instead
(``dask.array.store``, ``to_zarr``).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..backends.compat import FLOAT_NAMES, array_namespace, is_array, numpy_namespace
from ..backends.host import Host, host_of, is_dask, is_tracer, library_name
from ..engines import pool
from ..engines.dispatch import check_engine, evaluate
from ..engines.step import Elementwise
from ..numerics.profiles import Profile
from .checks import Kind, check_accum, check_like_var, prepare_kind
from .grads import RowTensor, check_indices, group, is_row_tensor, is_scipy_sparse, split_sparse

__all__ = ["dense", "sparse"]

Array = Any
Kernel = Callable[..., tuple[Array, Array]]

_NATIVE = frozenset({"numpy", "array_api_strict", "cupy"})


def _library(x: object) -> str | None:
    """``None`` for libraries the kernels evaluate natively, else the library name."""
    if type(x) is np.ndarray:
        return None
    if host_of(x) is not None or is_dask(x):
        return library_name(x)
    if isinstance(x, np.ndarray):
        return None
    name = library_name(x).split(".", 1)[0]
    return None if name in _NATIVE or not is_array(x) else name


def _same_library(named: dict[str, Any], var: Any) -> None:
    want = library_name(var)
    for name, x in named.items():
        if is_array(x) and library_name(x) != want:
            raise TypeError(
                f"{name} is a {library_name(x)} array but var is a {want} array; "
                "all arrays of one call must come from the same library"
            )


def _grad_arrays(grad: Any, indices: Any) -> dict[str, Any]:
    """The arrays inside a gradient argument, by name."""
    if is_scipy_sparse(grad):
        return {"indices": indices}
    if is_row_tensor(grad):
        return {"grad.indices": grad.indices, "grad.values": grad.values, "indices": indices}
    return {"grad": grad, "indices": indices}


def _map_grad(grad: Any, indices: Any, fn: Callable[[Any], Any]) -> tuple[Any, Any]:
    """`grad` and `indices` with `fn` applied to every array inside them."""

    def one(x: Any) -> Any:
        return fn(x) if is_array(x) and not isinstance(x, (int, float)) else x

    if is_row_tensor(grad) and not is_scipy_sparse(grad):
        grad = RowTensor(one(grad.indices), one(grad.values), tuple(grad.dense_shape))
    else:
        grad = one(grad)
    return grad, one(indices)


def dense(kernel: Kernel, var: Any, accum: Any, lr: Any, l1: Any, l2: Any, grad: Any, **kw: Any) -> Any:
    """`kernel` (the dense kernel) on arrays of a library that is not evaluated natively; None when it is."""
    library = _library(var)
    if library is None:
        return None
    arrays = {"accum": accum, "grad": grad, "lr": lr, "l1": l1, "l2": l2}
    _same_library(arrays, var)
    if library == "dask":
        return _dask_dense(var, accum, (lr, l1, l2), grad, kw)
    host = host_of(var)
    if host is None:
        raise _unmeasured(library)
    return _on_host(host, _Call(kernel, var, accum, (lr, l1, l2), grad, None, kw, sparse_call=False))


def sparse(
    kernel: Kernel, var: Any, accum: Any, lr: Any, l1: Any, l2: Any, grad: Any, indices: Any, **kw: Any
) -> Any:
    """`kernel` (the sparse kernel) on arrays of a library that is not evaluated natively; None when it is."""
    library = _library(var)
    if library is None:
        return None
    grad_arrays = _grad_arrays(grad, indices)
    if library == "dask":  # the rows and indices are small: dask or NumPy arrays
        _same_library({"accum": accum, "lr": lr, "l1": l1, "l2": l2}, var)
        for name, x in grad_arrays.items():
            if is_array(x) and not (is_dask(x) or isinstance(x, np.ndarray)):
                raise TypeError(f"{name} must be a dask or NumPy array for a dask var, got {library_name(x)}")
        return _dask_sparse(kernel, var, accum, (lr, l1, l2), grad, indices, kw)
    _same_library({"accum": accum, "lr": lr, "l1": l1, "l2": l2, **grad_arrays}, var)
    host = host_of(var)
    if host is None:
        raise _unmeasured(library)
    return _on_host(host, _Call(kernel, var, accum, (lr, l1, l2), grad, indices, kw, sparse_call=True))


def _unmeasured(library: str) -> TypeError:
    return TypeError(
        f"var is a {library} array: that library's arithmetic has not been measured against NumPy's, so the "
        "kernels do not run on it (convert with numpy.from_dlpack, or use NumPy, CuPy, torch, JAX or Dask)"
    )


# --- torch and JAX: the NumPy kernels on host views ---------------------------------------------------


class _Call(NamedTuple):
    """A kernel call on torch or JAX arrays, as the caller made it."""

    kernel: Kernel
    var: Any
    accum: Any
    hyper: tuple[Any, Any, Any]
    grad: Any
    indices: Any
    kw: dict[str, Any]
    sparse_call: bool


def _on_host(host: Host, call: _Call) -> tuple[Any, Any]:
    """A torch or JAX call: the NumPy kernel on host views (or, under ``jit``, :func:`_traced`)."""
    kernel, var, accum, hyper, grad, indices, kw, sparse_call = call
    inplace = kw.get("inplace", False)
    if str(var.dtype).rsplit(".", 1)[-1] not in FLOAT_NAMES:  # torch.bfloat16, ...
        raise TypeError(f"var must have dtype float16, float32 or float64, got {var.dtype}")
    arrays = [var, accum, *(h for h in hyper if is_array(h)), *_grad_arrays(grad, indices).values()]
    for x in arrays:
        if x is not None:
            host.check("var" if x is var else "an argument", x)
    if any(is_tracer(x) for x in arrays if x is not None):
        return _traced(call)
    if host.library == "jax":
        _check_x64(arrays)
    if inplace is True:
        for name in ("var", "accum"):
            refusal = host.in_place_refusal(name)
            if refusal is not None:
                raise refusal
        if var is accum:  # their two views would be two objects: the NumPy kernel could not tell
            raise ValueError("var and accum are the same array; inplace=True needs two distinct arrays")
    views = [host.view(x) for x in (var, accum)]
    hyper_v = [host.view(h) if is_array(h) else h for h in hyper]
    grad_v, indices_v = _map_grad(grad, indices, host.view)
    args = (*views, *hyper_v, grad_v) + ((indices_v,) if sparse_call else ())
    w_new, a_new = kernel(*args, **kw)
    if inplace is True:
        host.commit(var)
        host.commit(accum)
        return var, accum
    return host.back(w_new, var), host.back(a_new, accum)


def _check_x64(arrays: list[Any]) -> None:
    import jax

    if not jax.config.read("jax_enable_x64") and any(getattr(x, "dtype", None) == np.float64 for x in arrays):
        raise TypeError(
            "float64 JAX arrays while jax_enable_x64 is off: JAX would narrow the float64 results to "
            "float32; enable x64 (jax.config.update('jax_enable_x64', True))"
        )


def _traced(call: _Call) -> tuple[Any, Any]:
    """Under ``jax.jit``: the NumPy kernel through ``jax.pure_callback`` (checks on values run inside it).

    What is known when tracing is checked now (shapes, dtypes, the profile,
    Python-number hyper-parameters); the rest (accumulators ``>= 0``, indices
    in range, traced hyper-parameters) when the callback runs, where an error
    stops the computation with the kernel's message. ``vmap`` runs the
    callback once per batch element.
    """
    kernel, var, accum, hyper, grad, indices, kw, sparse_call = call
    import jax

    if kw.get("inplace", False) is not False:
        raise TypeError("var is a JAX array, which cannot be updated in place; use inplace=False")
    if accum.dtype != var.dtype or tuple(accum.shape) != tuple(var.shape):
        raise TypeError(
            f"accum must have var's dtype and shape {tuple(var.shape)}, got {accum.dtype}{accum.shape}"
        )
    _check_x64([var, accum])
    probe = np.empty((1,) * max(var.ndim, 1), np.dtype(var.dtype))
    traced_hyper = [0.0 if is_array(h) else h for h in hyper]  # traced ones are checked in the callback
    prepare_kind(
        probe,
        *traced_hyper,
        prox_step=kw.get("prox_step", "adaptive"),
        emulate=kw.get("emulate"),
        op="sparse" if sparse_call else "dense",
    )
    grad_rt = is_row_tensor(grad)
    parts = [var, accum, *[h for h in hyper if is_array(h)]]
    parts += [grad.indices, grad.values] if grad_rt else [grad]
    if indices is not None:
        parts.append(indices)

    def on_host(*values: Any) -> tuple[np.ndarray, np.ndarray]:
        it = iter(np.asarray(v) for v in values)
        w, a = next(it), next(it)
        hyper_np = [next(it) if is_array(h) else h for h in hyper]
        if grad_rt:
            g: Any = RowTensor(next(it), next(it), tuple(grad.dense_shape))
        else:
            g = next(it)
        idx = next(it) if indices is not None else None
        args = (w, a, *hyper_np, g) + ((idx,) if sparse_call else ())
        w_new, a_new = kernel(*args, **kw)
        return np.asarray(w_new), np.asarray(a_new)

    shapes = (jax.ShapeDtypeStruct(var.shape, var.dtype), jax.ShapeDtypeStruct(accum.shape, accum.dtype))
    w_new, a_new = jax.pure_callback(on_host, shapes, *parts, vmap_method="sequential")
    return w_new, a_new


# --- Dask: the NumPy kernels on every chunk, lazily ---------------------------------------------------


def _refuse_dask_in_place(inplace: object) -> None:
    if inplace is True:
        raise TypeError(
            "var is a dask array, which is lazy and is not updated in place; use inplace=False and store "
            "the results (dask.array.store, to_zarr)"
        )


def _dask_hyper(h: Any) -> Any:
    """A hyper-parameter for the NumPy checks: 0-d dask arrays are computed (a check needs the value)."""
    return np.asarray(h.compute()) if is_dask(h) else h


def _pair(
    fn: Callable[..., tuple[np.ndarray, np.ndarray]], var: Any, *arrays: Any, token: str | None = None
) -> tuple[Any, Any]:
    """Two lazy outputs of one per-chunk function (computed once per chunk when both are computed).

    One task per chunk computes both (a pair); each output is a second,
    trivial layer picking its half. `token` names the graph (else dask hashes
    the arguments, `fn` pickled included).
    """
    import dask.array as da

    meta = np.empty((0,) * var.ndim, var.dtype)

    def name(part: str) -> dict[str, str]:
        return {} if token is None else {"name": f"proximal-adagrad{part}-{token}"}

    both = da.map_blocks(fn, var, *arrays, dtype=var.dtype, meta=meta, **name(""))
    w_new = both.map_blocks(operator.itemgetter(0), dtype=var.dtype, meta=meta, **name("-var"))
    a_new = both.map_blocks(operator.itemgetter(1), dtype=var.dtype, meta=meta, **name("-accum"))
    return w_new, a_new


@dataclass(frozen=True, slots=True)
class _ChunkStep:
    """What every chunk of a lazy dense step evaluates (sent with the graph to dask's workers).

    Attributes
    ----------
    profile : Profile
        The checked profile.
    hyper : tuple of 3 arrays
        ``lr``, ``l1``, ``l2`` checked and rounded (:func:`~.checks.prepare_hyper`).
    adaptive : bool
        The prox form (True: ``"adaptive"``).
    engine : str
        The engine each chunk is evaluated by.
    threads : int
        Threads of the engines per chunk (dask's scheduler runs chunks in parallel already).
    tail : tuple of index tuples
        Where the profile's scalar tail lies in the whole array (empty: no tail).
    starts : tuple of tuples of int
        Per axis, the index at which each chunk starts (to place the tail).

    """

    profile: Profile
    hyper: tuple[np.ndarray, np.ndarray, np.ndarray]
    adaptive: bool
    engine: str
    threads: int
    tail: tuple[tuple[int, ...], ...]
    starts: tuple[tuple[int, ...], ...]

    def token(self, *names: str) -> str:
        """A deterministic name for the graph of this step on the dask arrays `names`.

        Built from what decides the bits (the inputs' names, the profile, the
        hyper-parameters' dtype and bits, the prox form), not from any data, so
        it costs microseconds: equal inputs give equal names, any difference a
        different one (dask would otherwise reuse the other step's results).
        """
        from dask.base import tokenize

        hyper = [(str(h.dtype), np.asarray(h).tobytes()) for h in self.hyper]
        return tokenize(*names, self.profile.name, hyper, self.adaptive, self.engine, self.tail, self.starts)


def _dense_chunk(
    step: _ChunkStep, w: np.ndarray, a: np.ndarray, g: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Both results of one chunk: the kernel's accumulator check, then the engines (no scalar tail here)."""
    xp = numpy_namespace()
    check_accum(a, xp)  # deferred to compute time (the chunk raises; nothing is changed)
    out = (np.empty_like(w), np.empty_like(a))
    task = Elementwise(step.profile, step.profile.dense, xp, w, a, g, step.hyper, step.adaptive)
    with np.errstate(all="ignore"):
        evaluate(task, out=out, engine=step.engine, threads=step.threads)
    return out


def _dense_chunk_at(
    step: _ChunkStep, w: np.ndarray, a: np.ndarray, g: np.ndarray, block_id: tuple[int, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_dense_chunk`, then the scalar tail's elements that lie in chunk `block_id`."""
    out = _dense_chunk(step, w, a, g)
    assert step.profile.tail is not None
    lows = [starts[b] for starts, b in zip(step.starts, block_id, strict=True)]
    xp = numpy_namespace()
    for where in step.tail:
        local = tuple(i - lo for i, lo in zip(where, lows, strict=True))
        if all(0 <= i < n for i, n in zip(local, w.shape, strict=True)):
            w0, a0, g0 = (x[local].reshape(1) for x in (w, a, g))
            task = Elementwise(step.profile, step.profile.tail, xp, w0, a0, g0, step.hyper, step.adaptive)
            with np.errstate(all="ignore"):
                w1, a1 = evaluate(task, engine="reference")
            out[0][local], out[1][local] = w1[0], a1[0]
    return out


def _dask_dense(
    var: Any, accum: Any, hyper: tuple[Any, Any, Any], grad: Any, kw: dict[str, Any]
) -> tuple[Any, Any]:
    """The dense kernel on dask arrays (`kw`: the public kernel's keyword arguments).

    The graph (:func:`_pair`) is named from the inputs' names and the step
    (:meth:`_ChunkStep.token`): naming it from the arguments' contents would
    pickle and hash the per-chunk function on every call.
    """
    prox_step, emulate, inplace, engine = (kw[k] for k in ("prox_step", "emulate", "inplace", "engine"))
    lr, l1, l2 = hyper
    xp_var = array_namespace("var", var)
    for name, x in (("accum", accum), ("grad", grad)):  # the metadata checks of the native path
        check_like_var(name, x, var, xp_var)
    if not isinstance(inplace, bool):
        raise TypeError(f"inplace must be a bool, got {type(inplace).__name__}")
    _refuse_dask_in_place(inplace)
    probe = np.empty((0,), np.dtype(var.dtype))  # prepare_kind reads var's library and dtype only
    kind = prepare_kind(
        probe, *map(_dask_hyper, (lr, l1, l2)), prox_step=prox_step, emulate=emulate, op="dense"
    )
    check_engine(engine, numpy_namespace())
    accum, grad = accum.rechunk(var.chunks), grad.rechunk(var.chunks)
    step = _dense_step(kind, var, engine)
    # the step is bound to the function: as an argument, dask would search its fields for collections
    fn = functools.partial(_dense_chunk_at if step.tail else _dense_chunk, step)
    return _pair(fn, var, accum, grad, token=step.token(var.name, accum.name, grad.name))


def _dense_step(kind: Kind, var: Any, engine: str) -> _ChunkStep:
    """The per-chunk step of `kind` on dask array `var` (its chunks place the tail and set the threads)."""
    profile = kind.profile
    n = int(np.prod(var.shape, dtype=np.int64))
    tail = n % profile.block(np.dtype(var.dtype).name) if profile.tail is not None else 0
    where = tuple(tuple(int(i) for i in np.unravel_index(k, var.shape)) for k in range(n - tail, n))
    starts = tuple(tuple(int(s) for s in np.cumsum((0, *c[:-1]))) for c in var.chunks)
    threads = max(1, pool.THREADS // max(1, int(np.prod(var.numblocks))))
    return _ChunkStep(profile, kind.hyper, kind.prox_step == "adaptive", engine, threads, where, starts)


def _dask_sparse(
    kernel: Kernel,
    var: Any,
    accum: Any,
    hyper: tuple[Any, Any, Any],
    grad: Any,
    indices: Any,
    kw: dict[str, Any],
) -> tuple[Any, Any]:
    """The sparse kernel on a dask table (`kw`: the public kernel's keyword arguments)."""
    duplicates, prox_step, emulate, inplace, engine = (
        kw[k] for k in ("duplicates", "prox_step", "emulate", "inplace", "engine")
    )
    lr, l1, l2 = hyper
    check_like_var("accum", accum, var, array_namespace("var", var))
    if not isinstance(inplace, bool):
        raise TypeError(f"inplace must be a bool, got {type(inplace).__name__}")
    _refuse_dask_in_place(inplace)
    probe = np.empty((0,), np.dtype(var.dtype))
    kind = prepare_kind(
        probe, *map(_dask_hyper, (lr, l1, l2)), prox_step=prox_step, emulate=emulate, op="sparse"
    )
    check_engine(engine, numpy_namespace())
    if var.ndim == 0:
        raise ValueError("var must have at least one dimension (rows) for a sparse update")
    # small: the rows and indices are computed now (they decide which chunks change)
    grad_np, indices_np = _map_grad(grad, indices, lambda x: np.asarray(x.compute() if is_dask(x) else x))
    like = np.broadcast_to(np.zeros((), var.dtype), var.shape)  # var's shape and dtype, no memory
    parts = split_sparse(grad_np, indices_np, like, numpy_namespace())
    if parts is None:
        raise TypeError("indices is required when grad is an array of rows (or pass a RowTensor as grad)")
    xp = numpy_namespace()
    idx = check_indices(parts[0], var.shape[0], xp)
    rows = np.asarray(parts[1])
    check_like_var("grad", rows, np.empty((idx.shape[0], *var.shape[1:]), var.dtype), xp)
    if duplicates == "error" and idx.shape[0] and group(idx, xp).repeated:
        raise ValueError(f"indices contains duplicates and duplicates='error' (e.g. row {int(idx[0])})")
    if kind.profile.sparse_tail is not None and var.ndim > 1:  # a row's formula depends on the column
        whole = {axis: -1 for axis in range(1, var.ndim)}
        var, accum = var.rechunk(whole), accum.rechunk(whole)
    accum = accum.rechunk(var.chunks)
    options = {"duplicates": duplicates, "prox_step": prox_step, "emulate": emulate, "engine": engine}

    def step(w: np.ndarray, a: np.ndarray, block_info: Any = None) -> tuple[np.ndarray, np.ndarray]:
        location = block_info[0]["array-location"]
        (start, stop), inner = location[0], tuple(slice(lo, hi) for lo, hi in location[1:])
        mine = (idx >= start) & (idx < stop)
        if not mine.any():
            return w, a
        local_rows = rows[mine][(slice(None), *inner)]
        return kernel(w, a, *kind.hyper, np.ascontiguousarray(local_rows), idx[mine] - start, **options)

    return _pair(step, var, accum)
