"""Collection of the package's own modules (their doctests): the torch adapter only where torch is installed.

``proxadagrad_ref.torch`` and ``proxadagrad_ref.adapters.torch`` subclass
``torch.optim.Optimizer``, so importing them needs torch (the ``adapters``
extra); without it their doctests are not collected (their tests skip).
"""

import importlib.util

collect_ignore = []
if importlib.util.find_spec("torch") is None:
    collect_ignore += ["proxadagrad_ref/torch.py", "proxadagrad_ref/adapters/torch.py"]
