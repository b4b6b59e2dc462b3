"""The dense step's extra memory: O(chunk) in place, two results (+ O(chunk)) when functional."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import engines_for, peak_allocation

from proxadagrad_ref import apply_proximal_adagrad, warm_up

N = 1 << 24  # 16 Mi float32: 64 MiB per array (the size the O(chunk) target is stated for)
ENGINES = engines_for("float32")


def arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    w = rng.standard_normal(N, dtype=np.float32)
    a = rng.random(N, dtype=np.float32)
    g = rng.standard_normal(N, dtype=np.float32)
    return w, a, g


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("emulate", [None, "mindspore"])
def test_inplace_step_allocates_o_chunk(engine: str, emulate: str | None) -> None:
    w, a, g = arrays()
    warm_up(emulate, np.float32)  # compile outside the measurement
    apply_proximal_adagrad(w[:64], a[:64], 0.1, 0.01, 0.02, g[:64], emulate=emulate, engine=engine)
    growth = peak_allocation(
        lambda: apply_proximal_adagrad(w, a, 0.1, 0.01, 0.02, g, emulate=emulate, engine=engine, inplace=True)
    )
    assert growth <= 0.10 * w.nbytes, f"in-place step grew memory by {growth / w.nbytes:.1%} of one array"


@pytest.mark.parametrize("engine", ENGINES)
def test_functional_step_allocates_two_results(engine: str) -> None:
    w, a, g = arrays()
    warm_up(None, np.float32)
    growth = peak_allocation(lambda: apply_proximal_adagrad(w, a, 0.1, 0.01, 0.02, g, engine=engine))
    assert 2 * w.nbytes <= growth <= 2.10 * w.nbytes, f"functional step: {growth / w.nbytes:.2f} arrays"
