"""The torch.optim optimizer with the engine's bits (the public path; importing it imports torch).

The adapter lives in :mod:`proxadagrad_ref.adapters.torch` (the adapters
layer, above the optimizer it is thin over); this module gives it its public
name, ``proxadagrad_ref.torch``. See ``docs/torch.md``.
"""

from .adapters.torch import *  # noqa: F403  (exactly the names of its __all__)
from .adapters.torch import __all__  # noqa: F401
