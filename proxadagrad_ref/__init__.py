"""proxadagrad_ref: the reference implementation of the Proximal Adagrad update.

The FOBOS-style update of MindSpore's ``nn.ProximalAdagrad`` /
``ApplyProximalAdagrad`` / ``SparseApplyProximalAdagrad`` and TensorFlow's
``ApplyProximalAdagrad`` / ``SparseApplyProximalAdagrad``, on any array-API
library (NumPy on the CPU, CuPy on the GPU), with an exact profile and profiles
that reproduce the frameworks' CPU kernels bit for bit.
"""

from ._dense import apply_proximal_adagrad
from ._sparse import RowTensor, sparse_apply_proximal_adagrad
from .optim import Parameter, ProximalAdagrad

__all__ = [
    "Parameter",
    "ProximalAdagrad",
    "RowTensor",
    "apply_proximal_adagrad",
    "sparse_apply_proximal_adagrad",
]

__version__ = "0.1.0"
