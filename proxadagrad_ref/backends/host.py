"""Arrays of torch and JAX seen as NumPy arrays on the same memory, and results handed back in their type.

The kernels never use these libraries' arithmetic (see
:mod:`proxadagrad_ref.kernels.backends` for why): their arrays are read, and
for torch written, through NumPy views, and new results are wrapped back.

torch (CPU tensors, ``nn.Parameter`` included)
    ``t.detach().numpy()`` shares the tensor's memory, writable. A tensor
    updated in place has its autograd version counter increased
    (``torch.autograd.graph.increment_version``), as an in-place torch
    operation under ``torch.no_grad()`` does: a graph that saved its old
    value refuses to backpropagate instead of silently using the new one.
    New results are ``torch.from_numpy`` of the NumPy results (no copy) and
    do not require grad. CUDA tensors are refused (no host view).
JAX (CPU or accelerator arrays)
    ``np.asarray(x)`` is a read-only view on the CPU (a copy from a device);
    JAX arrays are immutable, so calls on them are functional. Results go
    back with ``jax.device_put`` to the device of the caller's array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .compat import namespace_name

__all__ = ["ALIGNMENT", "Host", "empty_aligned", "host_of", "is_dask", "is_tracer"]

Array = Any

ALIGNMENT = 64
"""Bytes to which new results are aligned: JAX (XLA on the CPU) wraps a NumPy buffer without a copy
only when its address is a multiple of 64; NumPy's allocator guarantees 16."""


def empty_aligned(like: np.ndarray) -> np.ndarray:
    """An uninitialized array of `like`'s shape, dtype and memory order, starting at an :data:`ALIGNMENT`.

    `like` is C- or F-contiguous (the fast engines' outputs), so its order is
    kept, as ``numpy.empty_like`` would.
    """
    raw = np.empty(like.nbytes + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    flat = raw[start : start + like.nbytes].view(like.dtype)
    if like.flags.f_contiguous and not like.flags.c_contiguous:
        return flat.reshape(like.shape, order="F")
    return flat.reshape(like.shape)


def _module(x: object) -> str:
    return type(x).__module__.split(".", 1)[0]


def is_dask(x: object) -> bool:
    """True for a dask array."""
    return _module(x) == "dask" and hasattr(x, "chunks")


def is_tracer(x: object) -> bool:
    """True for a JAX tracer (a value inside ``jax.jit``, ``vmap``, ``grad``...)."""
    if _module(x) != "jax":
        return False
    import jax

    return isinstance(x, jax.core.Tracer)


@dataclass(frozen=True)
class Host:
    """How the arrays of one library reach NumPy and come back."""

    library: str

    def owns(self, x: object) -> bool:
        """True when `x` is an array of this library."""
        if self.library == "torch":
            return _module(x) == "torch" and hasattr(x, "detach")
        return _module(x) in ("jax", "jaxlib") and hasattr(x, "dtype") and hasattr(x, "shape")

    def check(self, name: str, x: Any) -> None:
        """Refuse arrays that have no NumPy view here (CUDA tensors)."""
        if self.library == "torch" and x.device.type != "cpu":
            raise TypeError(
                f"{name} is a torch tensor on {x.device}; the kernels read torch tensors on the CPU only "
                "(for the GPU pass CuPy arrays, e.g. cupy.from_dlpack(tensor))"
            )

    def view(self, x: Any) -> np.ndarray:
        """A NumPy array on `x`'s memory (torch: writable; JAX: read-only, or a copy from a device)."""
        if self.library == "torch":
            return x.detach().numpy()
        return np.asarray(x)

    def back(self, result: np.ndarray, like: Any) -> Any:
        """`result` as an array of this library, on the device of `like`."""
        if self.library == "torch":
            import torch

            return torch.from_numpy(np.ascontiguousarray(result))
        import jax

        return jax.device_put(result, next(iter(like.devices())))

    def commit(self, x: Any) -> None:
        """After `x` was written through its view: what an in-place update of the library records."""
        if self.library == "torch":
            import torch

            torch.autograd.graph.increment_version(x)

    def in_place_refusal(self, name: str) -> Exception | None:
        """The error ``inplace=True`` raises for an array of this library, or None."""
        if self.library == "jax":
            return TypeError(f"{name} is a JAX array, which cannot be updated in place; use inplace=False")
        return None


_HOSTS = {"torch": Host("torch"), "jax": Host("jax"), "jaxlib": Host("jax")}


def host_of(x: object) -> Host | None:
    """The :class:`Host` of `x`'s library (torch, JAX), or None for any other object."""
    found = _HOSTS.get(_module(x))
    return found if found is not None and found.owns(x) else None


def library_name(x: object) -> str:
    """A short name of `x`'s array library, for messages."""
    host = host_of(x)
    if host is not None:
        return host.library
    if is_dask(x):
        return "dask"
    try:
        from .compat import array_namespace

        return namespace_name(array_namespace("x", x))
    except TypeError:
        return type(x).__name__
