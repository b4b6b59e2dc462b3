"""Training adapters: the engine's update inside other frameworks' optimizer APIs.

Each adapter is thin over :mod:`proxadagrad_ref.optim` and the kernels (no
second statement of the formula): :mod:`.torch` is a ``torch.optim.Optimizer``,
:mod:`.optax` an optax ``GradientTransformation``. Their public paths are
``proxadagrad_ref.torch`` and ``proxadagrad_ref.optax``; neither imports its
framework until it is used.
"""
