"""New results start at a 64-byte boundary (JAX wraps only such NumPy buffers without a copy)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import engines_for

from proxadagrad_ref import apply_proximal_adagrad
from proxadagrad_ref.backends.host import ALIGNMENT, empty_aligned
from proxadagrad_ref.engines.dispatch import ALIGN_FROM


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 3, 4), ()])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_empty_aligned_is_empty_like_at_an_aligned_address(
    shape: tuple[int, ...], order: str, dtype: type
) -> None:
    like = np.zeros(shape, dtype, order=order)
    for _ in range(8):  # NumPy's own allocations land on 16-byte boundaries: several tries
        got = empty_aligned(like)
        want = np.empty_like(like)
        assert got.ctypes.data % ALIGNMENT == 0
        assert (got.shape, got.dtype, got.strides) == (want.shape, want.dtype, want.strides)
        assert got.flags.writeable and got.flags.c_contiguous == want.flags.c_contiguous


@pytest.mark.parametrize("engine", engines_for(np.float32))
def test_functional_results_are_aligned(engine: str) -> None:
    """Results of ALIGN_FROM bytes and more (smaller ones are not worth aligning: JAX copies them cheaply)."""
    rng = np.random.default_rng(0)
    first = ALIGN_FROM // 4  # float32 elements
    for n in (first, first + 3, 4099 + first, 1 << 16, *([first + 1] * 8)):
        w, a, g = (x.astype(np.float32) for x in (rng.standard_normal(n), rng.random(n), np.ones(n)))
        w_new, a_new = apply_proximal_adagrad(w, a, 0.1, 0.0, 0.0, g, engine=engine)
        assert w_new.ctypes.data % ALIGNMENT == 0 and a_new.ctypes.data % ALIGNMENT == 0
