"""Training adapters: the engine's update inside other frameworks' optimizer APIs.

Each adapter is thin over :mod:`proxadagrad_ref.optim` and the kernels (no
second statement of the formula): :mod:`.torch` is a ``torch.optim.Optimizer``,
:mod:`.optax` an optax ``GradientTransformation``. Their public paths are
``proxadagrad_ref.torch`` and ``proxadagrad_ref.optax``. The package does not
import them: :mod:`.torch` imports torch when it is imported (its optimizer
subclasses ``torch.optim.Optimizer``); :mod:`.optax` imports JAX and optax only
when a transformation is built or used.
"""
