r"""A ``torch.optim.Optimizer`` that steps with the engine's bits: :class:`ProximalAdagrad`.

Thin over :mod:`proxadagrad_ref.optim`: each :meth:`ProximalAdagrad.step`
turns the param groups into the engine's groups
(:func:`~proxadagrad_ref.optim.groups.parse_params`), the gradients into the
engine's gradient forms, and runs the engine's two phases
(:func:`~proxadagrad_ref.optim.pipeline.plan_step`, then
:func:`~proxadagrad_ref.optim.pipeline.run_step`). The update is evaluated by
the NumPy engines on the tensors' own memory
(:mod:`proxadagrad_ref.kernels.backends` says why torch's arithmetic is not
used), and every updated tensor has its autograd version counter increased, as
an in-place torch operation does. No formula is written here.

:class:`EngineAPI` puts the adapter behind the engine optimizer's signature
(``opt(grads)``, ``opt.accum``), so that the conformance verifier's optimizer
trajectories can run through it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from ..backends.compat import FLOAT_NAMES, numpy_namespace
from ..numerics.profiles import get_profile
from ..optim.groups import GROUP_KEYS as ENGINE_GROUP_KEYS
from ..optim.groups import ParamConfig, parse_params
from ..optim.lr import once_iterable, resolve_learning_rate
from ..optim.numerics import numerics_for
from ..optim.parameter import Parameter
from ..optim.pipeline import Hyper, learning_rates, plan_step, run_step
from ..optim.validation import check_bool, check_float, check_step
from ..optim.weight_decay import decays_by_name, resolve_weight_decay

__all__ = ["GROUP_KEYS", "SHARED_KEYS", "EngineAPI", "ProximalAdagrad"]

# what a group may set: the engine's group keys, but its parameters and their order (torch's own)
GROUP_KEYS = tuple(k for k in ENGINE_GROUP_KEYS if k not in ("params", "order_params"))
SHARED_KEYS = ("accum", "l1", "l2", "loss_scale", "emulate", "prox_step")  # one value for the optimizer
_TORCH_KEYS = ("params", "param_names", "initial_lr")  # torch's own: named parameters, schedulers' resume key

Grad = Any  # a dense tensor, or (indices, values) of a sparse_coo gradient


class ProximalAdagrad(torch.optim.Optimizer):
    r"""Proximal Adagrad as a ``torch.optim`` optimizer: the bits of :class:`proxadagrad_ref.ProximalAdagrad`.

    One :meth:`step` is one call of the engine's optimizer on the parameters
    that have a gradient (the update is written once, in
    :mod:`proxadagrad_ref.numerics.profiles`; the stages around it in
    :mod:`proxadagrad_ref.optim.pipeline`): for each parameter :math:`w` with
    gradient :math:`g`,

    .. math::

        \hat g = \frac{g + wd \cdot s \cdot w}{s}, \qquad
        a_{t+1} = a_t + \hat g^2, \qquad
        v = w_t - \frac{\gamma_t}{\sqrt{a_{t+1}}}\,\hat g,

        w_{t+1} = \frac{\operatorname{sign}(v)\,\max(|v| - \eta\,l_1,\ 0)}{1 + \eta\,l_2}

    where :math:`s` is `loss_scale`, :math:`wd` the group's `weight_decay`,
    :math:`\gamma_t` the group's ``"lr"`` at global step :math:`t`,
    :math:`\eta = \gamma_t/\sqrt{a_{t+1}}` (``prox_step="adaptive"``) or
    :math:`\gamma_t` (``"fixed"``), and :math:`a_0` is `accum`.

    Parameters
    ----------
    params : iterable of Tensor, of (name, Tensor) or of dict
        torch's forms. A group dict may set ``"lr"``, ``"weight_decay"`` and
        ``"grad_centralization"`` (the engine's group keys); ``"accum"``,
        ``"l1"``, ``"l2"``, ``"loss_scale"``, ``"emulate"`` and ``"prox_step"``
        are one value for the whole optimizer, and a group that sets another
        value is refused. CPU tensors of dtype float16, float32 or float64
        (those the profile defines); each tensor once.
    lr : float, array, iterable or LearningRateSchedule
        The default of each group's ``"lr"``: a rate ``>= 0`` (what
        ``torch.optim.lr_scheduler`` schedulers change between steps), or the
        engine's per-step forms: a 1-D array read at the global step, or a
        :class:`proxadagrad_ref.schedules.LearningRateSchedule` called with it.
    accum : float
        Initial accumulator value, ``>= 0`` (a float, as in the engine).
    l1, l2 : float
        Regularization strengths, ``>= 0`` (floats).
    weight_decay : float, int or callable
        The default of each group's ``"weight_decay"``; applied to every
        parameter of a group whose value is ``> 0`` or a callable of the
        global step (the engine's grouped rule).
    loss_scale : float
        A fixed loss scale ``> 0`` divided out of the gradients.
    emulate : {None, "mindspore"}
        The engine optimizer's profiles: exact, or MindSpore's whole pipeline.
        (TensorFlow's ``ApplyProximalAdagrad`` is a kernel without optimizer
        stages: :func:`proxadagrad_ref.apply_proximal_adagrad` with
        ``emulate="tensorflow"``.)
    prox_step : {"adaptive", "fixed"}
        Passed to the kernels.
    grad_centralization : bool
        The default of each group's ``"grad_centralization"``.

    Raises
    ------
    TypeError
        Wrong argument types; a parameter that is not a CPU tensor of a dtype
        the profile defines (a CUDA tensor is refused: no host view).
    ValueError
        Bad values (named), a group setting an optimizer-wide key to another
        value, a tensor listed twice.
    KeyError
        A group dict with a key the optimizer does not know.

    Notes
    -----
    **The step.** Parameters whose ``grad`` is None are skipped (torch's
    rule). Dense gradients and ``torch.sparse_coo`` gradients with one sparse
    dimension (``nn.Embedding(sparse=True)``, ``nn.EmbeddingBag(sparse=True)``)
    are accepted; a sparse gradient's *raw* indices and values are used, never
    coalesced by torch, so duplicate rows are summed as the profile says (in
    order of appearance). Every check, for every parameter, runs before
    anything is written: a step that raises changes no parameter, no
    accumulator and not the global step. The global step counts the
    successful calls of :meth:`step`; the engine's per-step learning rates and
    weight decays are read at it.

    **State.** ``self.state[p]["accum"]`` holds each parameter's accumulator
    (a tensor of its dtype and shape, created when the parameter is added).
    :meth:`state_dict` is torch's, with copies of the accumulators and a
    ``"global_step"`` entry; :meth:`load_state_dict` checks it first.

    Examples
    --------
    >>> import torch
    >>> from proxadagrad_ref.torch import ProximalAdagrad
    >>> w = torch.nn.Parameter(torch.ones(3))
    >>> opt = ProximalAdagrad([w], lr=0.1, l1=0.01)
    >>> w.grad = torch.tensor([1.0, -1.0, 0.0])
    >>> opt.step()
    >>> [round(x, 6) for x in w.detach().tolist()], opt.global_step
    ([0.9037, 1.094393, 0.996838], 1)

    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: Any = 0.001,
        accum: float = 0.1,
        l1: float = 0.0,
        l2: float = 0.0,
        weight_decay: Any = 0.0,
        loss_scale: float = 1.0,
        *,
        emulate: str | None = None,
        prox_step: str = "adaptive",
        grad_centralization: bool = False,
    ) -> None:
        numerics = numerics_for(emulate)
        lr = once_iterable(lr)
        self._hyper = Hyper.checked(l1, l2, loss_scale, emulate, prox_step, numerics)
        self._step = 0
        defaults = {
            "lr": lr,
            "weight_decay": weight_decay,
            "grad_centralization": check_bool("grad_centralization", grad_centralization),
            "accum": check_float("accum", accum),
            "l1": self._hyper.l1,
            "l2": self._hyper.l2,
            "loss_scale": self._hyper.loss_scale,
            "emulate": emulate,
            "prox_step": prox_step,
        }
        resolve_learning_rate(lr, "lr", numerics, emulate)
        resolve_weight_decay(weight_decay, "weight_decay")
        super().__init__(params, defaults)

    # --- groups -----------------------------------------------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group as torch does, with every check of the engine's groups; a refused group is not added.

        The new parameters get accumulators filled with ``accum``.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        where = f"params[{len(self.param_groups)}]"
        _check_keys(param_group, where, self.defaults)
        given = dict(param_group)  # torch fills the caller's dict in: a refused group gets it back as it was
        added = False
        try:
            members = param_group["params"]
            if not isinstance(members, (torch.Tensor, set)):  # torch's own refusals for those
                param_group["params"] = members = list(members)
                _check_distinct(members, where)
            super().add_param_group(param_group)
            added = True
            group = self.param_groups[-1]
            for i, p in enumerate(group["params"]):
                _check_tensor(p, f"{where}['params'][{i}]", self._hyper)
            self._configs(self.param_groups)
        except Exception:
            if added:
                self.param_groups.pop()
            param_group.clear()
            param_group.update(given)
            raise
        for p in group["params"]:
            self.state[p] = {"accum": _new_accum(p, self.defaults["accum"])}

    def _configs(self, groups: list[dict[str, Any]]) -> list[ParamConfig]:
        """The engine's configuration of every parameter of `groups`, in group order (every value checked)."""
        return parse_params(
            _engine_groups(groups),
            self.defaults["lr"],
            self.defaults["weight_decay"],
            self._hyper.numerics,
            self._hyper.emulate,
        )

    # --- the step ---------------------------------------------------------------------------------------

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step of every parameter that has a gradient; returns ``closure()`` (None without one).

        All or nothing: every check for every parameter runs before the first
        write; a step that raises changes nothing.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for g, group in enumerate(self.param_groups):
            _check_shared(group, f"param_groups[{g}]", self.defaults)
        configs, accums, grads = [], [], []
        positions = [(g, i) for g, group in enumerate(self.param_groups) for i in range(len(group["params"]))]
        for config, (g, i) in zip(self._configs(self.param_groups), positions, strict=True):
            p = self.param_groups[g]["params"][i]
            where = f"param_groups[{g}]['params'][{i}]"
            grad = _engine_grad(p, where)
            if grad is None:
                continue
            _check_tensor(p, where, self._hyper)
            configs.append(config)
            accums.append(self._accum(p, where))
            grads.append(grad)
        plans = plan_step(configs, accums, tuple(grads), self._step, self._hyper)
        for plan in plans:
            if plan.step is None:  # the engine would bind a new array: the tensor would lose its identity
                raise ValueError(
                    f"parameter {plan.param.name!r} shares memory with another parameter; the torch adapter "
                    "updates every tensor in place and refuses parameters whose memory overlaps"
                )
        run_step(plans, accums)
        self._step += 1
        return loss

    def _accum(self, p: torch.Tensor, where: str) -> torch.Tensor:
        state = self.state.get(p)
        accum = None if state is None else state.get("accum")
        if not isinstance(accum, torch.Tensor):
            raise ValueError(f"{where} has no accumulator in self.state; add parameters with add_param_group")
        return accum

    # --- read-only views --------------------------------------------------------------------------------

    @property
    def global_step(self) -> int:
        """Number of successful :meth:`step` calls (the step the next call uses)."""
        return self._step

    def current_lr(self) -> tuple[float, ...]:
        """The learning rate of every parameter (group order) at the next step, as the kernel receives it."""
        return tuple(learning_rates(self._configs(self.param_groups), self._step, self._hyper.numerics))

    # --- state ------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The state as torch's optimizers give it, with *copies* of the accumulators, and ``"global_step"``.

        ``{"state": {index: {"accum": tensor}}, "param_groups": [...], "global_step": int}``;
        the groups hold every hyper-parameter (torch's format). Later steps do
        not change a state dict already taken.
        """
        packed = super().state_dict()
        packed["state"] = {k: {"accum": v["accum"].clone()} for k, v in packed["state"].items()}
        packed["global_step"] = self._step
        return packed

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; a mismatch is refused (the field named), changing nothing.

        Checked first: the groups (count, sizes, the optimizer-wide keys equal
        to this optimizer's, valid ``lr`` / ``weight_decay``), every
        accumulator (a tensor of its parameter's dtype and shape, ``>= 0``; no
        dtype is converted) and ``global_step``. The accumulators are copied
        in, so the dict can be loaded again.
        """
        step = self._check_state(state_dict)
        super().load_state_dict({"state": state_dict["state"], "param_groups": state_dict["param_groups"]})
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = {"accum": self.state[p]["accum"].clone()}
        self._step = step

    def _check_state(self, state_dict: object) -> int:
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        for key in ("state", "param_groups", "global_step"):
            if key not in state_dict:
                raise ValueError(f"state_dict has no {key!r} entry (not a state dict of this optimizer)")
        step = check_step("state_dict['global_step']", state_dict["global_step"])
        saved = state_dict["param_groups"]
        if not isinstance(saved, list) or len(saved) != len(self.param_groups):
            raise ValueError(f"state_dict['param_groups'] must be a list of {len(self.param_groups)} groups")
        merged = []
        for g, (mine, theirs) in enumerate(zip(self.param_groups, saved, strict=True)):
            where = f"state_dict['param_groups'][{g}]"
            if not isinstance(theirs, dict) or len(theirs.get("params", ())) != len(mine["params"]):
                raise ValueError(f"{where} must be a group of {len(mine['params'])} parameters")
            # other keys are kept, as torch keeps them: schedulers add their own (OneCycleLR's max_lr), and
            # a state dict may be loaded before its scheduler is made again
            _check_shared(theirs, where, self.defaults)
            merged.append({**theirs, "params": mine["params"]})
        self._configs(merged)
        state = state_dict["state"]
        for g, (mine, theirs) in enumerate(zip(self.param_groups, saved, strict=True)):
            for i, (p, key) in enumerate(zip(mine["params"], theirs["params"], strict=True)):
                entry = state.get(key) if isinstance(state, dict) else None
                accum = entry.get("accum") if isinstance(entry, dict) else None
                _check_saved_accum(accum, p, f"state_dict['state'][{key!r}]['accum'] (params[{g}][{i}])")
        return step


# --- checks -------------------------------------------------------------------------------------------------


def _check_keys(group: dict[str, Any], where: str, defaults: dict[str, Any]) -> None:
    """A group dict as given: known keys only, and no optimizer-wide key set to another value."""
    known = (*_TORCH_KEYS, *GROUP_KEYS, *SHARED_KEYS)
    unknown = [k for k in group if k not in known]
    if unknown:
        raise KeyError(
            f"{where} has unknown key(s) {unknown}; a group may set {list(GROUP_KEYS)} "
            f"(and repeat the optimizer-wide {list(SHARED_KEYS)})"
        )
    if "params" not in group:
        raise KeyError(f"{where} has no 'params' key")
    _check_shared(group, where, defaults)


def _check_shared(group: dict[str, Any], where: str, defaults: dict[str, Any]) -> None:
    for key in SHARED_KEYS:
        if key in group and not _same(group[key], defaults[key]):
            raise ValueError(
                f"{where}[{key!r}] is {group[key]!r} but the optimizer's {key} is {defaults[key]!r}; "
                f"the engine's groups set only {list(GROUP_KEYS)}, {key} is one value for the optimizer"
            )


def _same(a: object, b: object) -> bool:
    """Equal values (``0 == 0.0``; a bool is not a number, an array never equal)."""
    if isinstance(a, bool) != isinstance(b, bool) or hasattr(a, "shape") or hasattr(b, "shape"):
        return False
    return bool(a == b)


def _check_tensor(p: object, where: str, hyper: Hyper) -> None:
    """A CPU strided tensor of a dtype the profile defines."""
    if not isinstance(p, torch.Tensor):
        raise TypeError(f"{where} must be a torch.Tensor, got {type(p).__name__}")
    if p.device.type != "cpu":
        raise TypeError(
            f"{where} is a torch tensor on {p.device}; the torch adapter steps CPU tensors only "
            "(the engine's GPU path is CuPy: the kernels on cupy.from_dlpack(tensor))"
        )
    if p.layout != torch.strided:
        raise TypeError(f"{where} has layout {p.layout}; parameters must be dense (torch.strided) tensors")
    name = str(p.dtype).removeprefix("torch.")
    if name not in FLOAT_NAMES:
        raise TypeError(f"{where} has dtype {p.dtype}; the kernels define float16, float32 and float64")
    try:
        get_profile(hyper.emulate, hyper.prox_step, numpy_namespace(), np.dtype(name))
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{where}: {exc}") from None


def _check_distinct(params: list[Any], where: str) -> None:
    """Each tensor once in a group (torch only warns); `params` as given (tensors or (name, tensor))."""
    seen: set[int] = set()
    for i, item in enumerate(params):
        p = item[1] if isinstance(item, tuple) and len(item) == 2 else item
        if id(p) in seen:
            raise ValueError(f"{where}['params'][{i}] is listed twice; each tensor is updated once per step")
        seen.add(id(p))


def _check_saved_accum(accum: object, p: torch.Tensor, where: str) -> None:
    if not isinstance(accum, torch.Tensor):
        raise ValueError(f"{where} must be a tensor, got {type(accum).__name__}")
    if accum.dtype != p.dtype or tuple(accum.shape) != tuple(p.shape):
        raise ValueError(
            f"{where} is {accum.dtype}{tuple(accum.shape)} but the parameter is {p.dtype}{tuple(p.shape)} "
            "(no dtype is converted)"
        )
    if accum.layout != torch.strided or bool((accum < 0).any()):
        raise ValueError(f"{where} must be a dense tensor >= 0 (accumulators are >= 0)")


# --- what the engine receives ------------------------------------------------------------------------------


def _engine_groups(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The engine's group dicts for torch's `groups` (Parameters on the same tensors)."""
    return [
        {
            "params": [Parameter(p, name) for p, name in zip(group["params"], _names(group, g), strict=True)],
            **{k: group[k] for k in GROUP_KEYS if k in group},
        }
        for g, group in enumerate(groups)
    ]


def _names(group: dict[str, Any], g: int) -> list[str]:
    """The engine's parameter names: torch's ``param_names`` when given, else the position."""
    given = group.get("param_names")
    if isinstance(given, list) and len(given) == len(group["params"]):
        return [str(n) for n in given]
    return [f"params[{g}]['params'][{i}]" for i in range(len(group["params"]))]


def _engine_grad(p: torch.Tensor, where: str) -> Grad | None:
    """`p.grad` as the engine takes it: dense, ``(indices, values)`` for sparse_coo, None when absent."""
    grad = p.grad
    if grad is None:
        return None
    if grad.layout == torch.sparse_coo:
        if grad.sparse_dim() != 1:
            raise ValueError(
                f"the gradient of {where} is a sparse_coo tensor with {grad.sparse_dim()} sparse dimensions; "
                "sparse gradients must have one (rows), as nn.Embedding(sparse=True) gives"
            )
        return (grad._indices()[0], grad._values())  # raw: torch's coalescing would sum in its own order
    if grad.layout != torch.strided:
        raise TypeError(
            f"the gradient of {where} has layout {grad.layout}; use a dense or sparse_coo gradient"
        )
    return grad


def _new_accum(p: torch.Tensor, value: float) -> torch.Tensor:
    """An accumulator like `p` filled with `value`, rounded to its dtype by NumPy (the engine's rounding)."""
    accum = torch.empty_like(p, memory_format=torch.preserve_format, requires_grad=False)
    accum.detach().numpy()[...] = value
    return accum


# --- the engine optimizer's signature -----------------------------------------------------------------------


class EngineAPI:
    """The torch adapter behind the signature of :class:`proxadagrad_ref.ProximalAdagrad`.

    Takes the engine optimizer's arguments (Parameters holding NumPy arrays,
    or torch CPU tensors; the engine's group dicts, ``order_params``
    included) and steps them with the torch adapter: ``opt(grads)`` sets each
    tensor's ``grad`` (a dense array, or ``(indices, values)`` as a
    ``sparse_coo`` gradient) and calls :meth:`ProximalAdagrad.step`. NumPy
    arrays are shared with their tensors (updated in place), so the
    Parameters see every step. The conformance verifier takes it as an
    optimizer factory::

        verify("conformance_vectors", candidate=EngineAPI, op="optimizer")

    Ungrouped parameters keep the engine's name rule (weight decay skips names
    containing ``beta`` or ``gamma``) through a group with ``weight_decay=0.0``.

    Parameters
    ----------
    params, accum, learning_rate, l1, l2, use_locking, loss_scale, weight_decay, emulate, prox_step
        As :class:`proxadagrad_ref.ProximalAdagrad`; ``use_locking=True`` is
        refused (the adapter takes no locks).

    """

    def __init__(
        self,
        params: Any,
        accum: float = 0.1,
        learning_rate: Any = 0.001,
        l1: float = 0.0,
        l2: float = 0.0,
        use_locking: bool = False,
        loss_scale: float = 1.0,
        weight_decay: Any = 0.0,
        *,
        emulate: str | None = None,
        prox_step: str = "adaptive",
    ) -> None:
        if use_locking is not False:
            raise ValueError("use_locking must be False: the torch adapter takes no locks")
        groups, order = _torch_groups(params)
        self.tensors = order
        self.optimizer = ProximalAdagrad(
            groups,
            lr=learning_rate,
            accum=accum,
            l1=l1,
            l2=l2,
            weight_decay=weight_decay,
            loss_scale=loss_scale,
            emulate=emulate,
            prox_step=prox_step,
        )
        flat = [t for group in self.optimizer.param_groups for t in group["params"]]
        positions = {id(t): k for k, t in enumerate(flat)}
        self._group_position = [positions[id(t)] for t in order]

    def __call__(self, grads: tuple[Any, ...]) -> bool:
        """One step with `grads` (one per parameter, in update order); return True."""
        if len(grads) != len(self.tensors):
            raise ValueError(f"grads has {len(grads)} gradients but the optimizer has {len(self.tensors)}")
        for t, g in zip(self.tensors, grads, strict=True):
            t.grad = _as_torch_grad(g, t)
        try:
            self.optimizer.step()
        finally:
            self.optimizer.zero_grad(set_to_none=True)
        return True

    @property
    def accum(self) -> tuple[np.ndarray, ...]:
        """Copies of the accumulators, in update order."""
        return tuple(self.optimizer.state[t]["accum"].numpy().copy() for t in self.tensors)

    @property
    def global_step(self) -> int:
        """Number of successful calls."""
        return self.optimizer.global_step

    def current_lr(self) -> tuple[float, ...]:
        """The learning rate of every parameter (update order) at the next call."""
        rates = self.optimizer.current_lr()
        return tuple(rates[k] for k in self._group_position)


def _tensor_of(param: Parameter) -> torch.Tensor:
    data = param.data
    if isinstance(data, torch.Tensor):
        return data
    if isinstance(data, np.ndarray) and data.flags.writeable:
        return torch.from_numpy(data)
    raise TypeError(
        f"parameter {param.name!r}: EngineAPI updates a writable NumPy array or a torch tensor in place, "
        f"got {type(data).__name__}{'' if not isinstance(data, np.ndarray) else ' (read-only)'}"
    )


def _torch_groups(params: Any) -> tuple[list[dict[str, Any]], list[torch.Tensor]]:
    """Param groups for the engine's `params` argument, and the tensors in the engine's update order."""
    items = list(params)
    if all(isinstance(x, Parameter) for x in items):
        pairs = [(p.name, _tensor_of(p)) for p in items]
        decayed = [x for x in pairs if decays_by_name(x[0])]
        kept = [x for x in pairs if not decays_by_name(x[0])]
        groups: list[dict[str, Any]] = [{"params": decayed}] if decayed else []
        groups += [{"params": kept, "weight_decay": 0.0}] if kept else []
        return groups, [t for _, t in pairs]
    groups = []
    by_name: dict[str, torch.Tensor] = {}
    order: list[str] | None = None
    for group in items:
        if "order_params" in group:
            order = [p.name for p in group["order_params"]]
            continue
        members = [(p.name, _tensor_of(p)) for p in group["params"]]
        by_name.update(members)
        groups.append({"params": members, **{k: v for k, v in group.items() if k != "params"}})
    names = order if order is not None else [n for g in groups for n, _ in g["params"]]
    return groups, [by_name[n] for n in names]


def _as_torch_grad(grad: Any, like: torch.Tensor) -> torch.Tensor:
    """A dense array as a tensor, ``(indices, values)`` as an uncoalesced sparse_coo tensor (raw order)."""
    if isinstance(grad, tuple):
        indices, values = (np.asarray(x) for x in grad)
        if indices.dtype not in (np.int32, np.int64):  # the engine's rule: a cast would hide it
            raise TypeError(f"indices must have dtype int32 or int64, got {indices.dtype}")
        return torch.sparse_coo_tensor(
            torch.from_numpy(indices.astype(np.int64)).reshape(1, -1),
            torch.from_numpy(np.ascontiguousarray(values)),
            size=tuple(like.shape),
            check_invariants=False,  # the engine checks the indices' range itself
        )
    return torch.from_numpy(np.ascontiguousarray(grad))
