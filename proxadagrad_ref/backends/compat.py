"""The one compatibility shim between the standard-only core and real array libraries.

This is the only module that imports array-api-compat. Everything the core
needs that the array API standard does not offer lives here: resolving a
namespace with a clear error, naming dtypes and namespaces, copying any array
to NumPy, scattering rows into a table (the standard has no integer-array
assignment), and telling whether a namespace allows in-place writes.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "FLOAT_BITS",
    "FLOAT_NAMES",
    "any_negative",
    "array_namespace",
    "astype",
    "device",
    "dtype_name",
    "is_array",
    "is_cupy_namespace",
    "is_numpy_namespace",
    "namespace",
    "namespace_name",
    "negative",
    "non_negative",
    "numpy_namespace",
    "scatter_rows",
    "supports_fancy_setitem",
    "to_numpy",
]

Array = Any
Namespace = Any

FLOAT_NAMES = ("float16", "float32", "float64")
"""The floating dtypes a parameter may have."""

_OTHER_NAMES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")

_NUMPY: list[Namespace] = []


def numpy_namespace() -> Namespace:
    """array-api-compat's NumPy namespace (resolved once)."""
    if not _NUMPY:
        _NUMPY.append(array_api_compat.array_namespace(np.empty(0)))
    return _NUMPY[0]


def is_array(x: object) -> bool:
    """Return True when `x` is an array of a library that array-api-compat knows."""
    if type(x) is np.ndarray:  # the common case, without array-api-compat's checks of every library
        return True
    return bool(array_api_compat.is_array_api_obj(x)) and not isinstance(x, (int, float, complex))


def namespace_name(xp: Namespace) -> str:
    """A short human name for a namespace, for error messages (``numpy``, ``cupy``, ...)."""
    return str(getattr(xp, "__name__", repr(xp))).removeprefix("array_api_compat.")


def array_namespace(name: str, x: object) -> Namespace:
    """Return the array-API namespace of `x`, or raise a TypeError naming the argument.

    scipy.sparse matrices and plain Python sequences are refused here: they must
    be routed elsewhere (or converted) before reaching the core.
    """
    if type(x) is np.ndarray:
        return numpy_namespace()
    if not is_array(x):
        raise TypeError(
            f"{name} must be an array (NumPy, CuPy or another array-API library), got {type(x).__name__}"
        )
    return array_api_compat.array_namespace(x)


_NAMESPACES: dict[type, Namespace] = {}


def namespace(*xs: Array) -> Namespace:
    """The array namespace of the first array among `xs` (Python numbers are skipped; cached per type)."""
    for x in xs:
        kind = type(x)
        if kind in (int, float):
            continue
        found = _NAMESPACES.get(kind)
        if found is None:
            found = _NAMESPACES[kind] = array_api_compat.array_namespace(x)
        return found
    raise TypeError("at least one argument must be an array")


def is_numpy_namespace(xp: Namespace) -> bool:
    """True for NumPy (array-api-compat's wrapper or NumPy itself)."""
    return bool(array_api_compat.is_numpy_namespace(xp))


def is_cupy_namespace(xp: Namespace) -> bool:
    """True for CuPy."""
    return bool(array_api_compat.is_cupy_namespace(xp))


def dtype_name(xp: Namespace, dtype: Any) -> str:
    """``"float32"`` for ``xp.float32`` and so on; ``str(dtype)`` for anything else.

    A namespace that lacks a dtype (``getattr`` gives None) never matches it:
    NumPy answers ``np.dtype("float64") == None`` with True.
    """
    for name in (*FLOAT_NAMES, *_OTHER_NAMES):
        candidate = getattr(xp, name, None)
        if candidate is not None and dtype == candidate:
            return name
    return str(dtype)


def device(x: Array) -> Any:
    """The device `x` lives on (array-api-compat's ``device``)."""
    return array_api_compat.device(x)


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy or view of any array-API array (NumPy, CuPy, torch, JAX, Dask: computed; DLPack)."""
    if isinstance(x, (np.ndarray, np.generic)):
        return np.asarray(x)
    kind = type(x).__module__.split(".", 1)[0]
    if kind == "torch":
        return x.detach().cpu().numpy()
    if kind == "dask":
        return np.asarray(x.compute())
    if kind in ("jax", "jaxlib"):
        return np.asarray(x)
    if hasattr(x, "get"):  # CuPy
        return np.asarray(x.get())
    return np.from_dlpack(x)


# CuPy compiles every kernel, its comparisons and conversions included, with flush-to-zero (see
# proxadagrad_ref.engines.cupy): a float32 subnormal compares as a zero there and converts to one.
# The three helpers below give NumPy's answers on every library.

FLOAT_BITS = {  # unsigned view, the sign bit, the bits of -inf, the bits of +inf
    "float16": (np.uint16, 0x8000, 0xFC00, 0x7C00),
    "float32": (np.uint32, 0x8000_0000, 0xFF80_0000, 0x7F80_0000),
    "float64": (np.uint64, 0x8000_0000_0000_0000, 0xFFF0_0000_0000_0000, 0x7FF0_0000_0000_0000),
}


def _negative_bits(x: Array, dtype: str) -> Array:
    """``x < 0`` read off the bits: sign bit set, magnitude non-zero and at most infinity (NaN is not)."""
    view, sign, neg_inf, _ = FLOAT_BITS[dtype]
    bits = x.view(view)
    return (bits > view(sign)) & (bits <= view(neg_inf))


def _non_negative_bits(x: Array, dtype: str) -> Array:
    """``x >= 0`` read off the bits: +0 up to +inf, or -0 (NaN is not)."""
    view, sign, _, inf = FLOAT_BITS[dtype]
    bits = x.view(view)
    return (bits <= view(inf)) | (bits == view(sign))


def negative(xp: Namespace, x: Array) -> Array:
    """``x < 0`` for a floating array of `xp`, subnormals included (on CuPy: from the bits)."""
    if is_cupy_namespace(xp):
        return _negative_bits(x, dtype_name(xp, x.dtype))
    return x < 0


def non_negative(xp: Namespace, x: Array) -> Array:
    """``x >= 0`` for a floating array of `xp` (NaN: False), subnormals included (on CuPy: from the bits)."""
    if is_cupy_namespace(xp):
        return _non_negative_bits(x, dtype_name(xp, x.dtype))
    return x >= 0


_ANY_NEGATIVE: list[Any] = []


def any_negative(xp: Namespace, x: Array) -> bool:
    """True when some entry of the floating array `x` is ``< 0`` (NaN is not), subnormals included.

    On CuPy: one reduction over the bits (integer comparisons only, no
    temporary array), so a check of a whole table costs one read of it.
    """
    if not is_cupy_namespace(xp):
        return bool(xp.any(x < 0))
    if not _ANY_NEGATIVE:
        import cupy

        _ANY_NEGATIVE.append(
            cupy.ReductionKernel(
                "U bits, U sign, U neg_inf", "bool y", "bits > sign && bits <= neg_inf",
                "a || b", "y = a", "false", "pa_any_negative",
            )
        )
    view, sign, neg_inf, _ = FLOAT_BITS[dtype_name(xp, x.dtype)]
    return bool(_ANY_NEGATIVE[0](x.view(view), view(sign), view(neg_inf)))


def astype(xp: Namespace, x: Array, dtype: Any) -> Array:
    """``xp.astype(x, dtype)`` rounded as NumPy rounds, subnormals included; for small arrays.

    On CuPy the conversion is made on the host (a copy each way), so use it
    for hyper-parameters, not for whole tables.
    """
    if is_cupy_namespace(xp):
        return xp.asarray(to_numpy(x).astype(dtype_name(xp, dtype)), device=device(x))
    return xp.astype(x, dtype)


def supports_fancy_setitem(xp: Namespace) -> bool:
    """True when ``x[int_array] = rows`` works in place (NumPy, CuPy, PyTorch)."""
    return bool(
        array_api_compat.is_numpy_namespace(xp)
        or array_api_compat.is_cupy_namespace(xp)
        or array_api_compat.is_torch_namespace(xp)
    )


def scatter_rows(xp: Namespace, table: Array, rows_index: Array, rows: Array, *, inplace: bool) -> Array:
    """Write ``rows[k]`` into ``table[rows_index[k]]`` and return the table.

    `rows_index` must hold unique, in-range indices. With ``inplace=True`` the
    table itself is modified (the namespace must allow it); otherwise a new table
    is returned and `table` is left untouched.

    Namespaces with integer-array assignment (NumPy, CuPy, PyTorch) cost
    O(touched rows x row size) on top of the copy a functional result needs.
    Other namespaces (array-api-strict, which proves the core standard-only) fall
    back to a standard-only merge that costs O(table): a row of the result is
    the new row where its index was touched, the old row elsewhere.
    """
    if rows_index.shape[0] == 0:
        return table if inplace else xp.asarray(table, copy=True)
    if supports_fancy_setitem(xp):
        out = table if inplace else xp.asarray(table, copy=True)
        out[rows_index, ...] = rows
        return out
    n_rows = table.shape[0]
    order = xp.argsort(rows_index)
    sorted_index = xp.take(rows_index, order)
    sorted_rows = xp.take(rows, order, axis=0)
    every_row = xp.arange(n_rows, dtype=rows_index.dtype, device=device(table))
    position = xp.searchsorted(sorted_index, every_row)
    position = xp.where(position < sorted_index.shape[0], position, 0)
    touched = xp.take(sorted_index, position) == every_row
    touched = xp.reshape(touched, (n_rows,) + (1,) * (table.ndim - 1))
    merged = xp.where(touched, xp.take(sorted_rows, position, axis=0), table)
    if inplace:
        table[...] = merged
        return table
    return merged
