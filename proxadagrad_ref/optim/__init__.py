"""The ProximalAdagrad optimizer, built from small stages.

Modules: :mod:`.parameter` (Parameter), :mod:`.groups` (parameter groups),
:mod:`.lr` (learning-rate resolution), :mod:`.weight_decay`,
:mod:`.centralization`, :mod:`.loss_scale`, :mod:`.grads` (gradient forms and
duplicate summing), :mod:`.numerics` (each stage's rounding per profile),
:mod:`.pipeline` (the step: check everything, then update in place), :mod:`.plans`
(one parameter's checked kernel call), :mod:`.state` (state I/O), :mod:`.optimizer`.
"""

from .optimizer import ProximalAdagrad
from .parameter import Parameter

__all__ = ["Parameter", "ProximalAdagrad"]
