"""Concurrent optimizer calls.

``use_locking=True``: a call holds the optimizer's lock and every parameter's
lock (taken in one global order), so concurrent calls serialize and lose no
update. With integer-valued gradients every sum is exact, so the final
accumulators must equal the exact sum of squares, and ``global_step`` the
number of calls. ``use_locking=False`` guarantees only what is tested at the
bottom: no call fails, every array stays a whole array of the right shape and
dtype, each accumulator reflects *some* subset of the updates -- updates may be
lost and ``global_step`` may count fewer calls than were made.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from proxadagrad_ref import Parameter, ProximalAdagrad, RowTensor

THREADS, CALLS = 4, 20


@pytest.fixture(autouse=True)
def busy_scheduler() -> Iterator[None]:
    """Switch threads as often as possible, so that races have every chance to show."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def run_threads(work: Callable[[int], None], n: int = THREADS) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def wrapped(k: int) -> None:
        try:
            barrier.wait()
            work(k)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive(), "a thread is stuck (deadlock?)"
    assert not errors, errors


def _grads(k: int, dtype: Any) -> tuple[Any, ...]:
    """Thread k's integer-valued gradients: dense, (indices, values) with a duplicate, RowTensor."""
    g = float(k + 1)
    return (
        np.full((3, 4), g, dtype),
        (np.array([k % 5, 4, k % 5]), np.full((3, 2), g, dtype)),
        RowTensor(np.array([1]), np.full((1, 6), g, dtype), (2, 6)),
    )


def _params(dtype: Any) -> list[Parameter]:
    return [
        Parameter(np.zeros((3, 4), dtype), name="dense"),
        Parameter(np.zeros((5, 2), dtype), name="table"),
        Parameter(np.zeros((2, 6), dtype), name="rows"),
    ]


def _expected_accums(dtype: Any, init: float) -> list[np.ndarray]:
    """The exact sums of squares: every thread's every call counted once."""
    dense = np.full((3, 4), init)
    table = np.full((5, 2), init)
    rows = np.full((2, 6), init)
    for k in range(THREADS):
        g = float(k + 1)
        dense += CALLS * g * g
        table[k % 5] += CALLS * (2 * g) ** 2  # the duplicate index: rows summed, then squared
        table[4] += CALLS * g * g
        rows[1] += CALLS * g * g
    return [x.astype(dtype) for x in (dense, table, rows)]


@pytest.mark.parametrize(
    ("dtype", "emulate"),
    [(np.float64, None), (np.float32, None), (np.float32, "mindspore"), (np.float16, "mindspore")],
    ids=["f64-exact", "f32-exact", "f32-mindspore", "f16-mindspore"],
)
def test_locked_threads_lose_no_update(dtype: Any, emulate: str | None) -> None:
    params = _params(dtype)
    if dtype == np.float16:  # the MindSpore sparse kernel is float32 only
        params, grads_of = params[:1], (lambda k: _grads(k, dtype)[:1])
    else:
        grads_of = lambda k: _grads(k, dtype)  # noqa: E731
    opt = ProximalAdagrad(params, accum=0.0, learning_rate=0.0, use_locking=True, emulate=emulate)

    def work(k: int) -> None:
        grads = grads_of(k)
        for _ in range(CALLS):
            assert opt(grads) is True

    run_threads(work)
    assert opt.global_step == THREADS * CALLS
    for got, want in zip(opt.accum, _expected_accums(dtype, 0.0)[: len(params)], strict=True):
        np.testing.assert_array_equal(got, want, strict=True)
    for p in params:  # lr = 0: the parameters keep their bits
        assert not np.any(p.data) and p.data.dtype == dtype


def test_locked_state_dict_snapshots_are_consistent() -> None:
    """A state_dict taken while other threads step: accumulators and global_step of one moment."""
    p = Parameter(np.zeros(16), name="w")
    opt = ProximalAdagrad([p], accum=0.0, learning_rate=0.0, use_locking=True)
    snapshots: list[dict[str, Any]] = []

    def work(k: int) -> None:
        for _ in range(CALLS):
            if k == 0:
                snapshots.append(opt.state_dict())
            else:
                opt((np.full(16, 1.0),))

    run_threads(work)
    assert opt.global_step == (THREADS - 1) * CALLS
    for state in snapshots:
        np.testing.assert_array_equal(state["accum"][0], np.full(16, float(state["global_step"])))


def test_two_locked_optimizers_sharing_parameters_do_not_deadlock() -> None:
    """Optimizers over the same parameters in opposite orders: locks are taken in one global order."""
    a, b = Parameter(np.zeros(8), name="a"), Parameter(np.zeros(8), name="b")
    first = ProximalAdagrad([a, b], accum=0.0, learning_rate=0.0, use_locking=True)
    second = ProximalAdagrad(
        [{"params": [a, b]}, {"order_params": [b, a]}], accum=0.0, learning_rate=0.0, use_locking=True
    )

    def work(k: int) -> None:
        opt = first if k % 2 else second
        for _ in range(CALLS):
            opt((np.ones(8), np.ones(8)))

    run_threads(work)
    for opt in (first, second):
        assert opt.global_step == THREADS // 2 * CALLS
        for acc in opt.accum:
            np.testing.assert_array_equal(acc, np.full(8, float(THREADS // 2 * CALLS)))


def test_locked_failed_call_in_one_thread_does_not_disturb_the_others() -> None:
    p = Parameter(np.zeros(4), name="w")
    opt = ProximalAdagrad([p], accum=0.0, learning_rate=0.0, use_locking=True)
    failures = []

    def work(k: int) -> None:
        for i in range(CALLS):
            if k == 0 and i % 2:
                try:
                    opt((np.ones(5),))  # wrong shape: refused, changes nothing
                except ValueError:
                    failures.append(i)
            else:
                opt((np.full(4, 2.0),))

    run_threads(work)
    calls = (THREADS - 1) * CALLS + CALLS // 2
    assert len(failures) == CALLS // 2 and opt.global_step == calls
    np.testing.assert_array_equal(opt.accum[0], np.full(4, 4.0 * calls))


# --- use_locking=False: only these guarantees ---------------------------------------------------------


def test_unlocked_threads_keep_whole_arrays_and_count_a_subset() -> None:
    params = [Parameter(np.zeros((4, 4)), name="w"), Parameter(np.zeros(4), name="b")]
    opt = ProximalAdagrad(params, accum=0.0, learning_rate=0.0, use_locking=False)

    def work(k: int) -> None:
        for _ in range(CALLS):
            assert opt((np.ones((4, 4)), np.ones(4))) is True

    run_threads(work)
    total = THREADS * CALLS
    assert 1 <= opt.global_step <= total
    for p, acc in zip(params, opt.accum, strict=True):
        assert acc.shape == p.data.shape and acc.dtype == p.data.dtype
        # every element of one accumulator comes from one committed update: a whole array
        assert np.all(acc == acc.flat[0]), "an accumulator mixes two updates"
        assert 1 <= acc.flat[0] <= total and float(acc.flat[0]).is_integer()
        assert not np.any(p.data)


def test_unlocked_single_thread_is_the_same_as_locked() -> None:
    rng = np.random.default_rng(3)
    grads = [(rng.standard_normal((3, 2)), rng.standard_normal(2)) for _ in range(5)]
    out = []
    for locking in (False, True):
        params = [Parameter(np.ones((3, 2)), name="w"), Parameter(np.zeros(2), name="b")]
        opt = ProximalAdagrad(params, learning_rate=0.1, l1=0.01, use_locking=locking)
        for g in grads:
            opt(g)
        out.append([p.data.tobytes() for p in params] + [a.tobytes() for a in opt.accum])
    assert out[0] == out[1]
