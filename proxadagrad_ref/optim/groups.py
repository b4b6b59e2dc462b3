"""Parameter groups: parse ``params`` (a list of Parameters or of group dicts) into one config per parameter.

Rules (MindSpore's ``Optimizer._check_group_params`` / ``_init_group_params``,
with the checks written once):

* ``params`` is a non-empty list of :class:`Parameter`, or of dicts; not a mix.
* A dict's keys are among ``"params"``, ``"lr"``, ``"weight_decay"``,
  ``"grad_centralization"``, ``"order_params"`` (else KeyError); ``"params"``
  is required unless the dict is the one ``{"order_params": [...]}`` dict,
  which must have no other key and list exactly the grouped parameters.
* A parameter (by name) appears once; names are unique.
* Ungrouped, weight decay applies to parameters whose name contains neither
  ``"beta"`` nor ``"gamma"``; grouped, to the groups whose weight decay is
  ``> 0`` or dynamic. Centralization exists only for groups.
* Group 1-D learning rates have the default's length (or each other's).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .lr import ArrayLr, LearningRate, resolve_learning_rate
from .numerics import PipelineNumerics
from .parameter import Parameter
from .validation import check_bool
from .weight_decay import WeightDecay, decays_by_name, resolve_weight_decay

__all__ = ["GROUP_KEYS", "ParamConfig", "parse_params"]

GROUP_KEYS = ("params", "lr", "weight_decay", "grad_centralization", "order_params")


@dataclass(frozen=True)
class ParamConfig:
    """Everything the pipeline needs to know about one parameter."""

    param: Parameter
    lr: LearningRate
    weight_decay: WeightDecay
    decay: bool
    centralize: bool


def _as_list(value: object, name: str) -> list[Any]:
    if value is None:
        raise ValueError(f"{name} must not be None")
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a list, got {type(value).__name__}")
    items = list(value)
    if not items:
        raise ValueError(f"{name} must not be empty")
    return items


def _parameters(value: object, name: str) -> list[Parameter]:
    items = _as_list(value, name)
    for i, item in enumerate(items):
        if not isinstance(item, Parameter):
            raise TypeError(f"{name}[{i}] must be a Parameter, got {type(item).__name__}")
    return items


def _check_unique(params: list[Parameter], name: str) -> None:
    seen: set[str] = set()
    for p in params:
        if p.name in seen:
            raise ValueError(
                f"{name}: parameter {p.name!r} appears more than once (in one or several groups)"
            )
        seen.add(p.name)


def parse_params(
    params: object,
    learning_rate: object,
    weight_decay: object,
    numerics: PipelineNumerics,
    emulate: str | None,
) -> list[ParamConfig]:
    """Check `params`, `learning_rate` and `weight_decay`; return the configs in update order."""
    items = _as_list(params, "params")
    default_lr = resolve_learning_rate(learning_rate, "learning_rate", numerics, emulate)
    default_wd = resolve_weight_decay(weight_decay, "weight_decay")
    if all(isinstance(x, Parameter) for x in items):
        _check_unique(items, "params")
        return [
            ParamConfig(p, default_lr, default_wd, default_wd.active and decays_by_name(p.name), False)
            for p in items
        ]
    if not all(isinstance(x, dict) for x in items):
        odd = [type(x).__name__ for x in items if not isinstance(x, (Parameter, dict))]
        what = odd[0] if odd else "a mix of Parameter and dict"
        raise TypeError(f"params must be a list of Parameter or a list of dict, got {what}")
    return _parse_groups(items, default_lr, default_wd, numerics, emulate)


def _parse_groups(
    groups: list[dict[str, Any]],
    default_lr: LearningRate,
    default_wd: WeightDecay,
    numerics: PipelineNumerics,
    emulate: str | None,
) -> list[ParamConfig]:
    configs: list[ParamConfig] = []
    order: list[Parameter] | None = None
    for g, group in enumerate(groups):
        unknown = [k for k in group if k not in GROUP_KEYS]
        if unknown:
            raise KeyError(
                f"params[{g}] has unknown key(s) {unknown}; the keys must be among {list(GROUP_KEYS)}"
            )
        if "order_params" in group:
            if len(group) > 1:
                raise ValueError(
                    f"params[{g}]: a dict with 'order_params' must have no other key, got {list(group)}"
                )
            if order is not None:
                raise ValueError(f"params[{g}]: only one 'order_params' dict is allowed")
            order = _parameters(group["order_params"], f"params[{g}]['order_params']")
            continue
        if "params" not in group:
            raise KeyError(f"params[{g}] has no 'params' key")
        members = _parameters(group["params"], f"params[{g}]['params']")
        lr = (
            resolve_learning_rate(group["lr"], f"params[{g}]['lr']", numerics, emulate)
            if "lr" in group
            else default_lr
        )
        wd = (
            resolve_weight_decay(group["weight_decay"], f"params[{g}]['weight_decay']")
            if "weight_decay" in group
            else default_wd
        )
        gc = check_bool(f"params[{g}]['grad_centralization']", group.get("grad_centralization", False))
        configs += [ParamConfig(p, lr, wd, wd.active, gc) for p in members]
    if not configs:
        raise ValueError("params has no group with a 'params' key")
    _check_unique([c.param for c in configs], "params")
    _check_lr_lengths(default_lr, configs)
    if any("lr" in group for group in groups) and (
        default_lr.dynamic or any(c.lr.dynamic for c in configs)
    ):  # MindSpore then wraps fixed rates in _ConvertToCell
        configs = [
            ParamConfig(c.param, c.lr.with_cell(), c.weight_decay, c.decay, c.centralize) for c in configs
        ]
    return configs if order is None else _reorder(configs, order)


def _check_lr_lengths(default_lr: LearningRate, configs: list[ParamConfig]) -> None:
    length = default_lr.values.shape[0] if isinstance(default_lr, ArrayLr) else None
    for c in configs:
        if isinstance(c.lr, ArrayLr) and c.lr is not default_lr:
            if length is None:
                length = c.lr.values.shape[0]
            elif c.lr.values.shape[0] != length:
                raise ValueError(
                    f"the 1-D 'lr' of the group of parameter {c.param.name!r} has "
                    f"{c.lr.values.shape[0]} values "
                    f"but the default learning_rate (or another group's lr) has {length}; they must match"
                )


def _reorder(configs: list[ParamConfig], order: list[Parameter]) -> list[ParamConfig]:
    by_name = {c.param.name: c for c in configs}
    _check_unique(order, "order_params")
    missing = [name for name in by_name if name not in {p.name for p in order}]
    extra = [p.name for p in order if p.name not in by_name]
    if missing or extra or len(order) != len(configs):
        raise ValueError(
            "order_params must list exactly the grouped parameters; "
            f"missing: {missing}, not in any group: {extra}"
        )
    return [by_name[p.name] for p in order]
