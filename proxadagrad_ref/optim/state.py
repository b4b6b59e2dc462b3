"""Optimizer state I/O: a plain dict, and an ``.npz`` file with JSON metadata.

Files are read with ``allow_pickle=False``.

The state is the accumulators, the global step, the hyper-parameters and the
parameter names, shapes and dtypes. Parameter values are the model's, not the
optimizer's: save them with the model. Loading checks every field against the
optimizer first and raises (naming the field) without changing anything.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from typing import Any

import numpy as np
import numpy.lib.format as npformat

from ..backends.compat import array_namespace, device, dtype_name, to_numpy
from .validation import check_step

__all__ = ["FORMAT", "MATCHED_HYPER", "check_state", "read_state", "write_state"]

Array = Any
FORMAT = "proxadagrad_ref.ProximalAdagrad"
VERSION = 1
MATCHED_HYPER = ("l1", "l2", "loss_scale", "emulate", "prox_step")  # change the numbers a step produces


def describe(params: list[Any], accums: list[Array], step: int, hyper: dict[str, Any]) -> dict[str, Any]:
    """The state dict: metadata plus NumPy copies of the accumulators."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "global_step": step,
        "names": [p.name for p in params],
        "shapes": [list(p.data.shape) for p in params],
        "dtypes": [dtype_name(array_namespace("parameter", p.data), p.data.dtype) for p in params],
        "hyper": dict(hyper),
        "accum": [np.array(to_numpy(a), copy=True) for a in accums],
    }


def check_state(state: object, expected: dict[str, Any], params: list[Any]) -> tuple[int, list[Array]]:
    """Check `state` against `expected` (this optimizer's own state); return the step and new accumulators."""
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    for key in ("format", "version", "global_step", "names", "shapes", "dtypes", "hyper", "accum"):
        if key not in state:
            raise ValueError(f"state has no {key!r} field")
    if state["format"] != FORMAT or state["version"] != VERSION:
        raise ValueError(
            f"state['format'] / state['version'] is {state['format']!r} v{state['version']!r}, "
            f"expected {FORMAT!r} v{VERSION}"
        )
    step = check_step("state['global_step']", state["global_step"])
    for key in ("names", "shapes", "dtypes"):
        got = [list(x) if isinstance(x, (list, tuple)) else x for x in state[key]]
        if got != expected[key]:
            raise ValueError(f"state[{key!r}] is {got} but the optimizer has {expected[key]}")
    hyper = state["hyper"]
    for key in MATCHED_HYPER:
        if not isinstance(hyper, dict) or hyper.get(key) != expected["hyper"][key]:
            found = hyper.get(key) if isinstance(hyper, dict) else None
            raise ValueError(
                f"state['hyper'][{key!r}] is {found!r} but the optimizer has {expected['hyper'][key]!r}"
            )
    accums = state["accum"]
    if not isinstance(accums, (list, tuple)) or len(accums) != len(params):
        raise ValueError(f"state['accum'] must hold {len(params)} arrays")
    return step, [_accum_like(a, p, i) for i, (a, p) in enumerate(zip(accums, params, strict=True))]


def _accum_like(value: object, param: Any, i: int) -> Array:
    name = f"state['accum'][{i}] (parameter {param.name!r})"
    array = np.asarray(value)
    want_dtype = dtype_name(array_namespace("parameter", param.data), param.data.dtype)
    if array.dtype != np.dtype(want_dtype):
        raise ValueError(f"{name} has dtype {array.dtype} but the parameter has dtype {want_dtype}")
    if array.shape != tuple(param.data.shape):
        raise ValueError(
            f"{name} has shape {array.shape} but the parameter has shape {tuple(param.data.shape)}"
        )
    if bool(np.any(array < 0)):
        raise ValueError(f"{name} has negative entries; accumulators are >= 0")
    xp = array_namespace("parameter", param.data)
    return xp.asarray(np.array(array, copy=True), device=device(param.data))


def write_state(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write `state` to `path` as ``.npz``: ``accum_<i>`` arrays and a ``metadata`` JSON byte array."""
    meta = {k: v for k, v in state.items() if k != "accum"}
    arrays = {f"accum_{i}": a for i, a in enumerate(state["accum"])}
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, metadata=blob, **arrays)


def read_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a file written by :func:`write_state` (``allow_pickle=False``) back into a state dict.

    Anything that is not such a file (a plain ``.npy``, a truncated or corrupted
    archive, an entry whose header declares Python objects or more data than
    the entry holds) is refused with a ValueError naming the file, before any
    array of the declared size is allocated.
    """
    name = repr(os.fspath(path))
    with open(path, "rb") as f:  # our own handle: np.load leaks its own when the archive is broken
        try:
            loaded = np.load(f, allow_pickle=False)
        except (ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{name} is not an optimizer state file (.npz): {exc}") from None
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError(f"{name} is a single .npy array, not an optimizer state file (.npz)")
        with loaded as archive:
            try:
                return _read_archive(archive, name)
            except (EOFError, zipfile.BadZipFile, zlib.error) as exc:
                raise ValueError(f"{name} is truncated or corrupted: {exc}") from None


def _entry(archive: Any, key: str, name: str) -> np.ndarray:
    """Entry `key` of `archive`, after checking its .npy header against the bytes the entry really holds."""
    try:
        info = archive.zip.getinfo(f"{key}.npy")
    except KeyError:
        raise ValueError(f"{name} has no {key!r} entry") from None
    with archive.zip.open(info) as f:
        version = npformat.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = npformat.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = npformat.read_array_header_2_0(f)
        else:
            raise ValueError(f"entry {key!r} of {name} has unsupported .npy version {version}")
        header_size = f.tell()
    if dtype.hasobject:
        raise ValueError(
            f"entry {key!r} of {name} holds Python objects (pickled data), never loaded (allow_pickle=False)"
        )
    declared = math.prod(shape) * dtype.itemsize
    if declared > info.file_size - header_size:
        raise ValueError(
            f"entry {key!r} of {name} declares shape {shape} of {dtype} ({declared} bytes) but holds "
            f"{info.file_size - header_size} bytes (truncated or corrupted)"
        )
    return np.asarray(archive[key])


def _read_archive(archive: Any, name: str) -> dict[str, Any]:
    if "metadata" not in archive.files:
        raise ValueError(f"{name} has no 'metadata' entry; not an optimizer state file")
    try:
        meta = json.loads(bytes(_entry(archive, "metadata", name)).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the 'metadata' entry of {name} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("names"), list):
        raise ValueError(f"the 'metadata' entry of {name} has no 'names' list")
    accums = []
    for i in range(len(meta["names"])):
        key = f"accum_{i}"
        if key not in archive.files:
            raise ValueError(f"{name} has no {key!r} entry for parameter {meta['names'][i]!r}")
        accums.append(_entry(archive, key, name))
    return {**meta, "accum": accums}
