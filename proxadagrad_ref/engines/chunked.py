"""The chunked NumPy engine: a formula's recorded NumPy calls replayed on cache-sized blocks.

The formula is traced once per call (:func:`proxadagrad_ref.numerics.interpret.trace`,
with the real hyper-parameters as constants): this yields the exact sequence of
NumPy calls it makes on whole arrays, with every dtype known. Each block then
replays that sequence, writing each ufunc result (``out=``) into a small set
of per-thread buffers that are reused as soon as a value is dead; vocabulary
ops that are not one ufunc (fma, signum, ...) are called as they are. Same
functions, same operands, same dtypes as the reference engine: the same bits.
Blocks are spread over the shared thread pool. Extra memory is
O(threads x chunk); float16, float32 and float64.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..numerics.interpret import OPERATORS, Trace, Untraceable, trace
from ..numerics.ops import VOCABULARY
from .pool import run_all
from .step import Elementwise

__all__ = ["CHUNK", "MIN_PARALLEL", "SMALL_CHUNK", "evaluate"]

CHUNK = 1 << 16
"""Block size of the chunked NumPy engine, in elements (64 Ki: 512 KiB in float64).

Measured here (16 Mi float32, exact profile, 2 threads): 16 Ki blocks 2.5-3x slower than
64 Ki (each of the ~20 ufunc calls per block hands the GIL over), 256 Ki slower again
(blocks leave the L2 cache).
"""

SMALL_CHUNK = 1 << 14
"""Block size for formulas with operations that allocate their results (no ``out=``):
it keeps those temporaries O(16 Ki) per thread."""

MIN_PARALLEL = 1 << 16
"""Below this many elements the chunked engine runs on the calling thread."""


class _Call:
    """One replayed operation: the function, its argument template, where its traced operands go."""

    __slots__ = ("args", "fn", "out", "refs", "ufunc")

    def __init__(self, fn: Any, args: list[Any], refs: list[tuple[int, int]], ufunc: bool) -> None:
        self.fn, self.args, self.refs, self.ufunc = fn, args, refs, ufunc
        self.out = -1  # buffer index of a ufunc's result


def _function(op: str) -> tuple[Any, bool]:
    """The NumPy callable of step `op` and whether it is a ufunc (written with ``out=``)."""
    if op in OPERATORS:
        return OPERATORS[op], True
    ufunc = VOCABULARY[op].ufunc
    return (ufunc, True) if ufunc is not None else (VOCABULARY[op].array, False)


class Program:
    """A formula's traced NumPy calls, with buffers assigned by liveness.

    With `convert` the three inputs are first copied (widened exactly) into
    buffers of the compute dtype; those buffers join the same liveness pool, so
    an input's buffer is reused once its last reader has run.
    """

    def __init__(self, traced: Trace, convert: bool) -> None:
        w_new, a_new = traced.outputs
        if not all(getattr(x, "trace", None) is traced for x in (w_new, a_new)):
            raise Untraceable("a result does not depend on the arrays")
        self.calls: list[_Call] = []
        dtypes = [leaf.dtype for leaf in traced.leaves]
        for step in traced.steps:
            if step.value.sample.shape != (1,):
                raise Untraceable(f"{step.op} gave shape {step.value.sample.shape}")
            fn, ufunc = _function(step.op)
            refs = [(k, x.index) for k, x in enumerate(step.args) if getattr(x, "trace", None) is traced]
            template = [None if getattr(x, "trace", None) is traced else x for x in step.args]
            self.calls.append(_Call(fn, template, refs, ufunc))
            dtypes.append(step.value.dtype)
        outputs = (w_new.index, a_new.index)
        self.outputs = outputs
        self.buffer_dtypes: list[np.dtype[Any]] = []
        self.inputs: list[int] = []  # buffer of each converted input (empty without `convert`)
        last_use = {i: len(self.calls) for i in outputs}
        for s, call in enumerate(self.calls):
            for _, i in call.refs:
                last_use[i] = max(last_use.get(i, -1), s)
        holder: dict[int, int] = {}  # value index -> buffer holding it
        free: list[int] = []

        def allocate(value: int, dtype: np.dtype[Any], now: int) -> int:
            found = next((b for b in free if self.buffer_dtypes[b] == dtype), None)
            if found is None:
                found = len(self.buffer_dtypes)
                self.buffer_dtypes.append(dtype)
            else:
                free.remove(found)
            if last_use.get(value, -1) > now:
                holder[value] = found
            else:
                free.append(found)
            return found

        if convert:
            self.inputs = [allocate(i, dtypes[i], -1) for i in range(3)]
        for s, call in enumerate(self.calls):
            for _, i in call.refs:  # a ufunc may write over an operand it reads elementwise
                if last_use.get(i) == s and i in holder:
                    free.append(holder.pop(i))
            if call.ufunc:
                call.out = allocate(3 + s, dtypes[3 + s], s)

    @property
    def allocating(self) -> bool:
        """True when some call allocates its result (a vocabulary op that is not one ufunc)."""
        return not all(call.ufunc for call in self.calls)

    def run(self, blocks: list[np.ndarray], buffers: list[np.ndarray], m: int) -> tuple[Any, Any]:
        """Replay on one block: `blocks` are the block's (w, a, g), converted first when needed."""
        values: list[Any] = blocks
        if self.inputs:
            values = []
            for x, b in zip(blocks, self.inputs, strict=True):
                values.append(buffers[b][:m])
                np.copyto(values[-1], x, casting="unsafe")  # astype's conversion, into a buffer
        for call in self.calls:
            args = call.args.copy()
            for k, i in call.refs:
                args[k] = values[i]
            if call.ufunc:
                values.append(call.fn(*args, out=buffers[call.out][:m]))
            else:
                values.append(call.fn(*args))
        return values[self.outputs[0]], values[self.outputs[1]]


def record(task: Elementwise, compute: np.dtype[Any], convert: bool) -> Program:
    """The :class:`Program` of `task`'s formula for inputs of dtype `compute` (hyper-parameters real)."""
    hyper = tuple(np.asarray(h, dtype=compute) for h in task.hyper)
    samples = [np.ones(1, compute) for _ in range(3)]
    return Program(trace(task.formula, samples, hyper, task.adaptive), convert)


def evaluate(task: Elementwise, flat: tuple[np.ndarray, ...], *, chunk: int | None, threads: int) -> None:
    """Evaluate `task` block by block over the flat views ``(w, a, g, w_out, a_out)``.

    Each block's results go straight into the outputs (which may be the inputs:
    each block is read before it is written). `chunk` None: :data:`CHUNK`, or
    :data:`SMALL_CHUNK` when the formula calls operations that allocate their
    own results (emulated FMA, rsqrt, ...).
    """
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk must be a positive number of elements, got {chunk}")
    w, a, g, w_out, a_out = flat
    compute = np.dtype(task.profile.compute_dtype(task.xp, w.dtype))
    # The reference engine converts everything to the compute dtype unless all inputs already have it.
    convert = any(x.dtype != compute for x in (w, a, g, *task.hyper))
    hyper = tuple(np.asarray(h, dtype=compute) for h in task.hyper)
    n = w.shape[0]
    program: Program | None = None
    if n > (SMALL_CHUNK if chunk is None else chunk):  # one block: the formula is as fast as a replay
        try:
            program = record(task, compute, convert)
        except (Untraceable, TypeError):  # e.g. an operator the stand-ins lack: blocks call the formula
            program = None
    if chunk is None:
        chunk = SMALL_CHUNK if program is None or program.allocating else CHUNK
    size = chunk
    local = threading.local()
    formula, adaptive = task.formula, task.adaptive

    def block(start: int) -> None:
        stop = min(start + size, n)
        m = stop - start
        inputs: list[np.ndarray] = [w[start:stop], a[start:stop], g[start:stop]]
        if program is None:
            if convert:
                inputs = [x.astype(compute) for x in inputs]
            w_new, a_new = formula(*inputs, *hyper, adaptive)
        else:
            buffers = getattr(local, "buffers", None)
            if buffers is None:
                buffers = local.buffers = [np.empty(min(size, n), dt) for dt in program.buffer_dtypes]
            w_new, a_new = program.run(inputs, buffers, m)
        # Same rounding as ``astype`` in the reference engine (C cast, round to nearest even).
        np.copyto(w_out[start:stop], w_new, casting="same_kind")
        np.copyto(a_out[start:stop], a_new, casting="same_kind")

    starts = range(0, n, chunk)
    if threads <= 1 or n < MIN_PARALLEL or len(starts) < 2:
        for start in starts:
            block(start)
        return
    run_all(block, starts, threads=threads)
