"""proxadagrad_ref: the reference implementation of the Proximal Adagrad update.

The FOBOS-style update of MindSpore's ``nn.ProximalAdagrad`` /
``ApplyProximalAdagrad`` / ``SparseApplyProximalAdagrad`` and TensorFlow's
``ApplyProximalAdagrad`` / ``SparseApplyProximalAdagrad``, on any array-API
library (NumPy on the CPU, CuPy on the GPU), with an exact profile and profiles
that reproduce the frameworks' CPU kernels bit for bit.

The package is built in layers, each importing only the ones below it:
:mod:`.backends` (array libraries), :mod:`.numerics` (the arithmetic of every
profile), :mod:`.engines` (how a formula is evaluated), :mod:`.kernels` (the
public kernels and their checks), :mod:`.optim` (the optimizer), then
:mod:`.vectors` (conformance vectors), :mod:`.explain` and :mod:`.cli`.
"""

from .engines.dispatch import engine_info, warm_up
from .kernels.dense import apply_proximal_adagrad
from .kernels.grads import RowTensor
from .kernels.sparse import sparse_apply_proximal_adagrad
from .optim import Parameter, ProximalAdagrad

__all__ = [
    "Parameter",
    "ProximalAdagrad",
    "RowTensor",
    "apply_proximal_adagrad",
    "engine_info",
    "sparse_apply_proximal_adagrad",
    "warm_up",
]

__version__ = "0.1.0"
