r"""Proximal Adagrad as an optax ``GradientTransformation``, with the engine's bits.

The transformation is thin over the optimizer (:class:`~proxadagrad_ref.ProximalAdagrad`):
every update runs the optimizer's pipeline (weight decay, loss scale, learning
rate of the step, the kernel) with NumPy on host copies of the JAX arrays --
eagerly, or under ``jax.jit`` through one ``jax.pure_callback``
per update -- so no part of the formula is restated here and XLA's arithmetic
(flush-to-zero, FMA contraction, ``rsqrt``) never touches it.

**Exactness.** optax applies ``optax.apply_updates(params, updates)``, which
is ``params + updates`` in floating point. A plain difference ``w' - w`` does
not always come back to the engine's ``w'`` (``docs/optax.md`` gives the
measured fractions). So:

* ``updates`` holds, per element, the *nudged* difference
  (:func:`nudged_difference`): the float ``u`` nearest to ``w' - w`` with
  ``fl(w + u) == w'`` bit for bit, where one exists (almost every element);
  the plain difference elsewhere. With ``optax.apply_updates`` every element
  is the engine's except where no such ``u`` exists, or where XLA flushes a
  subnormal ``w``, ``u`` or ``w'`` to zero.
* The state carries the engine's new parameters: :func:`engine_params` gives
  them, exact for every element (the exact path, at the cost of one more copy
  of the parameters in the state).

Layers: this module imports jax and optax only when a transformation is built
or used, so the package imports without them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..backends.compat import FLOAT_NAMES
from ..backends.host import is_tracer
from ..optim import Parameter, ProximalAdagrad
from ..optim.lr import once_iterable
from ..optim.schedules import LearningRateSchedule

if TYPE_CHECKING:
    import optax

__all__ = ["ProximalAdagradState", "engine_params", "nudged_difference", "proximal_adagrad"]

Array = Any
PyTree = Any


class ProximalAdagradState(NamedTuple):
    """The state of :func:`proximal_adagrad`.

    Attributes
    ----------
    count : jax.Array
        The global step (int32 scalar): the number of updates so far.
    accum : PyTree
        The accumulators, a pytree like the parameters (their dtypes and shapes).
    params : PyTree
        The engine's parameters after the latest update (the initial
        parameters before the first): read them with :func:`engine_params`.

    """

    count: Array
    accum: PyTree
    params: PyTree


# --- the nudged difference (host, NumPy) -------------------------------------------------------------------


_UNSIGNED: dict[int, Any] = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _unsigned(dtype: np.dtype) -> Any:
    """The unsigned integer type of `dtype`'s width."""
    return _UNSIGNED[dtype.itemsize]


def _keys(x: np.ndarray) -> np.ndarray:
    """Unsigned keys ordered as the floats `x` are (``-0.0`` just below ``+0.0``)."""
    bits = x.view(_unsigned(x.dtype))
    sign = bits.dtype.type(1 << (8 * x.dtype.itemsize - 1))
    return np.where(bits & sign, ~bits, bits | sign)


def _floats(keys: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Inverse of :func:`_keys`."""
    sign = keys.dtype.type(1 << (8 * dtype.itemsize - 1))
    return np.where(keys & sign, keys ^ sign, ~keys).astype(keys.dtype).view(dtype)


def _first_key(pred: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per element, the smallest key in ``[lo, hi]`` where the monotone `pred` holds (`hi` if none)."""
    one, two = lo.dtype.type(1), lo.dtype.type(2)
    for _ in range(8 * lo.dtype.itemsize + 1):
        open_ = lo < hi
        if not open_.any():
            break
        mid = lo + (hi - lo) // two
        ok = pred(mid)
        hi = np.where(open_ & ok, mid, hi)
        lo = np.where(open_ & ~ok, mid + one, lo)
    return lo


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit-for-bit equality (every NaN equal to every NaN)."""
    u = _unsigned(a.dtype)
    return (a.view(u) == b.view(u)) | (np.isnan(a) & np.isnan(b))


def nudged_difference(old: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The addend that takes `old` to `new` in one IEEE addition, where one exists.

    Parameters
    ----------
    old, new : numpy.ndarray
        Parameters before and after a step: one float dtype, one shape.

    Returns
    -------
    updates : numpy.ndarray
        Per element, the float ``u`` nearest to ``new - old`` such that
        ``old + u == new`` bit for bit (round to nearest even, subnormals
        kept); where no such ``u`` exists, the plain difference ``new - old``.
    exact : numpy.ndarray of bool
        Where such a ``u`` exists.

    Notes
    -----
    ``f(u) = fl(old + u)`` is monotone in ``u``, so the ``u`` that give ``new``
    form an interval of floats; when the plain difference misses it, a
    bisection on the floats' order finds its end nearest to the difference.
    None exists when ``|new|`` is much smaller than ``|old|`` and not on the
    grid of ``old``'s last bit, and for ``-0.0`` from a non-zero ``old``
    (``x + (-x)`` is ``+0.0``).

    Examples
    --------
    >>> import numpy as np
    >>> old = np.array([1.0, 0.75, 3.0], np.float32)
    >>> new = np.array([0.5, 2e-9, -0.0], np.float32)
    >>> u, exact = nudged_difference(old, new)
    >>> exact.tolist()
    [True, False, False]
    >>> (old + u)[0] == new[0]
    np.True_

    """
    with np.errstate(all="ignore"):
        u = new - old
        exact = _same(old + u, new)
        todo = ~exact & np.isfinite(old) & np.isfinite(new)
        if not todo.any():
            return u, exact
        w, target, plain = old[todo], new[todo], u[todo]
        top = _keys(np.array([np.finfo(old.dtype).max], old.dtype))
        lo, hi = np.broadcast_to(~top, w.shape).copy(), np.broadcast_to(top, w.shape).copy()
        up = _floats(_first_key(lambda k: w + _floats(k, old.dtype) >= target, lo, hi), old.dtype)
        past = _first_key(lambda k: w + _floats(k, old.dtype) > target, lo, hi)
        down = _floats(np.maximum(past, lo + past.dtype.type(1)) - past.dtype.type(1), old.dtype)
        below = w + plain < target  # the interval lies above the plain difference, else below
        near, far = np.where(below, up, down), np.where(below, down, up)
        near_ok, far_ok = _same(w + near, target), _same(w + far, target)  # far: signed zeros
        u[todo] = np.where(near_ok, near, np.where(far_ok, far, plain))
        exact[todo] = near_ok | far_ok
    return u, exact


# --- the settings and one host step ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    """The transformation's arguments; `schedule` is an optax schedule (then `learning_rate` is unused)."""

    learning_rate: object
    schedule: Callable[[Any], Any] | None
    accum: float
    l1: float
    l2: float
    weight_decay: object
    loss_scale: float
    emulate: str | None
    prox_step: str

    def optimizer(self, params: list[Parameter], lr: object) -> ProximalAdagrad:
        """The engine's optimizer over `params` (`lr`: the optax schedule's value, when there is one)."""
        return ProximalAdagrad(
            params,
            accum=self.accum,
            learning_rate=self.learning_rate if self.schedule is None else lr,
            l1=self.l1,
            l2=self.l2,
            loss_scale=self.loss_scale,
            weight_decay=self.weight_decay,
            emulate=self.emulate,
            prox_step=self.prox_step,
        )


def _host_step(
    settings: _Settings,
    names: Sequence[str],
    step: int,
    lr: object,
    leaves: tuple[Sequence[np.ndarray], Sequence[np.ndarray], Sequence[np.ndarray]],
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """One optimizer step on NumPy copies: (new parameters, new accumulators, nudged updates)."""
    ws, accs, gs = leaves
    old = [np.asarray(w) for w in ws]  # read only; the optimizer updates its own copies
    params = [Parameter(w.copy(), name) for w, name in zip(old, names, strict=True)]
    opt = settings.optimizer(params, lr)
    state = opt.state_dict()
    state["global_step"], state["accum"] = step, [np.asarray(a) for a in accs]
    opt.load_state_dict(state)
    opt(tuple(np.asarray(g) for g in gs))
    new = [np.asarray(p.data) for p in params]
    updates = [nudged_difference(w, n)[0] for w, n in zip(old, new, strict=True)]
    return new, list(opt.accum), updates  # opt.accum: copies already


# --- the transformation ------------------------------------------------------------------------------------


def _leaf_names(tree: PyTree) -> tuple[list[str], list[Array], Any]:
    """Key paths (the parameters' names), leaves and tree structure of `tree`."""
    import jax

    with_paths, treedef = jax.tree_util.tree_flatten_with_path(tree)
    names = [jax.tree_util.keystr(path) or "params" for path, _ in with_paths]
    return names, [leaf for _, leaf in with_paths], treedef


def _check_leaves(name: str, leaves: list[Array]) -> None:
    """Every leaf a float16/32/64 array; float64 only while x64 is on."""
    import jax

    if not leaves:
        raise ValueError(f"{name} has no arrays")
    for i, leaf in enumerate(leaves):
        dtype = getattr(leaf, "dtype", None)
        if dtype is None or not hasattr(leaf, "shape"):
            raise TypeError(f"{name} leaf {i} must be an array, got {type(leaf).__name__}")
        if np.dtype(dtype).name not in FLOAT_NAMES:
            raise TypeError(f"{name} leaf {i} must have dtype float16, float32 or float64, got {dtype}")
        if np.dtype(dtype) == np.float64 and not jax.config.read("jax_enable_x64"):
            raise TypeError(
                f"{name} leaf {i} is float64 while jax_enable_x64 is off: JAX would narrow it to float32; "
                "enable x64 (jax.config.update('jax_enable_x64', True))"
            )


def _check_like(name: str, tree: PyTree, treedef: Any, leaves: list[Array]) -> list[Array]:
    """The leaves of `tree`, which must have `treedef` and the dtypes and shapes of `leaves`."""
    import jax

    got, got_def = jax.tree_util.tree_flatten(tree)
    if got_def != treedef:
        raise ValueError(f"{name} has tree structure {got_def} but params has {treedef}")
    for i, (x, p) in enumerate(zip(got, leaves, strict=True)):
        if getattr(x, "dtype", None) != p.dtype or tuple(getattr(x, "shape", ())) != tuple(p.shape):
            what = f"{getattr(x, 'dtype', type(x).__name__)}{tuple(getattr(x, 'shape', ()))}"
            raise TypeError(
                f"{name} leaf {i} must have params' dtype and shape {p.dtype}{tuple(p.shape)}, got {what}"
            )
    return got


def _settings(
    learning_rate: object,
    accum: float,
    l1: float,
    l2: float,
    weight_decay: object,
    loss_scale: float,
    emulate: str | None,
    prox_step: str,
) -> _Settings:
    """The checked settings: the optimizer's own checks, run once on a probe parameter."""
    learning_rate = once_iterable(learning_rate)
    schedule = None
    if callable(learning_rate) and not isinstance(learning_rate, LearningRateSchedule):
        schedule = learning_rate  # an optax schedule: step -> learning rate
    settings = _Settings(learning_rate, schedule, accum, l1, l2, weight_decay, loss_scale, emulate, prox_step)
    settings.optimizer([Parameter(np.zeros(1, np.float32), "probe")], 0.0)  # raises, naming the argument
    return settings


def proximal_adagrad(
    learning_rate: object,
    accum: float = 0.1,
    l1: float = 0.0,
    l2: float = 0.0,
    weight_decay: object = 0.0,
    loss_scale: float = 1.0,
    *,
    emulate: str | None = None,
    prox_step: str = "adaptive",
) -> optax.GradientTransformation:
    r"""Proximal Adagrad (FOBOS) as an optax transformation, computed by the engine's optimizer.

    Each update performs, per parameter leaf :math:`w` with gradient :math:`g`,
    the step of :class:`proxadagrad_ref.ProximalAdagrad` (whose docstring
    states the formula; this function does not restate it) and returns

    .. math:: u = \operatorname{nudge}(w, w'), \qquad \operatorname{fl}(w + u) = w'

    where:

    - :math:`w'` is the engine's new parameter (every profile's bits);
    - :math:`u` is :func:`nudged_difference`: the float nearest to
      :math:`w' - w` whose IEEE sum with :math:`w` is :math:`w'`, where one
      exists, else the plain difference.

    Parameters
    ----------
    learning_rate : float, int, array, iterable, LearningRateSchedule or callable
        The optimizer's forms (fixed, one value per step, an engine schedule
        of the global step), or an optax schedule ``count -> lr`` evaluated by
        JAX at the state's count (its value is passed to the engine as JAX
        computed it).
    accum : float
        Initial accumulator value, ``>= 0``.
    l1, l2 : float
        Regularization strengths, ``>= 0``.
    weight_decay : float, int or callable
        As :class:`~proxadagrad_ref.ProximalAdagrad`: it skips leaves whose key
        path (``jax.tree_util.keystr``, e.g. ``"['bn']['gamma']"``) contains
        ``"beta"`` or ``"gamma"``.
    loss_scale : float
        Fixed loss scale ``> 0`` divided out of the gradients.
    emulate : {None, "mindspore"}
        The profile: exact, or MindSpore's whole pipeline.
    prox_step : {"adaptive", "fixed"}
        Passed to the kernels.

    Returns
    -------
    optax.GradientTransformation
        ``init(params)`` gives a :class:`ProximalAdagradState`;
        ``update(grads, state, params)`` needs `params` and gives
        ``(updates, state)``. Both work eagerly and under ``jax.jit``.

    Raises
    ------
    TypeError, ValueError
        At construction, the optimizer's checks of every argument (naming
        it); at ``init``/``update``, leaves that are not float arrays or do
        not match `params`, a missing `params`. Under ``jax.jit`` checks on
        values (a negative accumulator, a schedule's negative rate) run in
        the callback and stop the computation with the engine's message.

    Warnings
    --------
    Put this transformation last in an ``optax.chain``: what follows it would
    change ``updates`` but not :func:`engine_params`. For every element to be
    the engine's, take the parameters from :func:`engine_params`; with
    ``optax.apply_updates`` the few elements listed in ``docs/optax.md``
    differ (by the measured bound).

    Examples
    --------
    See ``docs/optax.md`` (this module imports JAX only when used).

    """
    settings = _settings(learning_rate, accum, l1, l2, weight_decay, loss_scale, emulate, prox_step)

    def init(params: PyTree) -> ProximalAdagradState:
        import jax
        import jax.numpy as jnp

        _, leaves, treedef = _leaf_names(params)
        _check_leaves("params", leaves)
        accums = [np.full(tuple(p.shape), settings.accum, np.dtype(p.dtype)) for p in leaves]
        return ProximalAdagradState(
            jnp.zeros((), jnp.int32),
            jax.tree_util.tree_unflatten(treedef, [jnp.asarray(a) for a in accums]),
            jax.tree_util.tree_unflatten(treedef, [jnp.asarray(p) for p in leaves]),
        )

    def update(
        grads: PyTree, state: ProximalAdagradState, params: PyTree | None = None
    ) -> tuple[PyTree, ProximalAdagradState]:
        return _update(settings, grads, state, params)

    import optax

    return optax.GradientTransformation(init, update)


def _update(
    settings: _Settings, grads: PyTree, state: ProximalAdagradState, params: PyTree | None
) -> tuple[PyTree, ProximalAdagradState]:
    """The transformation's ``update``: the engine's step, eager or through ``jax.pure_callback``."""
    import jax
    import jax.numpy as jnp
    import optax

    if params is None:
        raise ValueError("params is required: proximal_adagrad's update is update(grads, state, params)")
    if not isinstance(state, ProximalAdagradState):
        raise TypeError(f"state must be a ProximalAdagradState, got {type(state).__name__}")
    names, ws, treedef = _leaf_names(params)
    _check_leaves("params", ws)
    gs = _check_like("grads", grads, treedef, ws)
    accs = _check_like("state.accum", state.accum, treedef, ws)
    lr = jnp.asarray(settings.schedule(state.count)) if settings.schedule is not None else jnp.zeros(())
    leaves = (ws, accs, gs)
    if any(is_tracer(x) for x in (state.count, lr, *ws, *accs, *gs)):
        new, new_accs, updates = _traced_step(settings, names, state.count, lr, leaves)
    else:
        host = _host_step(
            settings,
            names,
            int(state.count),
            np.asarray(lr),
            tuple(map(_host_list, leaves)),  # type: ignore[arg-type]
        )
        new, new_accs, updates = ([jnp.asarray(x) for x in part] for part in host)
    unflatten = jax.tree_util.tree_unflatten
    new_state = ProximalAdagradState(
        optax.safe_int32_increment(state.count), unflatten(treedef, new_accs), unflatten(treedef, new)
    )
    return unflatten(treedef, updates), new_state


def _host_list(arrays: list[Array]) -> list[np.ndarray]:
    return [np.asarray(x) for x in arrays]


def _traced_step(
    settings: _Settings, names: list[str], count: Array, lr: Array, leaves: tuple[list[Array], ...]
) -> tuple[list[Array], list[Array], list[Array]]:
    """:func:`_host_step` under ``jax.jit``: one ``jax.pure_callback`` for the whole tree."""
    import jax

    ws, accs, gs = leaves
    n = len(ws)

    def on_host(count: Any, lr: Any, *arrays: Any) -> list[np.ndarray]:
        parts = [list(map(np.asarray, arrays[k * n : (k + 1) * n])) for k in range(3)]
        new, new_accs, updates = _host_step(settings, names, int(count), np.asarray(lr), tuple(parts))  # type: ignore[arg-type]
        return [*new, *new_accs, *updates]

    shapes = [jax.ShapeDtypeStruct(tuple(w.shape), w.dtype) for w in ws] * 3
    out = jax.pure_callback(on_host, shapes, count, lr, *ws, *accs, *gs, vmap_method="sequential")
    return list(out[:n]), list(out[n : 2 * n]), list(out[2 * n :])


def engine_params(state: PyTree) -> PyTree:
    """The engine's parameters after the latest update: the exact path.

    Parameters
    ----------
    state : ProximalAdagradState or an optax state holding exactly one
        (e.g. the state of an ``optax.chain``).

    Returns
    -------
    PyTree
        The new parameters, every element the engine's bits (use them
        instead of ``optax.apply_updates(params, updates)``).

    Raises
    ------
    ValueError
        `state` holds no :class:`ProximalAdagradState`, or more than one.

    """
    import jax

    found = [
        s
        for s in jax.tree_util.tree_leaves(state, is_leaf=lambda x: isinstance(x, ProximalAdagradState))
        if isinstance(s, ProximalAdagradState)
    ]
    if len(found) != 1:
        raise ValueError(f"state must hold exactly one ProximalAdagradState, found {len(found)}")
    return found[0].params
