"""Proximal Adagrad as an optax ``GradientTransformation`` (the public path).

The transformation lives in :mod:`proxadagrad_ref.adapters.optax` (the
adapters layer, over the optimizer); this module gives it its public name,
``proxadagrad_ref.optax``. JAX and optax are imported only when a
transformation is built or used.
"""

from .adapters.optax import *  # noqa: F403  (exactly the names of its __all__)
from .adapters.optax import __all__  # noqa: F401
