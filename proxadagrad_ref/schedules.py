"""Learning-rate schedules and MindSpore's dynamic learning-rate list builders (the public path).

The schedules and builders live in :mod:`proxadagrad_ref.optim.schedules`
(the optimizer layer, beside the optimizer that calls them); this module
gives them their public name, ``proxadagrad_ref.schedules``.
"""

from .optim.schedules import *  # noqa: F403  (exactly the names of its __all__)
from .optim.schedules import __all__  # noqa: F401
