"""NVRTC without a GPU: CUDA C++ compiled to PTX through ctypes, to read what a kernel's arithmetic becomes.

NVRTC, the runtime compiler CuPy compiles every kernel with, needs neither a
GPU nor a driver: only its shared library. This module binds the few calls
that turn a source into PTX text (the GPU's assembly language, in which each
IEEE operation and its rounding and flush-to-zero modifiers are spelled
out), so the PTX of the CuPy engine's kernels can be checked on any machine
(``tests/backends/test_cuda_ptx.py``) and read by anyone who wants to see
what a kernel computes::

    from proxadagrad_ref.engines import cupy, nvrtc
    ptx, log = nvrtc.compile_ptx(source, cupy.CUPY_OPTIONS)

The library is looked for, in order: the path in ``$NVRTC_LIBRARY``; the
``nvidia-cuda-nvrtc-cu12`` wheel (``nvidia/cuda_nvrtc/lib``) and CUDA 13's
``nvidia-cuda-nvrtc`` wheel (``nvidia/cu13/lib``); a CUDA toolkit under
``$CUDA_PATH``, ``$CUDA_HOME`` or ``/usr/local/cuda``; the dynamic loader's
own search. ``pip install nvidia-cuda-nvrtc-cu12`` is enough (the ``test``
extra installs it).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["NVRTCError", "compile_cubin", "compile_ptx", "instructions", "library", "version"]

_LOCK = threading.Lock()
_LOADED: list[ctypes.CDLL] = []


class NVRTCError(RuntimeError):
    """NVRTC refused a source or an option; `log` holds its messages."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message + (f"\n{log}" if log else ""))
        self.log = log


def _candidates() -> Iterator[str]:
    """Paths and names to try for libnvrtc, in order (see the module notes)."""
    explicit = os.environ.get("NVRTC_LIBRARY")
    if explicit:
        yield explicit
    for package in ("nvidia.cuda_nvrtc", "nvidia.cu13"):  # namespace packages: no __file__
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        for folder in (spec.submodule_search_locations or []) if spec is not None else []:
            found = sorted(Path(folder, "lib").glob("libnvrtc.so.*"))
            yield from (str(p) for p in found if "builtins" not in p.name and ".alt." not in p.name)
    for root in (os.environ.get("CUDA_PATH"), os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if root:
            yield from (str(p) for p in sorted(Path(root, "lib64").glob("libnvrtc.so*")))
    yield from ("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so")


def _declare(lib: ctypes.CDLL) -> None:
    """Argument and result types of the NVRTC calls used here."""
    size_p, strings = ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_char_p)
    lib.nvrtcVersion.argtypes = [ctypes.POINTER(ctypes.c_int)] * 2
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p
    lib.nvrtcGetErrorString.argtypes = [ctypes.c_int]
    lib.nvrtcCreateProgram.argtypes = [
        ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, strings, strings,
    ]
    lib.nvrtcCompileProgram.argtypes = [ctypes.c_void_p, ctypes.c_int, strings]
    lib.nvrtcDestroyProgram.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    for name in ("nvrtcGetPTXSize", "nvrtcGetCUBINSize", "nvrtcGetProgramLogSize"):
        getattr(lib, name).argtypes = [ctypes.c_void_p, size_p]
    for name in ("nvrtcGetPTX", "nvrtcGetCUBIN", "nvrtcGetProgramLog"):
        getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_char_p]


def library() -> ctypes.CDLL:
    """The loaded libnvrtc (loaded once).

    Raises
    ------
    OSError
        No libnvrtc was found; the message lists every place tried.

    """
    with _LOCK:
        if not _LOADED:
            tried = []
            for path in _candidates():
                try:
                    lib = ctypes.CDLL(path)
                    _declare(lib)
                except (OSError, AttributeError) as exc:
                    tried.append(f"{path}: {exc}")
                    continue
                _LOADED.append(lib)
                break
            else:
                hint = "pip install nvidia-cuda-nvrtc-cu12, or set NVRTC_LIBRARY"
                raise OSError(f"libnvrtc not found ({hint}); tried:\n  " + "\n  ".join(tried))
        return _LOADED[0]


def version() -> tuple[int, int]:
    """NVRTC's ``(major, minor)`` version (that of its CUDA toolkit)."""
    lib = library()
    major, minor = ctypes.c_int(), ctypes.c_int()
    lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    return major.value, minor.value


def _check(lib: ctypes.CDLL, status: int, what: str, log: str = "") -> None:
    if status != 0:
        raise NVRTCError(f"{what}: {lib.nvrtcGetErrorString(status).decode()}", log)


def _output(lib: ctypes.CDLL, program: ctypes.c_void_p, what: str) -> bytes:
    """The program's ``"PTX"``, ``"CUBIN"`` or ``"ProgramLog"`` as NVRTC gives it (text: without its NUL)."""
    size = ctypes.c_size_t()
    _check(lib, getattr(lib, f"nvrtcGet{what}Size")(program, ctypes.byref(size)), f"nvrtcGet{what}Size")
    buffer = ctypes.create_string_buffer(size.value)
    _check(lib, getattr(lib, f"nvrtcGet{what}")(program, buffer), f"nvrtcGet{what}")
    return buffer.raw if what == "CUBIN" else buffer.value


def _compile(source: str, options: Sequence[str], arch: str, name: str, what: str) -> tuple[bytes, str]:
    lib = library()
    program = ctypes.c_void_p()
    _check(
        lib,
        lib.nvrtcCreateProgram(ctypes.byref(program), source.encode(), name.encode(), 0, None, None),
        "nvrtcCreateProgram",
    )
    try:
        arguments = [f"-arch={arch}", *options]
        array = (ctypes.c_char_p * len(arguments))(*(a.encode() for a in arguments))
        status = lib.nvrtcCompileProgram(program, len(arguments), array)
        log = _output(lib, program, "ProgramLog").decode(errors="replace")
        _check(lib, status, "nvrtcCompileProgram " + " ".join(arguments), log)
        return _output(lib, program, what), log
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(program))


def compile_ptx(
    source: str, options: Sequence[str] = (), *, arch: str = "compute_90", name: str = "kernel.cu"
) -> tuple[str, str]:
    """``(ptx, log)``: `source` compiled by NVRTC for virtual architecture `arch`.

    Parameters
    ----------
    source : str
        CUDA C++ (headers it includes must be found through ``-I`` options).
    options : sequence of str
        NVRTC options, passed in this order after ``-arch=<arch>``. NVRTC
        lets the last of two contradicting options win (``--ftz=false``
        then ``-ftz=true`` is ``-ftz=true``), with a warning in the log.
    arch : str
        ``compute_XX``: PTX for that architecture (no GPU of it is needed).
    name : str
        The file name NVRTC reports in its messages.

    Raises
    ------
    NVRTCError
        The source does not compile or an option is invalid; ``log`` holds NVRTC's messages.
    OSError
        No libnvrtc (see :func:`library`).

    """
    ptx, log = _compile(source, options, arch, name, "PTX")
    return ptx.decode(), log


def compile_cubin(
    source: str, options: Sequence[str] = (), *, arch: str = "sm_90", name: str = "kernel.cu"
) -> tuple[bytes, str]:
    """``(cubin, log)``: `source` compiled by NVRTC and its built-in ptxas for real architecture `arch`.

    The machine code a GPU of `arch` (``sm_XX``) runs, as CuPy loads it; no
    such GPU is needed. Options and errors as for :func:`compile_ptx`.
    """
    return _compile(source, options, arch, name, "CUBIN")


_INSTRUCTION = re.compile(r"^\s*(?:@!?%\w+\s+)?([a-z][\w.]*)\s")


def instructions(ptx: str) -> list[str]:
    """The opcodes of the PTX instructions in `ptx`, in order (``"add.rn.f32"``, ``"setp.neu.f32"``, ...).

    Directives (``.reg``, ``.visible``, ...), labels, braces and comments are
    not instructions; a predicate guard (``@%p1 bra``) is dropped from its
    instruction. Inline ``asm`` statements appear in PTX as written, so their
    instructions are counted like the compiler's own.
    """
    found = []
    for line in ptx.splitlines():
        code = line.split("//", 1)[0]
        for statement in code.split(";"):
            match = _INSTRUCTION.match(statement.strip().strip("{}") + " ")
            if match:
                found.append(match.group(1))
    return found
