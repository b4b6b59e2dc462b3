"""The host CPU's ``vrsqrtps`` estimate, compared with the table the ``tensorflow`` profile models.

TensorFlow's float32 CPU kernels compute ``1/sqrt(a)`` from the x86
reciprocal-square-root *estimate* (``vrsqrtps``) refined by one Newton step.
The estimate's bits are not specified by the instruction set: each processor
family has its own table. The ``tensorflow`` profile reproduces TensorFlow 2.21
as it runs on AMD Zen 3/4 (``data/rsqrtps_amd_zen3.npy``); on a CPU with another
table TensorFlow's float32 results differ from the profile's (recorded output
from such a CPU agreed on about 94 % of float32 elements, 1-2 ulp apart). The
profile's own results never depend on the host.

:func:`check_host` runs the host's ``vrsqrtps`` on the table's 8,192 inputs
(and on one point inside each of their 12-bit bins) and compares the bits. The
probe needs numba (a dependency where it has wheels), which emits the
``llvm.x86.sse.rsqrt.ps`` intrinsic; it compiles in well under a second and runs
once per process. :func:`warn_once` is called when the ``tensorflow`` profile is
first used on float32 and issues one :class:`HostRsqrtWarning` if the host is
not x86 (TensorFlow then uses another instruction) or its table differs. When
the probe cannot run on an x86 host (numba absent or not importable), nothing is known and nothing is
warned; ``proxadagrad-ref crosscheck --framework tensorflow`` reports every
outcome.

This module uses NumPy and, optionally, numba only.
"""

from __future__ import annotations

import functools
import platform
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import as_file, files
from typing import Any

import numpy as np

__all__ = ["HostCheck", "HostRsqrtWarning", "check_host", "cpu_model", "probe_inputs", "warn_once"]

TABLE_CPU = "AMD Zen 3/4"
_X86 = ("x86_64", "amd64", "i386", "i486", "i586", "i686", "x86")


class HostRsqrtWarning(UserWarning):
    """TensorFlow on this host computes other float32 bits than the ``tensorflow`` profile models."""


@dataclass(frozen=True)
class HostCheck:
    """The outcome of comparing the host's ``vrsqrtps`` with the profile's table.

    Attributes
    ----------
    status : str
        ``"match"`` (same bits at every probed input), ``"differs"`` (other
        bits, or not an x86 CPU) or ``"unavailable"`` (the probe could not run).
    cpu : str
        The host CPU, from ``/proc/cpuinfo`` or :mod:`platform`.
    detail : str
        What was compared, or why nothing could be.

    """

    status: str
    cpu: str
    detail: str

    def message(self) -> str:
        """One sentence for a report or a warning."""
        if self.status == "match":
            return (
                f"host CPU {self.cpu}: its vrsqrtps table matches the one the tensorflow profile models "
                f"({TABLE_CPU}), so TensorFlow on this host computes the profile's float32 bits"
            )
        if self.status == "differs":
            return (
                f"host CPU {self.cpu}: {self.detail}; the tensorflow profile models TensorFlow 2.21 on "
                f"{TABLE_CPU}, so TensorFlow on this host computes other float32 bits (1-2 ulp apart "
                "on some elements; the profile's own results do not change)"
            )
        return (
            f"host CPU {self.cpu}: its vrsqrtps table could not be compared with the tensorflow "
            f"profile's ({TABLE_CPU}): {self.detail}"
        )


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows, else ``"unknown"``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def shipped_table() -> np.ndarray:
    """The profile's table: ``uint32`` bits of shape ``(2, 4096)`` (exponent parity, top 12 bits)."""
    with as_file(files("proxadagrad_ref") / "data" / "rsqrtps_amd_zen3.npy") as path:
        return np.load(path, allow_pickle=False).astype(np.uint32).reshape(2, 4096)


def probe_inputs() -> tuple[np.ndarray, np.ndarray]:
    """The table's inputs ``2**p * (1 + k/4096)`` and one input inside each bin, float32 ``(2, 4096)``."""
    k = np.arange(4096, dtype=np.float64)
    p = np.array([[1.0], [2.0]])
    starts = (p * (1.0 + k / 4096.0)).astype(np.float32)
    inside = (p * (1.0 + (k + 0.6875) / 4096.0)).astype(np.float32)  # exact in float32: 16 bits
    return starts, inside


@functools.cache
def _numba_probe() -> Callable[[np.ndarray], np.ndarray]:
    """Compile ``x -> vrsqrtps(x)`` (float32 bits in, uint32 bits out) with numba; raises if impossible."""
    import numba
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def _rsqrtps(typingctx: Any, x: Any) -> Any:
        if x != types.float32:
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            vec = ir.VectorType(ir.FloatType(), 4)
            v = ir.Constant(vec, [ir.Constant(ir.FloatType(), 1.0)] * 4)
            for lane in range(4):
                v = builder.insert_element(v, args[0], ir.Constant(ir.IntType(32), lane))
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vec, [vec]), "llvm.x86.sse.rsqrt.ps"
            )
            return builder.extract_element(builder.call(fn, [v]), ir.Constant(ir.IntType(32), 0))

        return types.float32(types.float32), codegen

    rsqrtps: Any = _rsqrtps  # called as rsqrtps(x) in compiled code (the typing context is numba's)

    @numba.njit(error_model="numpy", fastmath=False)
    def run(x: Any, out: Any) -> None:  # pragma: no cover - compiled
        for i in range(x.size):
            out[i] = rsqrtps(x[i])

    def probe(x: np.ndarray) -> np.ndarray:
        flat = np.ascontiguousarray(x, np.float32).reshape(-1)
        out = np.empty_like(flat)
        run(flat, out)
        return out.view(np.uint32).reshape(x.shape)

    return probe


def _default_probe(x: np.ndarray) -> np.ndarray | None:
    """The host's ``vrsqrtps`` bits for `x` (float32), or None when numba cannot be imported."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return None
    return _numba_probe()(x)


# The probe; tests substitute it. It returns uint32 bits of x's shape, or None when it cannot run.
_probe: Callable[[np.ndarray], np.ndarray | None] = _default_probe


def _is_x86() -> bool:
    return platform.machine().lower() in _X86


def check_host() -> HostCheck:
    """Compare the host's ``vrsqrtps`` with the profile's table (runs the probe; see the module docs)."""
    cpu = cpu_model()
    if not _is_x86():
        return HostCheck(
            "differs", cpu, f"not an x86 CPU ({platform.machine()}): TensorFlow does not use vrsqrtps here"
        )
    starts, inside = probe_inputs()
    try:
        got_starts, got_inside = _probe(starts), _probe(inside)
    except Exception as exc:  # a numba or LLVM failure: say so rather than guess
        return HostCheck("unavailable", cpu, f"the probe failed ({type(exc).__name__}: {exc})")
    if got_starts is None or got_inside is None:
        return HostCheck("unavailable", cpu, "numba cannot be imported here (pip install numba to check)")
    table = shipped_table()
    bad = (np.asarray(got_starts) != table) | (np.asarray(got_inside) != table)
    if not bad.any():
        return HostCheck("match", cpu, f"{table.size} table entries and {table.size} inner points agree")
    p, k = (int(i) for i in np.argwhere(bad)[0])
    first = float(starts[p, k])
    return HostCheck(
        "differs",
        cpu,
        f"its vrsqrtps gives other bits for {int(bad.sum())} of {table.size} table entries "
        f"(rsqrt estimate of {first!r}: host 0x{int(np.asarray(got_starts)[p, k]):08X}, "
        f"profile 0x{int(table[p, k]):08X})",
    )


class _State:
    """What :func:`warn_once` has done in this process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.result: HostCheck | None = None
        self.warned = False  # warn_once has run (whether or not it warned)


_STATE = _State()


def host_check() -> HostCheck:
    """:func:`check_host`, run once per process (thread-safe) and remembered."""
    state = _STATE
    if state.result is None:
        with state.lock:
            if state.result is None:
                state.result = check_host()
    return state.result


def warn_once() -> None:
    """Issue one :class:`HostRsqrtWarning` per process if TensorFlow on this host computes other bits.

    Called when the ``tensorflow`` profile is first used on float32; later calls
    return at once.
    """
    state = _STATE
    if state.warned:
        return
    result = host_check()
    with state.lock:
        if state.warned:
            return
        state.warned = True
    if result.status == "differs":
        warnings.warn(HostRsqrtWarning(result.message()), stacklevel=3)
