r"""The :class:`ProximalAdagrad` optimizer: MindSpore's ``nn.ProximalAdagrad`` as a short chain of stages."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..backends.compat import array_namespace, device
from ..numerics.profiles import get_profile
from .groups import ParamConfig, parse_params
from .numerics import numerics_for
from .parameter import Parameter
from .pipeline import Hyper, learning_rates, plan_step, run_step
from .state import check_state, describe, read_state, write_state
from .validation import check_bool, check_float

__all__ = ["ProximalAdagrad"]

Array = Any


class ProximalAdagrad:
    r"""Proximal Adagrad (FOBOS) optimizer with every behaviour of MindSpore's ``nn.ProximalAdagrad``.

    Each call ``opt(grads)`` performs, for every parameter :math:`w` with
    gradient :math:`g`:

    .. math::

        \hat g = \frac{g + wd \cdot s \cdot w}{s}, \qquad
        a_{t+1} = a_t + \hat g^2, \qquad
        v = w_t - \frac{\gamma_t}{\sqrt{a_{t+1}}}\,\hat g,

        w_{t+1} = \frac{\operatorname{sign}(v)\,\max(|v| - \eta\,l_1,\ 0)}{1 + \eta\,l_2}

    where:

    - :math:`s` is `loss_scale` and :math:`wd` the weight decay (zero for
      parameters it does not apply to); :math:`\hat g` is then centralized for
      groups with ``grad_centralization=True``;
    - :math:`\gamma_t` is the learning rate of step :math:`t` (`learning_rate`
      or the group's ``"lr"``), :math:`t` the global step;
    - :math:`\eta = \gamma_t/\sqrt{a_{t+1}}` for ``prox_step="adaptive"``
      (what the kernels compute) or :math:`\gamma_t` for ``"fixed"`` (the
      printed formula);
    - :math:`a_0` is `accum`.

    The stages run in MindSpore's order -- weight decay, gradient
    centralization, loss scale, summing of duplicate sparse rows, learning
    rate of the step, kernel, ``global_step += 1`` -- see
    :mod:`proxadagrad_ref.optim.pipeline`. A call first runs every stage and
    every check of the kernels for every parameter, then updates each
    parameter's array and its accumulator **in place** (``Parameter.data``
    keeps its identity, as in MindSpore); a call that raises changes nothing.

    Parameters
    ----------
    params : list of Parameter or list of dict
        The parameters, or groups: dicts with keys ``"params"`` (required, a
        list of Parameter), ``"lr"``, ``"weight_decay"``,
        ``"grad_centralization"`` (bool), or one dict with the sole key
        ``"order_params"`` giving the update order of all grouped parameters.
    accum : float
        Initial accumulator value, ``>= 0`` (an int is refused, as MindSpore does).
        Accumulators are created in each parameter's dtype.
    learning_rate : float, int, array, iterable or LearningRateSchedule
        Fixed (number ``>= 0`` or 0-d array), per step (1-D array, or an
        iterable converted to float32; reading past its end raises IndexError)
        or a :class:`~proxadagrad_ref.schedules.LearningRateSchedule` called
        with the global step.
    l1, l2 : float
        Regularization strengths, ``>= 0`` (floats only).
    use_locking : bool
        True: a call holds the lock of every parameter it updates (and the
        optimizer's), so concurrent calls from several threads serialize and
        lose no update. False: those locks are not taken; concurrent calls
        interleave (only the short write of each parameter is serialized, by
        a private update lock, so arrays never mix two writes).
    loss_scale : float
        Fixed loss scale ``> 0`` (int converted) to divide out of the gradients.
    weight_decay : float, int or callable
        ``>= 0``, or a callable of the global step (MindSpore's Cell form).
        Ungrouped, it applies to parameters whose name contains neither
        ``"beta"`` nor ``"gamma"``; grouped, to groups whose value is ``> 0``
        or dynamic. For a sparse gradient each row occurrence is decayed before
        duplicates are summed, so a row listed twice is decayed twice
        (MindSpore's behaviour).
    emulate : {None, "mindspore"}
        None: exact (the stages in float64, one rounding to the parameter
        dtype before the exactly rounded kernel). ``"mindspore"``: MindSpore's
        whole pipeline numerics (:mod:`proxadagrad_ref.optim.numerics`).
    prox_step : {"adaptive", "fixed"}
        Passed to the kernels.

    Raises
    ------
    TypeError
        Wrong argument types (see each argument); non-Parameter elements;
        parameter dtypes the profile does not define.
    ValueError
        Empty `params`, negative or non-finite values, ``loss_scale <= 0``,
        inconsistent groups (a parameter twice, a bad ``order_params``, group
        1-D rates of different lengths).
    KeyError
        A group dict with an unknown key, or without ``"params"``.

    Examples
    --------
    A tiny stand-in for a network with a convolution and a dense layer:

    >>> import numpy as np
    >>> from proxadagrad_ref import Parameter, ProximalAdagrad
    >>> class Net:
    ...     def __init__(self):
    ...         self.params = [Parameter(np.ones((4, 16, 3, 3), np.float32), name="conv1.weight"),
    ...                        Parameter(np.ones((8, 16), np.float32), name="fc.weight"),
    ...                        Parameter(np.zeros(8, np.float32), name="fc.bias")]
    ...     def trainable_params(self):
    ...         return list(self.params)
    >>> net = Net()

    1) All parameters use the same learning rate and weight decay:

    >>> optim = ProximalAdagrad(params=net.trainable_params())
    >>> optim(tuple(np.ones_like(p.data) for p in net.trainable_params()))
    True
    >>> optim.global_step, float(net.params[0].data[0, 0, 0, 0])  # 1 - 0.001 / sqrt(0.1 + 1)
    (1, 0.9990465641021729)

    2) Parameter groups with different values, updated in the order of ``order_params``:

    >>> conv_params = list(filter(lambda x: 'conv' in x.name, net.trainable_params()))
    >>> no_conv_params = list(filter(lambda x: 'conv' not in x.name, net.trainable_params()))
    >>> group_params = [{'params': conv_params, 'weight_decay': 0.01, 'grad_centralization': True},
    ...                 {'params': no_conv_params, 'lr': 0.01},
    ...                 {'order_params': net.trainable_params()}]
    >>> optim = ProximalAdagrad(group_params, learning_rate=0.1, weight_decay=0.0)
    >>> [p.name for p in optim.parameters]
    ['conv1.weight', 'fc.weight', 'fc.bias']
    >>> optim.current_lr()  # conv: the default 0.1; the others: their group's 0.01
    (0.1, 0.01, 0.01)

    References
    ----------
    J. Duchi, Y. Singer, "Efficient Learning using Forward-Backward Splitting", NIPS 2009.
    MindSpore ``python/mindspore/nn/optim/proximal_ada_grad.py`` and ``optimizer.py``.

    """

    def __init__(
        self,
        params: object,
        accum: float = 0.1,
        learning_rate: object = 0.001,
        l1: float = 0.0,
        l2: float = 0.0,
        use_locking: bool = False,
        loss_scale: float = 1.0,
        weight_decay: object = 0.0,
        *,
        emulate: str | None = None,
        prox_step: str = "adaptive",
    ) -> None:
        numerics = numerics_for(emulate)
        self._hyper = Hyper.checked(l1, l2, loss_scale, emulate, prox_step, numerics)
        self._accum_init = check_float("accum", accum)
        self._use_locking = check_bool("use_locking", use_locking)
        self._configs: list[ParamConfig] = parse_params(
            params, learning_rate, weight_decay, numerics, emulate
        )
        self._accums: list[Array] = [
            _new_accum(c.param, self._accum_init, emulate, prox_step) for c in self._configs
        ]
        self._step = 0
        self._lock = threading.Lock()
        self._state_token = object()  # replaced whenever the accumulators change
        self._accum_snapshot: tuple[object, tuple[Array, ...]] | None = None

    # --- the step -------------------------------------------------------------------------------------------

    def __call__(self, grads: tuple[object, ...]) -> bool:
        """Apply one step with `grads` (one per parameter, in :attr:`parameters` order); return True."""
        with self._locked():
            plans = plan_step(self._configs, self._accums, grads, self._step, self._hyper)
            run_step(plans, self._accums)
            self._step += 1
            self._accums_changed()
        return True

    def _accums_changed(self) -> None:
        """Retire the :attr:`accum` snapshot (a reader holding it keeps it; the optimizer lets it go)."""
        self._state_token = object()
        self._accum_snapshot = None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if not self._use_locking:
            yield
            return
        with contextlib.ExitStack() as stack:
            stack.enter_context(self._lock)
            for param in sorted((c.param for c in self._configs), key=id):  # one global order: no deadlock
                stack.enter_context(param.lock)
            yield

    # --- read-only views ------------------------------------------------------------------------------------

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        """The parameters in update order (``order_params`` respected)."""
        return tuple(c.param for c in self._configs)

    @property
    def accum(self) -> tuple[Array, ...]:
        """Copies of the accumulators, aligned with :attr:`parameters` (read-only for NumPy).

        The optimizer updates its accumulators in place; this is a snapshot
        taken after the latest step (or load), shared by every read until the
        next one, and never changed by later steps.
        """
        token = self._state_token
        cached = self._accum_snapshot
        if cached is None or cached[0] is not token:
            copies = tuple(_snapshot(a, c.param) for a, c in zip(self._accums, self._configs, strict=True))
            cached = self._accum_snapshot = (token, copies)
        return cached[1]

    @property
    def global_step(self) -> int:
        """Number of successful calls (the step the next call uses)."""
        return self._step

    @property
    def use_locking(self) -> bool:
        """Whether calls take the parameters' locks."""
        return self._use_locking

    def current_lr(self) -> tuple[float, ...]:
        """The learning rate each parameter gets at the next call, as the kernel will receive it."""
        return tuple(learning_rates(self._configs, self._step, self._hyper.numerics))

    # --- state ----------------------------------------------------------------------------------------------

    def _hyper_dict(self) -> dict[str, Any]:
        h = self._hyper
        return {
            "accum": self._accum_init,
            "l1": h.l1,
            "l2": h.l2,
            "loss_scale": h.loss_scale,
            "use_locking": self._use_locking,
            "emulate": h.emulate,
            "prox_step": h.prox_step,
        }

    def state_dict(self) -> dict[str, Any]:
        """Accumulators (NumPy copies), global step, hyper-parameters and parameter names/shapes/dtypes."""
        with self._locked():
            return describe(list(self.parameters), list(self.accum), self._step, self._hyper_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; a state that does not match is refused and nothing changes."""
        with self._locked():
            expected = describe(list(self.parameters), [], self._step, self._hyper_dict())
            step, accums = check_state(state, expected, list(self.parameters))
            self._accums[:] = accums
            self._step = step
            self._accums_changed()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`state_dict` to `path` (``.npz`` with a JSON ``metadata`` entry)."""
        write_state(self.state_dict(), path)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Read a file written by :meth:`save` (``allow_pickle=False``) and :meth:`load_state_dict` it."""
        self.load_state_dict(read_state(path))


def _snapshot(accum: Array, param: Parameter) -> Array:
    """A copy of `accum`, taken while no step writes it (read-only for NumPy)."""
    with param._update_lock:
        copy = array_namespace("accumulator", accum).asarray(accum, copy=True)
    if isinstance(copy, np.ndarray):
        copy.flags.writeable = False
    return copy


def _new_accum(param: Parameter, value: float, emulate: str | None, prox_step: str) -> Array:
    """Check that the kernels define the parameter's dtype; return its accumulator filled with `value`."""
    data = param.data
    xp = array_namespace(f"parameter {param.name!r}", data)
    try:
        get_profile(emulate, prox_step, xp, data.dtype)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"parameter {param.name!r}: {exc}") from exc
    return xp.full(tuple(data.shape), value, dtype=data.dtype, device=device(data))
