"""Dense kernel: known values, the published formulas' properties, and every backend.

Tolerances are stated from the dtype: ``ulp`` of the result, and binary64's eps
for the float64 evaluation stage of the exact profile.
"""

from __future__ import annotations

from types import ModuleType

import mpmath
import numpy as np
import pytest
from helpers import canonical_bits, to_numpy
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from published import published_update

from proxadagrad_ref import apply_proximal_adagrad

DTYPES = [np.float16, np.float32, np.float64]
FORMS = ["adaptive", "fixed"]
EPS64 = float(np.finfo(np.float64).eps)


def hyper(dtype: type[np.floating], value: float) -> float:
    """A hyper-parameter as the kernel sees it: rounded to the parameter dtype (float32 for float16)."""
    return float((np.float32 if dtype is np.float16 else dtype)(value))


def supports(xp: ModuleType, dtype: type[np.floating]) -> bool:
    return dtype is not np.float16 or hasattr(xp, "float16")


# ---------------------------------------------------------------- known values
# (w, accum, grad, lr, l1, l2, prox_step, expected w', expected accum') in float64,
# worked by hand (the first two with 30-digit mpmath) from the published formula.
KNOWN = [
    (1.0, 0.1, 0.3, 0.1, 0.05, 0.1, "adaptive", 0.89907822408671389, 0.19),
    (1.0, 0.1, 0.3, 0.1, 0.05, 0.1, "fixed", 0.91700522756319947, 0.19),
    # l1 = l2 = 0: plain Adagrad, w - lr*g/sqrt(a + g^2) = 1 - 0.5*2/sqrt(4)
    (1.0, 0.0, 2.0, 0.5, 0.0, 0.0, "adaptive", 0.5, 4.0),
    # l2 only: v = 1 - 0.5*2/2 = 0.5, divided by 1 + 0.25*2 (adaptive step 0.25)
    (1.0, 0.0, 2.0, 0.5, 0.0, 2.0, "adaptive", 1 / 3, 4.0),
    (1.0, 0.0, 2.0, 0.5, 0.0, 2.0, "fixed", 0.25, 4.0),
    # threshold wipes the coordinate: |v| = 0.5 <= 0.25 * 3
    (1.0, 0.0, 2.0, 0.5, 3.0, 0.0, "adaptive", 0.0, 4.0),
    # negative side: v = -0.5, threshold 0.25*1 -> -0.25
    (-1.0, 0.0, -2.0, 0.5, 1.0, 0.0, "adaptive", -0.25, 4.0),
]


@pytest.mark.parametrize("w,a,g,lr,l1,l2,form,w_expected,a_expected", KNOWN)
def test_known_values(
    xp: ModuleType,
    w: float,
    a: float,
    g: float,
    lr: float,
    l1: float,
    l2: float,
    form: str,
    w_expected: float,
    a_expected: float,
) -> None:
    arr = [xp.asarray([v], dtype=xp.float64) for v in (w, a, g)]
    w1, a1 = apply_proximal_adagrad(arr[0], arr[1], lr, l1, l2, arr[2], prox_step=form)
    assert to_numpy(w1)[0] == pytest.approx(w_expected, rel=1e-9, abs=1e-15)
    assert to_numpy(a1)[0] == pytest.approx(a_expected, rel=1e-15)


# ---------------------------------------------------------------- strategies
def element_values(dtype: type[np.floating], low: float, high: float) -> st.SearchStrategy[float]:
    width = np.finfo(dtype).bits
    return st.floats(low, high, allow_nan=False, allow_infinity=False, width=width)


@st.composite
def step_inputs(draw: st.DrawFn, dtype: type[np.floating]) -> dict[str, object]:
    n = draw(st.integers(1, 12))
    big = 60.0 if dtype is np.float16 else 1e3
    w = draw(hnp.arrays(dtype, n, elements=element_values(dtype, -big, big)))
    a = draw(hnp.arrays(dtype, n, elements=element_values(dtype, 0.0, big)))
    g = draw(hnp.arrays(dtype, n, elements=element_values(dtype, -big, big)))
    lr = draw(st.sampled_from([1e-3, 0.01, 0.1, 0.5, 1.0, 3.0]))
    l1 = draw(st.sampled_from([0.0, 1e-3, 0.05, 0.3, 2.0]))
    l2 = draw(st.sampled_from([0.0, 1e-3, 0.1, 1.0, 4.0]))
    return {"w": w, "a": a, "g": g, "lr": lr, "l1": l1, "l2": l2}


def run(xp: ModuleType, inp: dict, **kwargs: object) -> tuple[np.ndarray, np.ndarray]:
    w, a, g = (xp.asarray(inp[k]) for k in ("w", "a", "g"))
    w1, a1 = apply_proximal_adagrad(w, a, inp["lr"], inp["l1"], inp["l2"], g, **kwargs)  # type: ignore[arg-type]
    return to_numpy(w1), to_numpy(a1)


def reference(inp: dict, form: str) -> list[tuple[float, float, float, float]]:
    """Published formula in binary64 on the inputs as the kernel sees them (hyper-parameters rounded)."""
    dtype = inp["w"].dtype.type
    lr, l1, l2 = (hyper(dtype, inp[k]) for k in ("lr", "l1", "l2"))
    return [
        published_update(float(w), float(a), float(g), lr, l1, l2, adaptive=form == "adaptive")
        for w, a, g in zip(inp["w"], inp["a"], inp["g"], strict=True)
    ]


# ---------------------------------------------------------------- exact profile
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_exact_is_binary64_formula_rounded_once(
    xp: ModuleType, dtype: type[np.floating], form: str, data: st.DataObject
) -> None:
    if not supports(xp, dtype):
        pytest.skip("namespace has no float16")
    inp = data.draw(step_inputs(dtype))
    w1, a1 = run(xp, inp, prox_step=form)
    ref = reference(inp, form)
    with np.errstate(invalid="ignore", over="ignore"):
        expected_w = np.array([r[0] for r in ref]).astype(dtype)
        expected_a = np.array([r[1] for r in ref]).astype(dtype)
    np.testing.assert_array_equal(canonical_bits(w1), canonical_bits(expected_w))
    np.testing.assert_array_equal(canonical_bits(a1), canonical_bits(expected_a))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_result_minimises_the_prox_objective(
    xp: ModuleType, dtype: type[np.floating], form: str, data: st.DataObject
) -> None:
    """w' = argmin 1/2 (w - v)^2 + s l1 |w| + 1/2 s l2 w^2: check the optimality condition.

    Tolerance: w' is the binary64 minimiser rounded once, so the condition's
    residual (1 + s l2)(w' - w*) is at most (1 + s l2) * ulp(w')/2, plus the
    binary64 stage's own rounding, a few eps64 of the terms |v| and s l1.
    """
    if not supports(xp, dtype):
        pytest.skip("namespace has no float16")
    inp = data.draw(step_inputs(dtype))
    w1, _ = run(xp, inp, prox_step=form)
    l1, l2 = hyper(dtype, inp["l1"]), hyper(dtype, inp["l2"])
    for w_new, (_, _, v, s) in zip(w1.astype(np.float64), reference(inp, form), strict=True):
        assume(np.isfinite(v) and np.isfinite(s))
        slack = 8 * EPS64 * (abs(v) + s * l1) * (1 + s * l2)
        tol = (1 + s * l2) * float(np.spacing(dtype(abs(w_new)))) / 2 + slack
        if w_new == 0:
            assert abs(v) <= s * l1 + tol  # 0 is in the subdifferential
        else:
            residual = (w_new - v) + s * l1 * np.sign(w_new) + s * l2 * w_new
            assert abs(residual) <= tol + float(np.spacing(dtype(abs(w_new)))), (w_new, v, s)


@pytest.mark.parametrize("form", FORMS)
@given(inp=step_inputs(np.float32))
def test_monotone_accumulator_and_shrinkage(form: str, inp: dict) -> None:
    """accum never decreases, and |w'| <= |v| (the prox only shrinks), both after rounding."""
    w1, a1 = run(np, inp, prox_step=form)
    assert np.all(a1 >= inp["a"])
    v = np.array([r[2] for r in reference(inp, form)], dtype=np.float64)
    defined = ~np.isnan(v)  # a = g = 0 gives 0/0
    assert np.all(np.abs(w1[defined]) <= np.abs(v[defined].astype(np.float32)))


@pytest.mark.parametrize("form", FORMS)
@given(inp=step_inputs(np.float32))
def test_large_l1_gives_exact_zeros(form: str, inp: dict) -> None:
    ref = reference(inp, form)
    needed = max(abs(v) / s for _, _, v, s in ref if s > 0) if any(s > 0 for *_, s in ref) else 0.0
    assume(np.isfinite(needed) and 0 < needed < 1e30)
    inp = {**inp, "l1": needed * 1.01}
    w1, _ = run(np, inp, prox_step=form)
    defined = np.array([not np.isnan(v) for _, _, v, _ in ref])  # a = g = 0 gives 0/0
    assert np.all(w1[defined] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_no_regularisation_is_plain_adagrad(dtype: type[np.floating], data: st.DataObject) -> None:
    inp = {**data.draw(step_inputs(dtype)), "l1": 0.0, "l2": 0.0}
    w1, _ = run(np, inp)
    lr = hyper(dtype, inp["lr"])
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        w, a, g = (inp[k].astype(np.float64) for k in ("w", "a", "g"))
        adagrad = (w - (lr / np.sqrt(a + g * g)) * g).astype(dtype)  # Adagrad step, then identity prox
    # Where a + g*g is 0 the step is inf and the prox divides by 1 + inf*0 = NaN: not Adagrad any more.
    finite_step = a + g * g > 0
    np.testing.assert_array_equal(canonical_bits(w1[finite_step]), canonical_bits(adagrad[finite_step]))


@pytest.mark.parametrize("form,regularised", [("fixed", True), ("fixed", False), ("adaptive", False)])
@given(inp=step_inputs(np.float32), k=st.integers(-6, 6))
def test_gradient_scale_invariance(form: str, regularised: bool, inp: dict, k: int) -> None:
    """Scaling g by c and accum by c^2 leaves the update unchanged.

    True for the printed ("fixed") form with any l1, l2, and for the kernels'
    ("adaptive") form only without regularisation: there the prox threshold
    eta*l1 = lr*l1/sqrt(accum') scales by 1/c. With c a power of two every
    rounded operation scales exactly, so the bits must match.
    """
    if not regularised:
        inp = {**inp, "l1": 0.0, "l2": 0.0}
    c = 2.0**k
    scaled = {**inp, "g": (inp["g"] * c).astype(np.float32), "a": (inp["a"] * c * c).astype(np.float32)}
    assume(np.all(np.isfinite(scaled["a"])) and np.all(scaled["a"] >= np.finfo(np.float32).tiny))
    assume(np.all(np.isfinite(scaled["g"])) and np.all(inp["a"] >= np.finfo(np.float32).tiny))
    base, _ = run(np, inp, prox_step=form)
    moved, _ = run(np, scaled, prox_step=form)
    np.testing.assert_array_equal(canonical_bits(base), canonical_bits(moved))


def test_adaptive_form_is_not_scale_invariant_with_l1() -> None:
    # The counterpart of the test above: the kernels' form depends on the gradient scale.
    w, a, g = np.array([1.0]), np.array([0.1]), np.array([0.3])
    base, _ = apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g)
    moved, _ = apply_proximal_adagrad(w, a * 4, 0.1, 0.05, 0.1, g * 2)
    assert base[0] != moved[0]


@pytest.mark.parametrize("emulate", [None, "mindspore", "tensorflow"])
@pytest.mark.parametrize("form", FORMS)
@given(inp=step_inputs(np.float32))
def test_inplace_equals_functional_and_functional_leaves_inputs(
    xp: ModuleType, emulate: str | None, form: str, inp: dict
) -> None:
    if emulate is not None and form == "fixed":
        return
    w, a, g = (xp.asarray(inp[k].copy()) for k in ("w", "a", "g"))  # (NumPy 1.26: no asarray copy=)
    w_func, a_func = apply_proximal_adagrad(
        w, a, inp["lr"], inp["l1"], inp["l2"], g, prox_step=form, emulate=emulate
    )
    np.testing.assert_array_equal(canonical_bits(w), canonical_bits(inp["w"]))
    np.testing.assert_array_equal(canonical_bits(a), canonical_bits(inp["a"]))
    w_in, a_in = apply_proximal_adagrad(
        w, a, inp["lr"], inp["l1"], inp["l2"], g, prox_step=form, emulate=emulate, inplace=True
    )
    assert w_in is w and a_in is a
    np.testing.assert_array_equal(canonical_bits(w), canonical_bits(w_func))
    np.testing.assert_array_equal(canonical_bits(a), canonical_bits(a_func))


@pytest.mark.parametrize("form", FORMS)
@given(inp=step_inputs(np.float32))
def test_exact_is_within_one_ulp_of_real_arithmetic(form: str, inp: dict) -> None:
    """Against 60-digit mpmath: within 1 ulp, plus the binary64 stage's cancellation allowance.

    Where |v| and s*l1 nearly cancel, the binary64 evaluation carries an absolute
    error of a few eps64 * |v|, which can exceed one float32 ulp of a tiny result.
    """
    w1, _ = run(np, inp, prox_step=form)
    dtype = np.float32
    lr, l1, l2 = (mpmath.mpf(hyper(dtype, inp[k])) for k in ("lr", "l1", "l2"))
    with mpmath.workdps(60):
        for i, got in enumerate(w1):
            w, a, g = (mpmath.mpf(float(inp[k][i])) for k in ("w", "a", "g"))
            a_new = a + g * g
            if a_new == 0:
                continue
            step = lr / mpmath.sqrt(a_new)
            v = w - step * g
            s = step if form == "adaptive" else lr
            magnitude = max(abs(v) - s * l1, 0) if l1 > 0 else abs(v)
            exact = mpmath.sign(v) * magnitude / (1 + s * l2)
            allowance = 8 * EPS64 * float(abs(v) + s * l1)
            assert abs(float(got) - float(exact)) <= float(np.spacing(np.float32(abs(got)))) + allowance


# ---------------------------------------------------------------- special values
def test_zero_accumulator_and_zero_gradient_give_nan() -> None:
    w1, a1 = apply_proximal_adagrad(np.array([1.0]), np.array([0.0]), 0.1, 0.0, 0.0, np.array([0.0]))
    assert np.isnan(w1[0]) and a1[0] == 0.0


def test_nan_and_inf_propagate_in_exact_mode() -> None:
    w = np.array([np.nan, 1.0, 1.0, np.inf], np.float32)
    a = np.array([0.1, np.nan, 0.1, 0.1], np.float32)
    g = np.array([0.1, 0.1, np.inf, 0.1], np.float32)
    with np.errstate(invalid="ignore"):
        w1, a1 = apply_proximal_adagrad(w, a, 0.1, 0.01, 0.1, g)
    assert np.isnan(w1[0]) and np.isnan(w1[1]) and np.isnan(a1[1])
    assert np.isnan(w1[2]) and a1[2] == np.inf  # g = inf: step 0, 0*inf = NaN
    assert w1[3] == np.inf


# ---------------------------------------------------------------- MindSpore profile
def test_mindspore_profile_matches_the_issue_example() -> None:
    w, a, g = (np.array([x], np.float32) for x in (1.0, 0.1, 0.3))
    w1, a1 = apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, emulate="mindspore")
    assert abs(float(w1[0]) - 0.899078) < 1e-6
    assert float(a1[0]) == pytest.approx(0.19, rel=1e-6)


def test_mindspore_profile_turns_nan_inside_threshold_into_zero() -> None:
    # Measured on MindSpore 2.10 (recorded special-value cases): with l1 > 0 a NaN prox value
    # becomes +0 (SIMD max gives 0, the comparison-built sign is 0); with l1 == 0 NaN propagates.
    # 13 elements: the first 12 take the SIMD path, the last one the scalar tail (fmax, int sign).
    w = np.full(13, np.nan, np.float32)
    a, g = np.full(13, 0.1, np.float32), np.full(13, 0.3, np.float32)
    w_ms, _ = apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g, emulate="mindspore")
    w_no_l1, _ = apply_proximal_adagrad(w, a, 0.1, 0.0, 0.1, g, emulate="mindspore")
    w_exact, _ = apply_proximal_adagrad(w, a, 0.1, 0.05, 0.1, g)
    assert np.all(np.isnan(w_exact)) and np.all(np.isnan(w_no_l1))
    assert np.all(w_ms == 0) and not np.any(np.signbit(w_ms))
