"""The :class:`Parameter`: a named array the optimizer updates, with its own lock."""

from __future__ import annotations

import threading
from typing import Any

from ..backends.compat import is_array

__all__ = ["Parameter"]

Array = Any


class Parameter:
    """A trainable array with a name (MindSpore's ``Parameter``, reduced to what the optimizer needs).

    Parameters
    ----------
    data : array
        The values: a float16, float32 or float64 array of any array-API library.
    name : str
        A non-empty name, unique within one optimizer. Unless parameters are
        grouped, weight decay skips parameters whose name contains ``"beta"`` or
        ``"gamma"``.

    Notes
    -----
    An optimizer step updates ``data`` **in place**: the array keeps its
    identity from step to step (as a MindSpore Parameter's tensor does), so
    a reference to it sees the new values; copy it to keep the old ones. A
    step checks everything before it writes anything, so a step that raises
    leaves ``data`` untouched. Arrays that cannot be written in place (a
    read-only NumPy array, a JAX array) are replaced by a new array instead.
    ``data`` may be rebound between steps; the next step updates the new array.

    ``lock`` is taken by optimizers built with ``use_locking=True`` for a
    whole step; hold it to read ``data`` while such an optimizer may step in
    another thread. A private update lock, held only while a step writes this
    parameter, keeps concurrent writes (also of unlocked optimizers) whole.

    Examples
    --------
    >>> import numpy as np
    >>> w = Parameter(np.zeros((16, 8), np.float32), name="fc.weight")
    >>> w.name, w.data.shape
    ('fc.weight', (16, 8))

    """

    __slots__ = ("_data", "_update_lock", "lock", "name")

    def __init__(self, data: Array, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
        self.name = name
        self.lock = threading.Lock()
        self._update_lock = threading.Lock()
        self._data = _checked_data(data, name)

    @property
    def data(self) -> Array:
        """The current values."""
        return self._data

    @data.setter
    def data(self, value: Array) -> None:
        self._data = _checked_data(value, self.name)

    def __repr__(self) -> str:
        shape = tuple(self._data.shape)
        return f"Parameter(name={self.name!r}, shape={shape}, dtype={self._data.dtype})"


def _checked_data(data: object, name: str) -> Array:
    if not is_array(data):
        raise TypeError(f"data of Parameter {name!r} must be an array, got {type(data).__name__}")
    return data
