"""The backend matrix: every library x {dense, sparse, optimizer} x profile x dtype x in place/functional.

Each cell runs the public API on the library's arrays and compares the bits
with the same call on NumPy arrays (NaN equal to NaN, signed zeros exact), or
checks the documented refusal (a clear error, nothing changed). A library that
is not installed skips with its name. ``docs/backends.md`` shows the matrix.
"""

from __future__ import annotations

import enum
import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from proxadagrad_ref import Parameter, ProximalAdagrad, apply_proximal_adagrad, sparse_apply_proximal_adagrad
from proxadagrad_ref.numerics.profiles import PROFILES


class Library(enum.Enum):
    """The array libraries of the matrix and how a test makes and reads their arrays."""

    NUMPY = "numpy"
    ARRAY_API_STRICT = "array_api_strict"
    TORCH = "torch"
    JAX = "jax"
    DASK = "dask"
    CUPY = "cupy"

    def skip_reason(self, dtype: str) -> str | None:
        """Why this library cannot run here (or cannot hold `dtype`); None when it can."""
        module = {"dask": "dask.array"}.get(self.value, self.value)
        if importlib.util.find_spec(module.split(".")[0]) is None:
            return f"{self.value} is not installed"
        if self is Library.CUPY:
            try:
                import cupy

                if cupy.cuda.runtime.getDeviceCount() < 1:
                    return "cupy: no CUDA device"
            except Exception as exc:
                return f"cupy cannot reach a CUDA device ({type(exc).__name__})"
        if self is Library.ARRAY_API_STRICT and dtype == "float16":
            return "array_api_strict has no float16"
        return None

    def array(self, x: np.ndarray, chunks: int = 997) -> Any:
        """`x` (a NumPy array) as an array of this library (a copy)."""
        x = np.array(x, copy=True)
        if self is Library.NUMPY:
            return x
        if self is Library.ARRAY_API_STRICT:
            import array_api_strict

            return array_api_strict.asarray(x)
        if self is Library.TORCH:
            import torch

            return torch.from_numpy(x)
        if self is Library.JAX:
            import jax

            jax.config.update("jax_enable_x64", True)
            import jax.numpy as jnp

            return jnp.asarray(x)
        if self is Library.DASK:
            import dask.array as da

            return da.from_array(x, chunks=(chunks, *x.shape[1:]) if x.ndim else ())
        import cupy

        return cupy.asarray(x)

    def numpy(self, x: Any) -> np.ndarray:
        """An array of this library as a NumPy array (computed for dask)."""
        if self is Library.TORCH:
            return x.detach().numpy().copy()  # type: ignore[no-any-return]
        if self is Library.DASK:
            return np.asarray(x.compute())
        if self is Library.CUPY:
            return x.get()  # type: ignore[no-any-return]
        return np.array(x, copy=True)

    @property
    def writes_in_place(self) -> bool:
        """False for the immutable or lazy libraries, whose in-place calls are refused."""
        return self not in (Library.JAX, Library.DASK)


def bits_equal(got: np.ndarray, want: np.ndarray) -> bool:
    """Same dtype, shape and bits; any NaN equals any NaN."""
    if got.dtype != want.dtype or got.shape != want.shape:
        return False
    uint = {2: np.uint16, 4: np.uint32, 8: np.uint64}[want.dtype.itemsize]
    same = got.view(uint) == want.view(uint)
    return bool(np.all(same | (np.isnan(got) & np.isnan(want))))


def edge_inputs(dtype: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` elements: every combination of edge values first, then random values of many magnitudes."""
    dt = np.dtype(dtype)
    fi = np.finfo(dt)
    signed = [0.0, -0.0, 1.0, -1.0, 0.3, -2.5, float(fi.smallest_subnormal), -float(fi.smallest_subnormal),
              float(fi.smallest_normal), float(fi.max), -float(fi.max), np.inf, -np.inf, np.nan, 1e-30, 7e3]
    positive = [0.0, float(fi.smallest_subnormal), float(fi.smallest_normal), 0.1, 1.0, float(fi.max), np.inf,
                np.nan, 1e-30, 3e4]
    grid = np.array(np.meshgrid(signed, positive, signed, indexing="ij")).reshape(3, -1).astype(dt)
    rng = np.random.default_rng(seed)
    m = max(0, n - grid.shape[1])
    scale = 10.0 ** rng.integers(-6, 4, size=m)
    w = (rng.standard_normal(m) * scale).astype(dt)
    a = (rng.random(m) * 10.0 ** rng.integers(-8, 3, size=m)).astype(dt)
    g = (rng.standard_normal(m) * scale[::-1]).astype(dt)
    out = [np.concatenate([grid[k], x])[:n] for k, x in enumerate((w, a, g))]
    return out[0], out[1], out[2]


# (profile, dtype, prox_step) for every combination the profiles define
DENSE = [
    (name, dtype, step)
    for name, profile in sorted(PROFILES.items())
    for dtype in profile.dtypes
    for step in profile.prox_steps
]
SPARSE = [
    (name, dtype, step)
    for name, profile in sorted(PROFILES.items())
    for dtype in (profile.sparse_dtypes or profile.dtypes)
    for step in profile.prox_steps
]
HYPER = [(0.1, 0.05, 0.1), (0.01, 0.0, 0.0)]


def _library(lib: Library, dtype: str) -> None:
    reason = lib.skip_reason(dtype)
    if reason is not None:
        pytest.skip(reason)


def _emulate(name: str) -> str | None:
    return None if name == "exact" else name


@pytest.mark.parametrize("inplace", [False, True], ids=["functional", "inplace"])
@pytest.mark.parametrize(("name", "dtype", "step"), DENSE)
@pytest.mark.parametrize("lib", list(Library), ids=lambda b: b.value)
def test_dense(lib: Library, name: str, dtype: str, step: str, inplace: bool) -> None:
    _library(lib, dtype)
    w, a, g = edge_inputs(dtype, 4091, seed=len(name) + len(dtype))
    kw = {"emulate": _emulate(name), "prox_step": step}
    for hyper in HYPER:
        with np.errstate(all="ignore"):
            want = apply_proximal_adagrad(w, np.abs(a), *hyper, g, **kw)
        var, accum, grad = (lib.array(x) for x in (w, np.abs(a), g))
        if inplace and not lib.writes_in_place:
            with pytest.raises(TypeError, match="in place"):
                apply_proximal_adagrad(var, accum, *hyper, grad, inplace=True, **kw)
            assert bits_equal(lib.numpy(var), w) and bits_equal(lib.numpy(accum), np.abs(a))
            continue
        got = apply_proximal_adagrad(var, accum, *hyper, grad, inplace=inplace, **kw)
        if inplace:
            assert got[0] is var and got[1] is accum
        assert type(got[0]) is type(var), "the caller's array type comes back"
        for x, y in zip(got, want, strict=True):
            assert bits_equal(lib.numpy(x), y), (lib.value, name, dtype, step, hyper)


def _sparse_inputs(dtype: str, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(width)
    n_rows = 50
    w, a, _ = edge_inputs(dtype, n_rows * width, seed=width)
    idx = np.concatenate([rng.choice(n_rows, 20, replace=False), rng.choice(n_rows, 10)])  # with repeats
    rows = edge_inputs(dtype, idx.size * width, seed=width + 1)[2]
    return w.reshape(n_rows, width), np.abs(a).reshape(n_rows, width), rows.reshape(idx.size, width), idx


@pytest.mark.parametrize("duplicates", ["sum", "sequential"])
@pytest.mark.parametrize("width", [1, 3, 16])
@pytest.mark.parametrize("inplace", [False, True], ids=["functional", "inplace"])
@pytest.mark.parametrize(("name", "dtype", "step"), SPARSE)
@pytest.mark.parametrize("lib", list(Library), ids=lambda b: b.value)
def test_sparse(
    lib: Library, name: str, dtype: str, step: str, inplace: bool, width: int, duplicates: str
) -> None:
    _library(lib, dtype)
    w, a, rows, idx = _sparse_inputs(dtype, width)
    kw = {"emulate": _emulate(name), "prox_step": step, "duplicates": duplicates}
    with np.errstate(all="ignore"):
        want = sparse_apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, rows, idx, **kw)
    var, accum = lib.array(w, chunks=7), lib.array(a, chunks=7)
    grad, indices = lib.array(rows), lib.array(idx)
    if inplace and not lib.writes_in_place:
        with pytest.raises(TypeError, match="in place"):
            sparse_apply_proximal_adagrad(var, accum, 0.1, 0.05, 0.1, grad, indices, inplace=True, **kw)
        return
    got = sparse_apply_proximal_adagrad(var, accum, 0.1, 0.05, 0.1, grad, indices, inplace=inplace, **kw)
    if inplace:
        assert got[0] is var and got[1] is accum
    for x, y in zip(got, want, strict=True):
        assert bits_equal(lib.numpy(x), y), (lib.value, name, dtype, step)


OPTIMIZER = [("exact", "float32"), ("exact", "float64"), ("mindspore", "float32")]


def _net(lib: Library, dtype: str) -> list[Parameter]:
    rng = np.random.default_rng(3)
    shapes = [("conv.weight", (4, 16, 3)), ("fc.bias", (7,)), ("embedding", (30, 16))]
    return [Parameter(lib.array(rng.standard_normal(s).astype(dtype), chunks=5), name=n) for n, s in shapes]


def _grads(lib: Library, dtype: str, t: int, sparse_as: Callable[..., Any]) -> tuple[Any, ...]:
    rng = np.random.default_rng(10 + t)
    idx = np.array([3, 17, 3, 29, 0])
    return (
        lib.array(rng.standard_normal((4, 16, 3)).astype(dtype)),
        lib.array(rng.standard_normal(7).astype(dtype)),
        sparse_as(lib.array(idx), lib.array(rng.standard_normal((5, 16)).astype(dtype))),
    )


@pytest.mark.parametrize(("name", "dtype"), OPTIMIZER)
@pytest.mark.parametrize("lib", list(Library), ids=lambda b: b.value)
def test_optimizer(lib: Library, name: str, dtype: str) -> None:
    _library(lib, dtype)
    from proxadagrad_ref import RowTensor

    def opt_for(params: list[Parameter]) -> ProximalAdagrad:
        groups = [{"params": params[:1], "weight_decay": 0.01, "grad_centralization": True},
                  {"params": params[1:], "lr": 0.05}]
        return ProximalAdagrad(
            groups, learning_rate=0.1, l1=0.01, l2=0.02, loss_scale=4.0, emulate=_emulate(name)
        )

    ref_params, params = _net(Library.NUMPY, dtype), _net(lib, dtype)
    ref, opt = opt_for(ref_params), opt_for(params)
    for t in range(3):
        sparse_as = (lambda i, v: (i, v)) if t % 2 else (lambda i, v: RowTensor(i, v, (30, 16)))
        with np.errstate(all="ignore"):
            ref(_grads(Library.NUMPY, dtype, t, sparse_as))
        opt(_grads(lib, dtype, t, sparse_as))
        for p, q in zip(params, ref_params, strict=True):
            assert bits_equal(lib.numpy(p.data), q.data), (lib.value, p.name, t)
        for a, b in zip(opt.accum, ref.accum, strict=True):
            assert bits_equal(lib.numpy(a), np.asarray(b)), (lib.value, t)
