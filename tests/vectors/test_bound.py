"""The forward error bound: correct arithmetic stays inside it, on adversarial random inputs."""

from __future__ import annotations

import numpy as np
import pytest
import vector_impls as impls
from hypothesis import given
from hypothesis import strategies as st

from proxadagrad_ref.vectors.bound import arith_for, step_bound


@pytest.mark.parametrize("variant", ["native", "fma", "rsqrt3ulp", "fma_rsqrt3ulp", "chunked"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@given(
    seed=st.integers(0, 2**32 - 1),
    adaptive=st.booleans(),
    hyper=st.sampled_from([(0.1, 0.05, 0.1), (0.5, 0.3, 2.0), (0.1, 0.0, 0.0), (10.0, 1.0, 0.0)]),
)
def test_variants_within_bound_of_real_result(variant, dtype, seed, adaptive, hyper) -> None:
    rng = np.random.Generator(np.random.PCG64(seed))
    n = 64
    lr, l1, l2 = (float(dtype(x)) for x in hyper)
    a = rng.uniform(0, 2, n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    w64 = (lr / np.sqrt(a.astype(np.float64) + g.astype(np.float64) ** 2)) * g.astype(np.float64)
    thr = (lr / np.sqrt(a.astype(np.float64) + g.astype(np.float64) ** 2)) * l1 if adaptive else lr * l1
    w = (w64 + np.where(rng.random(n) < 0.5, -1, 1) * thr * (1 + rng.uniform(-1e-3, 1e-3, n))).astype(dtype)
    w[: n // 2] = rng.standard_normal(n // 2).astype(dtype)
    impl = impls.CORRECT[variant].dense
    with np.errstate(all="ignore"):
        out, acc = impl(w, a, lr, l1, l2, g, prox_step="adaptive" if adaptive else "fixed")
        b = step_bound(w, a, g, lr, l1, l2, adaptive=adaptive, arith=arith_for(dtype))
    # real result: float64 evaluation (its own error is ~1e-16 relative, far below the float16/32 bound)
    assert np.all(np.abs(out.astype(np.float64) - b["w_new"]) <= b["Bw"])
    assert np.all(np.abs(acc.astype(np.float64) - b["a_new"]) <= b["Ba"])


def test_bound_is_tight_enough_to_see_one_wrong_rounding_step() -> None:
    """B is a handful of ulps away from the threshold, not a loose rtol."""
    w, a, g = np.float32([1.0]), np.float32([0.1]), np.float32([0.3])
    b = step_bound(w, a, g, 0.1, 0.05, 0.1, adaptive=True, arith=arith_for(np.float32))
    ulp = np.spacing(np.float32(b["w_new"][0]))
    assert 1 < b["Bw"][0] / ulp < 32


def test_unbounded_when_accumulator_underflows() -> None:
    tiny = np.finfo(np.float32).smallest_subnormal
    b = step_bound(
        np.float32([1.0]),
        np.float32([0.0]),
        np.float32([tiny]),
        0.1,
        0.0,
        0.0,
        adaptive=True,
        arith=arith_for(np.float32),
    )
    assert np.isinf(b["Bw"][0])
