"""Argument checks of the public kernels (and of the optimizer, which calls the kernels' checks).

Every check runs before any output is computed or written, and every error
names the argument it is about, so a failed call changes nothing.
:func:`prepare_kind` holds the checks that depend only on the parameter's
kind (namespace, dtype, device) and the profile: the optimizer makes them once
per kind and step.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..backends.compat import (
    FLOAT_BITS,
    FLOAT_NAMES,
    any_negative,
    array_namespace,
    astype,
    device,
    dtype_name,
    is_array,
    namespace_name,
    negative,
    non_negative,
)
from ..backends.host import is_dask
from ..engines.step import Elementwise
from ..numerics.profiles import Formula, Profile, get_profile, hyper_dtype_name

__all__ = [
    "KernelStep",
    "Kind",
    "check_accum",
    "check_common",
    "check_floating_var",
    "check_hyperparameter",
    "check_in_place",
    "check_like_var",
    "check_non_negative",
    "check_writable",
    "in_place_refusal",
    "prepare_hyper",
    "prepare_kind",
    "surely_non_negative",
]

Array = Any
Namespace = Any

_NUMPY_FLOATS = frozenset(np.dtype(name) for name in FLOAT_NAMES)


def check_floating_var(var: object) -> Namespace:
    """Check that `var` is a float16, float32 or float64 array; return its namespace."""
    xp = array_namespace("var", var)
    if type(var) is np.ndarray and var.dtype in _NUMPY_FLOATS:  # the common case, without dtype_name
        return xp
    assert is_array(var)
    if dtype_name(xp, var.dtype) not in FLOAT_NAMES:  # type: ignore[attr-defined]
        raise TypeError(
            f"var must have dtype float16, float32 or float64, got {dtype_name(xp, var.dtype)}"  # type: ignore[attr-defined]
        )
    return xp


def check_like_var(
    name: str,
    x: object,
    var: Array,
    xp: Namespace,
    *,
    shape: tuple[int, ...] | None = None,
    var_name: str = "var",
) -> None:
    """Check that `x` is an array of `var`'s namespace, device and dtype, with `shape` (default var's).

    Two NumPy arrays (always on the CPU) that pass are recognised without
    the namespace and device look-ups; anything else takes every check.
    `name` and `var_name` label the messages.
    """
    if (
        type(x) is np.ndarray
        and type(var) is np.ndarray
        and x.dtype == var.dtype
        and x.shape == (var.shape if shape is None else shape)
        and array_namespace(name, x) is xp
    ):
        return
    if not is_array(x):
        raise TypeError(f"{name} must be an array of the same library as {var_name}, got {type(x).__name__}")
    x_ns = array_namespace(name, x)
    if x_ns is not xp:
        raise TypeError(
            f"{name} is a {namespace_name(x_ns)} array but {var_name} is a {namespace_name(xp)} array; "
            "all arrays of one call must come from the same library"
        )
    if device(x) != device(var):
        raise ValueError(f"{name} is on device {device(x)} but {var_name} is on device {device(var)}")
    if x.dtype != var.dtype:  # type: ignore[attr-defined]
        raise TypeError(
            f"{name} has dtype {dtype_name(xp, x.dtype)} but {var_name} has dtype "  # type: ignore[attr-defined]
            f"{dtype_name(xp, var.dtype)}; they must match"
        )
    want = tuple(var.shape) if shape is None else shape
    if tuple(x.shape) != want:  # type: ignore[attr-defined]
        raise ValueError(f"{name} has shape {tuple(x.shape)} but must have shape {want}")  # type: ignore[attr-defined]


_NUMPY_HYPER_DTYPE: dict[Any, np.dtype[Any]] = {
    np.dtype(n): np.dtype(hyper_dtype_name(n)) for n in FLOAT_NAMES
}
_NO_OVERFLOW: dict[np.dtype[Any], float] = {np.dtype(np.float32): 3.0e38, np.dtype(np.float64): 1.0e308}


def check_hyperparameter(name: str, value: object, var: Array, xp: Namespace) -> Array:
    """Convert `value` (a real number or 0-d floating array) to a 0-d array of the hyper-parameter dtype.

    The hyper-parameter dtype is :func:`~proxadagrad_ref.numerics.profiles.hyper_dtype_name`
    of the parameter dtype. The value is rounded to it first, as a framework
    kernel receives it, then checked: it must be finite and ``>= 0``.
    """
    if (type(value) is float or type(value) is int) and type(var) is np.ndarray:
        # NumPy parameter, Python number well inside the hyper-parameter dtype's range: the
        # rounding below cannot overflow; NaN, infinities and negatives take the full path.
        hyper = _NUMPY_HYPER_DTYPE.get(var.dtype)
        if hyper is not None and 0 <= value < _NO_OVERFLOW[hyper]:
            return np.array(float(value), dtype=hyper)  # as the full path: float(value), then rounded
    hyper_dtype = getattr(xp, hyper_dtype_name(dtype_name(xp, var.dtype)))
    if isinstance(value, bool) or (not isinstance(value, numbers.Real) and not is_array(value)):
        raise TypeError(f"{name} must be a real number or a 0-d array, got {type(value).__name__}")
    if is_array(value):
        value_ns = array_namespace(name, value)
        if value_ns is not xp:
            raise TypeError(
                f"{name} is a {namespace_name(value_ns)} array but var is a {namespace_name(xp)} array"
            )
        if tuple(value.shape) != ():  # type: ignore[attr-defined]
            raise ValueError(f"{name} must be a scalar or a 0-d array, got shape {tuple(value.shape)}")  # type: ignore[attr-defined]
        if dtype_name(xp, value.dtype) not in FLOAT_NAMES:  # type: ignore[attr-defined]
            raise TypeError(f"{name} must have a floating dtype, got {dtype_name(xp, value.dtype)}")  # type: ignore[attr-defined]
        with np.errstate(over="ignore"):  # overflow to inf is reported below, naming the argument
            rounded = astype(xp, value, hyper_dtype)
        if bool(xp.isfinite(rounded)) and bool(non_negative(xp, rounded)):
            return rounded
    else:
        try:
            number = float(value)  # type: ignore[arg-type]
        except OverflowError:  # an int beyond float64
            raise ValueError(
                f"{name} must be a finite number >= 0 in {dtype_name(xp, hyper_dtype)}, got an integer "
                f"of {int(value).bit_length()} bits"  # type: ignore[call-overload]
            ) from None
        with np.errstate(over="ignore"):  # checked on the host: no device round trip, NumPy's rounding
            host = np.asarray(number, dtype=dtype_name(xp, hyper_dtype))
        if bool(np.isfinite(host)) and bool(host >= 0):
            return xp.asarray(number, dtype=hyper_dtype, device=device(var))
    raise ValueError(f"{name} must be a finite number >= 0 in {dtype_name(xp, hyper_dtype)}, got {value!r}")


def check_non_negative(name: str, x: Array, xp: Namespace) -> None:
    """Refuse negative entries (NaN is allowed: it propagates as documented)."""
    if any_negative(xp, x):  # 0-d arrays too (an empty one has no negative entry); subnormals included
        count = int(xp.sum(xp.astype(negative(xp, x), xp.int64)))
        raise ValueError(f"{name} must be non-negative; it has {count} negative entries")


def in_place_refusal(name: str, x: Array, xp: Namespace) -> Exception | None:
    """The error :func:`check_writable` raises for `x`, or None when `x` can be written in place."""
    if type(x) is np.ndarray:
        if x.flags.writeable:
            return None
        return ValueError(f"{name} is read-only; inplace=True needs writable arrays")
    flags = getattr(x, "flags", None)
    if flags is not None and not getattr(flags, "writeable", True):
        return ValueError(f"{name} is read-only; inplace=True needs writable arrays")
    if namespace_name(xp) in ("jax.numpy", "jax"):
        return TypeError(f"{name} is a JAX array, which cannot be updated in place; use inplace=False")
    if is_dask(x):
        return TypeError(f"{name} is a dask array, which is lazy, not updated in place; use inplace=False")
    return None


def check_writable(name: str, x: Array, xp: Namespace) -> None:
    """For ``inplace=True``: refuse arrays that cannot be written in place."""
    refusal = in_place_refusal(name, x, xp)
    if refusal is not None:
        raise refusal


def surely_non_negative(x: Array) -> bool:
    """True when `x` is a NumPy array whose minimum is ``>= 0`` (one pass, no temporary).

    False means "run the full check" (other namespaces, NaN present, or a
    negative entry, which the full check reports). float16 is read as its bits:
    NumPy's float16 ``min`` converts every element (65 ms for 16 Mi, 13x a
    float16 step); the largest uint16 is at most the bits of ``+inf`` exactly
    when every element is ``+0`` to ``+inf`` (``-0.0`` takes the full check).
    """
    if type(x) is not np.ndarray or x.size == 0:
        return False
    if x.dtype == np.float16:
        view, _, _, inf = FLOAT_BITS["float16"]
        return bool(np.max(x.view(view)) <= inf)
    return bool(np.min(x) >= 0)


def check_accum(accum: Array, xp: Namespace, name: str = "accum") -> None:
    """Refuse negative accumulators (one pass without a temporary for NumPy arrays)."""
    if not surely_non_negative(accum):
        check_non_negative(name, accum, xp)


def check_in_place(var: Array, accum: Array, xp: Namespace) -> None:
    """For ``inplace=True``: both arrays writable, and two distinct arrays."""
    check_writable("var", var, xp)
    check_writable("accum", accum, xp)
    if var is accum:
        raise ValueError("var and accum are the same array; inplace=True needs two distinct arrays")


def prepare_hyper(
    lr: object, l1: object, l2: object, var: Array, xp: Namespace
) -> tuple[Array, Array, Array]:
    """``lr``, ``l1`` and ``l2`` checked and rounded for parameters like `var` (dtype, device).

    They depend on `var` only through its namespace, dtype and device, so a
    caller with many parameters of one kind may check them once.
    """
    return (
        check_hyperparameter("lr", lr, var, xp),
        check_hyperparameter("l1", l1, var, xp),
        check_hyperparameter("l2", l2, var, xp),
    )


class Kind(NamedTuple):
    """The checks of a kernel call that depend only on `var`'s kind and the profile, made.

    Attributes
    ----------
    xp : namespace
        `var`'s array-API namespace.
    profile : Profile
        The profile, checked to define `var`'s dtype and `prox_step` for the op.
    hyper : tuple of 3 arrays
        ``lr``, ``l1``, ``l2`` checked and rounded (:func:`prepare_hyper`).
    prox_step : str
        ``"adaptive"`` or ``"fixed"``.

    """

    xp: Namespace
    profile: Profile
    hyper: tuple[Array, Array, Array]
    prox_step: str


def prepare_kind(
    var: object, lr: object, l1: object, l2: object, *, prox_step: str, emulate: str | None, op: str
) -> Kind:
    """Check `var` (a floating array), the profile for `op` (``"dense"``, ``"sparse"``) and lr, l1, l2."""
    xp = check_floating_var(var)
    profile = get_profile(emulate, prox_step, xp, var.dtype, op)  # type: ignore[attr-defined]
    return Kind(xp, profile, prepare_hyper(lr, l1, l2, var, xp), prox_step)


def check_common(var: object, accum: object, inplace: object) -> Namespace:
    """The checks both kernels make first: `var` a floating array, `accum` like it, `inplace` a bool."""
    xp = check_floating_var(var)
    check_like_var("accum", accum, var, xp)
    if not isinstance(inplace, bool):
        raise TypeError(f"inplace must be a bool, got {type(inplace).__name__}")
    return xp


@dataclass(frozen=True, slots=True)
class KernelStep:
    """What a checked kernel step holds, dense or sparse (the kernels add their gradient).

    Attributes
    ----------
    kind : Kind
        Namespace, profile (checked to define the dtype and prox step) and the
        checked hyper-parameters.
    var, accum : array
        The parameters (or table) and accumulators, checked alike.
    inplace : bool
        True: the results are written into `var` and `accum`.
    engine : str
        A name of :data:`proxadagrad_ref.engines.dispatch.ENGINES`.

    """

    kind: Kind
    var: Array
    accum: Array
    inplace: bool
    engine: str

    def task(self, formula: Formula, var: Array, accum: Array, grad: Array) -> Elementwise:
        """The engines' view of (part of) this step, evaluated with `formula`."""
        k = self.kind
        return Elementwise(k.profile, formula, k.xp, var, accum, grad, k.hyper, k.prox_step == "adaptive")
