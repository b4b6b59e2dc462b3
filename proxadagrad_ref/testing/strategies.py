"""Hypothesis strategies for Proximal Adagrad kernel inputs, with the edge values the suite uses.

Needs the ``hypothesis`` package. Every strategy draws a dict of kernel
arguments -- ``var``, ``accum``, ``grad`` (NumPy arrays of one float dtype),
``lr``, ``l1``, ``l2`` (Python floats exact in that dtype) and, for sparse
inputs, ``indices`` -- that :func:`proxadagrad_ref.testing.assert_step_conforms`
checks against the engine::

    from hypothesis import given
    from proxadagrad_ref.testing import assert_step_conforms
    from proxadagrad_ref.testing.strategies import dense_inputs

    @given(dense_inputs())
    def test_my_kernel(inputs):
        assert_step_conforms(my_kernel, inputs)

Array elements mix ordinary values with the suite's special ones
(:func:`proxadagrad_ref.vectors.suites.edge_values`: signed zeros, subnormals,
values whose square overflows, infinities, NaN); the hyper-parameters are the
suite's sets (:func:`~proxadagrad_ref.vectors.suites.hyper_sets`: l1 or l2
zero, strong, tiny and large learning rates) or drawn. :func:`suite_inputs`
draws whole inputs from the suite's own scenario generators.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..backends.compat import FLOAT_NAMES
from ..vectors.suites import DENSE_SCENARIOS, Spec, build_inputs, edge_values, hyper_sets

__all__ = ["DTYPES", "dense_inputs", "elements", "hyper_parameters", "sparse_inputs", "suite_inputs"]

DTYPES = FLOAT_NAMES


def _dtypes(dtype: str | None) -> st.SearchStrategy[str]:
    if dtype is None:
        return st.sampled_from(DTYPES)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return st.just(dtype)


def elements(dtype: str, role: str) -> st.SearchStrategy[float]:
    """Values for the input `role` (``"var"``, ``"accum"``, ``"grad"``) in `dtype`: ordinary or special.

    ``accum`` values are never negative (the kernels refuse those).
    """
    if role not in ("var", "accum", "grad"):
        raise ValueError(f"role must be 'var', 'accum' or 'grad', got {role!r}")
    width: Any = np.finfo(dtype).bits
    if role == "accum":
        ordinary = st.floats(0.0, 4.0, width=width)
    else:
        ordinary = st.floats(-4.0, 4.0, width=width)
    return st.one_of(ordinary, st.sampled_from(edge_values(dtype)[role]))


def hyper_parameters(dtype: str) -> st.SearchStrategy[tuple[float, float, float]]:
    """``(lr, l1, l2)``: one of the suite's sets, or drawn (lr > 0, l1 and l2 >= 0, zero often)."""

    def exact(x: float) -> float:
        return float(np.asarray(x, dtype))

    low = float(np.finfo(dtype).smallest_normal) * 4
    drawn = st.tuples(
        st.floats(low, 1000.0).map(exact),
        st.one_of(st.just(0.0), st.floats(0.0, 1.0)).map(exact),
        st.one_of(st.just(0.0), st.floats(0.0, 4.0)).map(exact),
    )
    return st.one_of(st.sampled_from(list(hyper_sets(dtype).values())), drawn)


@st.composite
def dense_inputs(draw: Any, dtype: str | None = None, *, max_size: int = 16) -> dict[str, Any]:
    """Inputs of a dense kernel: 1-D ``var``, ``accum``, ``grad`` of 1 to `max_size` elements."""
    dt = draw(_dtypes(dtype))
    n = draw(st.integers(1, max_size))
    arrays = {
        role: draw(hnp.arrays(np.dtype(dt), n, elements=elements(dt, role)))
        for role in ("var", "accum", "grad")
    }
    lr, l1, l2 = draw(hyper_parameters(dt))
    return {**arrays, "lr": lr, "l1": l1, "l2": l2}


@st.composite
def sparse_inputs(
    draw: Any, dtype: str | None = None, *, max_rows: int = 8, cols: int = 3, max_indices: int = 8
) -> dict[str, Any]:
    """Inputs of a sparse kernel: a ``(rows, cols)`` table, gradient rows and their ``indices``.

    Indices are int32 or int64, in any order, often repeated (duplicates) and
    sometimes none at all (an empty gradient).
    """
    dt = draw(_dtypes(dtype))
    rows = draw(st.integers(1, max_rows))
    k = draw(st.integers(0, max_indices))
    index_dtype = draw(st.sampled_from([np.int32, np.int64]))
    indices = np.asarray(draw(st.lists(st.integers(0, rows - 1), min_size=k, max_size=k)), index_dtype)
    shape = (rows, cols)
    var = draw(hnp.arrays(np.dtype(dt), shape, elements=elements(dt, "var")))
    accum = draw(hnp.arrays(np.dtype(dt), shape, elements=elements(dt, "accum")))
    grad = draw(hnp.arrays(np.dtype(dt), (k, cols), elements=elements(dt, "grad")))
    lr, l1, l2 = draw(hyper_parameters(dt))
    return {"var": var, "accum": accum, "grad": grad, "indices": indices, "lr": lr, "l1": l1, "l2": l2}


@st.composite
def suite_inputs(draw: Any, op: str = "dense", dtype: str | None = None) -> dict[str, Any]:
    """Inputs drawn by the suite's own scenario generators (a scenario, a hyper-parameter set, a seed).

    Dense scenarios are those of the suite (``threshold``, ``accum_zero``,
    ``grad_huge``, ``grad_nan``, ...); sparse ones are ``unique``,
    ``unsorted``, ``duplicate`` and ``empty`` rows. Shrinking changes the
    scenario and the seed, not single elements.
    """
    if op not in ("dense", "sparse"):
        raise ValueError(f"op must be 'dense' or 'sparse', got {op!r}")
    dt = draw(_dtypes(dtype))
    scenarios = DENSE_SCENARIOS if op == "dense" else ("unique", "unsorted", "duplicate", "empty")
    scenario = draw(st.sampled_from(scenarios))
    hyper = draw(st.sampled_from(list(hyper_sets(dt)))) if op == "dense" and scenario == "random" else "l1l2"
    size = draw(st.integers(8, 32)) if op == "dense" else draw(st.integers(2, 8))
    variant = draw(st.integers(0, 2**16))
    spec = Spec(op, scenario, dt, "exact", "adaptive", hyper, size, variant=variant)
    arrays, (lr, l1, l2) = build_inputs(spec)
    return {**arrays, "lr": lr, "l1": l1, "l2": l2}
