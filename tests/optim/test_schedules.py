"""Learning-rate schedules and list builders: MindSpore's documented values, formulas, argument checks.

The schedules' whole catalogue of bad arguments (``tests/reliability/test_catalogue.py`` counts it):
ints where floats are required, signs, zeros, NaN, infinities, NumPy scalars, bad global steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from proxadagrad_ref import schedules as S

NAN, INF = float("nan"), float("inf")

# Each row: schedule built with emulate="mindspore", step, the value MindSpore's docstring prints
# (a float32 tensor printed with NumPy's 8 digits).
MINDSPORE_DOC_VALUES = [
    pytest.param(
        lambda e: S.ExponentialDecayLR(0.1, 0.9, 4, emulate=e),
        2,
        # MindSpore's docstring prints 0.09486833 (float64 arithmetic); MindSpore 2.10 itself returns
        # float32 0.094868325, printed 0.09486832 (recorded: docs/recorded-mindspore.md).
        "0.09486832",
        id="exponential",
    ),
    pytest.param(lambda e: S.NaturalExpDecayLR(0.1, 0.9, 4, True, emulate=e), 2, "0.1", id="natural-exp"),
    pytest.param(lambda e: S.InverseDecayLR(0.1, 0.9, 4, True, emulate=e), 2, "0.1", id="inverse"),
    pytest.param(lambda e: S.CosineDecayLR(0.01, 0.1, 4, emulate=e), 2, "0.055", id="cosine"),
    pytest.param(
        lambda e: S.PolynomialDecayLR(0.1, 0.01, 4, 0.5, emulate=e), 2, "0.07363961", id="polynomial"
    ),
    pytest.param(lambda e: S.WarmUpLR(0.1, 2, emulate=e), 2, "0.1", id="warmup"),
]


@pytest.mark.parametrize(("build", "step", "printed"), MINDSPORE_DOC_VALUES)
def test_mindspore_docstring_values(build, step, printed):
    value = build("mindspore")(step)
    assert value == float(np.float32(value))  # a float32 number
    assert str(np.array([value], np.float32))[1:-1] == printed
    assert build(None)(step) == pytest.approx(float(printed), rel=1e-6)


# Each row: schedule (exact), the formula written independently, as a function of the step.
FORMULAS = [
    pytest.param(S.ExponentialDecayLR(0.1, 0.9, 4), lambda t: 0.1 * 0.9 ** (t / 4), id="exponential"),
    pytest.param(
        S.ExponentialDecayLR(0.1, 0.9, 4, True), lambda t: 0.1 * 0.9 ** (t // 4), id="exponential-stair"
    ),
    pytest.param(S.NaturalExpDecayLR(0.1, 0.9, 4), lambda t: 0.1 * math.exp(-0.9 * t), id="natural"),
    pytest.param(
        S.NaturalExpDecayLR(0.1, 0.9, 4, True),
        lambda t: 0.1 * math.exp(-0.9 * (t // 4 * 4)),
        id="natural-stair",
    ),
    pytest.param(S.InverseDecayLR(0.1, 0.5, 3), lambda t: 0.1 / (1 + 0.5 * t / 3), id="inverse"),
    pytest.param(
        S.InverseDecayLR(0.1, 0.5, 3, True), lambda t: 0.1 / (1 + 0.5 * (t // 3)), id="inverse-stair"
    ),
    pytest.param(
        S.CosineDecayLR(0.01, 0.1, 5),
        lambda t: 0.01 + 0.045 * (1 + math.cos(math.pi * min(t, 5) / 5)),
        id="cosine",
    ),
    pytest.param(
        S.PolynomialDecayLR(0.1, 0.01, 5, 2.0),
        lambda t: 0.09 * (1 - min(t, 5) / 5) ** 2 + 0.01,
        id="polynomial",
    ),
    pytest.param(
        S.PolynomialDecayLR(0.1, 0.01, 5, 2.0, True),
        lambda t: 0.09 * (1 - t / (5 * max(math.ceil(t / 5), 1))) ** 2 + 0.01,
        id="polynomial-update",
    ),
    pytest.param(S.WarmUpLR(0.1, 4), lambda t: 0.1 * min(t, 4) / 4, id="warmup"),
]


@pytest.mark.parametrize(("schedule", "formula"), FORMULAS)
def test_exact_schedules_follow_formula(schedule, formula):
    for t in range(12):
        assert schedule(t) == pytest.approx(formula(t), rel=1e-12, abs=1e-15)
        assert isinstance(schedule(t), float)


@pytest.mark.parametrize(("schedule", "formula"), FORMULAS)
def test_mindspore_schedules_are_float32_close_to_formula(schedule, formula):
    schedule.emulate = "mindspore"
    for t in range(12):
        value = schedule(t)
        assert value == float(np.float32(value))
        assert value == pytest.approx(formula(t), rel=2e-6, abs=1e-9)


def test_mindspore_exponential_rounds_step_quotient_in_float32():
    """p = float32(step) / decay_steps is a float32 division: p for step 1 / 3 is float32(1/3)."""
    value = S.ExponentialDecayLR(0.5, 0.25, 3, emulate="mindspore")(1)
    f32 = np.float32
    expected = f32(0.5) * f32(math.pow(float(f32(0.25)), float(f32(1) / f32(3))))
    assert value == float(expected)


# Each row: constructor, error class, argument named.
SCHEDULE_ERRORS = [
    pytest.param(lambda: S.ExponentialDecayLR(1, 0.9, 4), TypeError, "learning_rate", id="lr-int"),
    pytest.param(lambda: S.ExponentialDecayLR(0.0, 0.9, 4), ValueError, "learning_rate", id="lr-zero"),
    pytest.param(lambda: S.ExponentialDecayLR(0.1, -0.9, 4), ValueError, "decay_rate", id="rate-negative"),
    pytest.param(lambda: S.NaturalExpDecayLR(0.1, 1, 4), TypeError, "decay_rate", id="rate-int"),
    pytest.param(lambda: S.InverseDecayLR(0.1, 0.9, 0), ValueError, "decay_steps", id="steps-zero"),
    pytest.param(lambda: S.InverseDecayLR(0.1, 0.9, 2.0), TypeError, "decay_steps", id="steps-float"),
    pytest.param(lambda: S.InverseDecayLR(0.1, 0.9, True), TypeError, "decay_steps", id="steps-bool"),
    pytest.param(lambda: S.InverseDecayLR(0.1, 0.9, 2, 1), TypeError, "is_stair", id="stair-int"),
    pytest.param(lambda: S.CosineDecayLR(0, 0.1, 4), TypeError, "min_lr", id="min-int"),
    pytest.param(lambda: S.CosineDecayLR(-0.1, 0.1, 4), ValueError, "min_lr", id="min-negative"),
    pytest.param(lambda: S.CosineDecayLR(0.2, 0.1, 4), ValueError, "max_lr", id="min-above-max"),
    pytest.param(lambda: S.CosineDecayLR(0.0, 0.0, 4), ValueError, "max_lr", id="max-zero"),
    pytest.param(lambda: S.PolynomialDecayLR(0.1, 0, 4, 0.5), TypeError, "end_learning_rate", id="end-int"),
    pytest.param(lambda: S.PolynomialDecayLR(0.1, 0.01, 4, 0.0), ValueError, "power", id="power-zero"),
    pytest.param(
        lambda: S.PolynomialDecayLR(0.1, 0.01, 4, 0.5, "yes"),
        TypeError,
        "update_decay_steps",
        id="update-str",
    ),
    pytest.param(lambda: S.WarmUpLR(1, 2), TypeError, "learning_rate", id="warmup-lr-int"),
    pytest.param(lambda: S.WarmUpLR(0.1, 0), ValueError, "warmup_steps", id="warmup-steps-zero"),
    pytest.param(lambda: S.WarmUpLR(0.1, 2, emulate="tensorflow"), ValueError, "emulate", id="emulate"),
    pytest.param(lambda: S.WarmUpLR(0.1, 2)(1.0), TypeError, "global_step", id="step-float"),
    pytest.param(lambda: S.WarmUpLR(0.1, 2)(-1), ValueError, "global_step", id="step-negative"),
]


@pytest.mark.parametrize(("build", "error", "named"), SCHEDULE_ERRORS)
def test_schedule_argument_errors(build, error, named):
    with pytest.raises(error, match=named):
        build()


# --- list builders (mindspore.nn dynamic_lr) ------------------------------------------------------

LISTS = [
    pytest.param(
        S.piecewise_constant_lr([2, 5, 10], [0.1, 0.05, 0.01]),
        [0.1] * 2 + [0.05] * 3 + [0.01] * 5,
        id="piecewise",
    ),
    pytest.param(
        S.exponential_decay_lr(0.1, 0.9, 6, 2, 1), [0.1 * 0.9 ** (i // 2) for i in range(6)], id="exponential"
    ),
    pytest.param(
        S.exponential_decay_lr(0.1, 0.9, 8, 1, 3, True),
        [0.1 * 0.9 ** (i // 3) for i in range(8)],
        id="exponential-stair",
    ),
    pytest.param(
        S.natural_exp_decay_lr(0.1, 0.9, 6, 2, 2, True),
        [0.1 * math.e ** (-0.9 * ((i // 2) // 2 * 2)) for i in range(6)],
        id="natural-stair",
    ),
    pytest.param(
        S.inverse_decay_lr(0.1, 0.5, 6, 1, 2), [0.1 / (1 + 0.5 * i / 2) for i in range(6)], id="inverse"
    ),
    pytest.param(
        S.cosine_decay_lr(0.01, 0.1, 6, 2, 2),
        [0.01 + 0.045 * (1 + math.cos(math.pi * min(i // 2, 2) / 2)) for i in range(6)],
        id="cosine",
    ),
    pytest.param(
        S.polynomial_decay_lr(0.1, 0.01, 6, 2, 2, 0.5),
        [0.09 * (1 - min(i // 2, 2) / 2) ** 0.5 + 0.01 for i in range(6)],
        id="polynomial",
    ),
    pytest.param(
        S.polynomial_decay_lr(0.1, 0.01, 8, 1, 3, 1.0, True),
        [0.09 * (1 - i / (3 * max(math.ceil(i / 3), 1))) + 0.01 for i in range(8)],
        id="polynomial-update",
    ),
    pytest.param(S.warmup_lr(0.1, 6, 2, 2), [0.1 * min(i // 2, 2) / 2 for i in range(6)], id="warmup"),
]


@pytest.mark.parametrize(("got", "expected"), LISTS)
def test_list_builders(got, expected):
    assert isinstance(got, list) and len(got) == len(expected)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


LIST_ERRORS = [
    pytest.param(
        lambda: S.piecewise_constant_lr((2, 5), 0.1), TypeError, "learning_rates", id="pw-rates-type"
    ),
    pytest.param(lambda: S.piecewise_constant_lr(2, [0.1]), TypeError, "milestone", id="pw-milestone-type"),
    pytest.param(lambda: S.piecewise_constant_lr([2], [0.1, 0.2]), ValueError, "milestone", id="pw-length"),
    pytest.param(
        lambda: S.piecewise_constant_lr([5, 2], [0.1, 0.2]), ValueError, r"milestone\[1\]", id="pw-decreasing"
    ),
    pytest.param(lambda: S.piecewise_constant_lr([0], [0.1]), ValueError, r"milestone\[0\]", id="pw-zero"),
    pytest.param(
        lambda: S.piecewise_constant_lr([2], [1]), TypeError, r"learning_rates\[0\]", id="pw-int-rate"
    ),
    pytest.param(lambda: S.exponential_decay_lr(0.1, 0.9, 0, 1, 1), ValueError, "total_step", id="exp-total"),
    pytest.param(
        lambda: S.natural_exp_decay_lr(0.1, 0.9, 4, 1.0, 1), TypeError, "step_per_epoch", id="nat-spe"
    ),
    pytest.param(
        lambda: S.inverse_decay_lr(0.1, 0.9, 4, 1, -1), ValueError, "decay_epoch", id="inv-decay-epoch"
    ),
    pytest.param(lambda: S.inverse_decay_lr(0.1, 0.9, 4, 1, 1, None), TypeError, "is_stair", id="inv-stair"),
    pytest.param(lambda: S.cosine_decay_lr(0.1, 0.1, 4, 1, 1), ValueError, "max_lr", id="cos-equal"),
    pytest.param(
        lambda: S.polynomial_decay_lr(0.1, 0.01, 4, 1, 1, 2), TypeError, "power", id="poly-power-int"
    ),
    pytest.param(lambda: S.warmup_lr(0.1, 4, 1, 0), ValueError, "warmup_epoch", id="warmup-epoch"),
]


@pytest.mark.parametrize(("build", "error", "named"), LIST_ERRORS)
def test_list_builder_errors(build, error, named):
    with pytest.raises(error, match=named):
        build()


def test_piecewise_equal_milestones_allowed():
    assert S.piecewise_constant_lr([2, 2, 3], [0.1, 0.2, 0.3]) == [0.1, 0.1, 0.3]


def test_schedule_global_step_checked():
    with pytest.raises(TypeError, match="global_step"):
        S.WarmUpLR(0.1, 2)(1.5)
    with pytest.raises(ValueError, match="global_step"):
        S.WarmUpLR(0.1, 2)(-1)


# --- more bad arguments: NaN, inf, NumPy scalars ----------------------------------------------

SCHEDULE_CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("exp-lr-nan", lambda: S.ExponentialDecayLR(NAN, 0.9, 4), ValueError, "learning_rate"),
    ("exp-lr-inf", lambda: S.ExponentialDecayLR(INF, 0.9, 4), ValueError, "learning_rate"),
    ("exp-rate-nan", lambda: S.ExponentialDecayLR(0.1, NAN, 4), ValueError, "decay_rate"),
    ("exp-lr-np-float32", lambda: S.ExponentialDecayLR(np.float32(0.1), 0.9, 4), TypeError, "learning_rate"),
    ("exp-steps-np-float", lambda: S.ExponentialDecayLR(0.1, 0.9, 4.0), TypeError, "decay_steps"),
    ("exp-emulate-bad", lambda: S.ExponentialDecayLR(0.1, 0.9, 4, emulate="tf"), ValueError, "emulate"),
    ("nat-rate-inf", lambda: S.NaturalExpDecayLR(0.1, INF, 4), ValueError, "decay_rate"),
    ("nat-steps-negative", lambda: S.NaturalExpDecayLR(0.1, 0.9, -4), ValueError, "decay_steps"),
    ("inv-lr-minus-inf", lambda: S.InverseDecayLR(-INF, 0.9, 4), ValueError, "learning_rate"),
    ("inv-stair-str", lambda: S.InverseDecayLR(0.1, 0.9, 4, "True"), TypeError, "is_stair"),
    ("cos-min-nan", lambda: S.CosineDecayLR(NAN, 0.1, 4), ValueError, "min_lr"),
    ("cos-max-inf", lambda: S.CosineDecayLR(0.0, INF, 4), ValueError, "max_lr"),
    ("cos-steps-zero", lambda: S.CosineDecayLR(0.0, 0.1, 0), ValueError, "decay_steps"),
    ("cos-emulate-none-str", lambda: S.CosineDecayLR(0.0, 0.1, 4, emulate="None"), ValueError, "emulate"),
    ("poly-lr-nan", lambda: S.PolynomialDecayLR(NAN, 0.01, 4, 0.5), ValueError, "learning_rate"),
    ("poly-end-inf", lambda: S.PolynomialDecayLR(0.1, INF, 4, 0.5), ValueError, "end_learning_rate"),
    ("poly-power-nan", lambda: S.PolynomialDecayLR(0.1, 0.01, 4, NAN), ValueError, "power"),
    ("poly-steps-bool", lambda: S.PolynomialDecayLR(0.1, 0.01, True, 0.5), TypeError, "decay_steps"),
    ("warm-lr-nan", lambda: S.WarmUpLR(NAN, 2), ValueError, "learning_rate"),
    ("warm-lr-negative", lambda: S.WarmUpLR(-0.1, 2), ValueError, "learning_rate"),
    ("warm-steps-float", lambda: S.WarmUpLR(0.1, 2.0), TypeError, "warmup_steps"),
    ("call-step-bool", lambda: S.WarmUpLR(0.1, 2)(True), TypeError, "global_step"),
    ("call-step-str", lambda: S.CosineDecayLR(0.0, 0.1, 4)("1"), TypeError, "global_step"),
    ("call-step-np-negative", lambda: S.InverseDecayLR(0.1, 0.9, 4)(np.int64(-1)), ValueError, "global_step"),
    (
        "pw-rate-nan-type",
        lambda: S.piecewise_constant_lr([1], [np.float32(0.1)]),
        TypeError,
        "learning_rates",
    ),
    ("pw-milestone-float", lambda: S.piecewise_constant_lr([1.0], [0.1]), TypeError, "milestone"),
    ("exp-list-rate-nan", lambda: S.exponential_decay_lr(0.1, NAN, 4, 1, 1), ValueError, "decay_rate"),
    ("nat-list-lr-inf", lambda: S.natural_exp_decay_lr(INF, 0.9, 4, 1, 1), ValueError, "learning_rate"),
    ("inv-list-total-bool", lambda: S.inverse_decay_lr(0.1, 0.9, True, 1, 1), TypeError, "total_step"),
    ("cos-list-min-nan", lambda: S.cosine_decay_lr(NAN, 0.1, 4, 1, 1), ValueError, "min_lr"),
    ("cos-list-spe-zero", lambda: S.cosine_decay_lr(0.0, 0.1, 4, 0, 1), ValueError, "step_per_epoch"),
    ("poly-list-power-inf", lambda: S.polynomial_decay_lr(0.1, 0.01, 4, 1, 1, INF), ValueError, "power"),
    (
        "poly-list-update-int",
        lambda: S.polynomial_decay_lr(0.1, 0.01, 4, 1, 1, 1.0, 1),
        TypeError,
        "update_decay_epoch",
    ),
    ("warm-list-lr-inf", lambda: S.warmup_lr(INF, 4, 1, 1), ValueError, "learning_rate"),
]


@pytest.mark.parametrize(
    ("build", "exc", "word"), [c[1:] for c in SCHEDULE_CASES], ids=[c[0] for c in SCHEDULE_CASES]
)
def test_schedule_bad_input(build: Callable[[], Any], exc: type[Exception], word: str) -> None:
    with pytest.raises(exc) as info:
        build()
    assert word in str(info.value), str(info.value)


def test_schedules_give_finite_rates_at_huge_steps() -> None:
    """No schedule built from valid arguments returns NaN or a negative rate, whatever the step."""
    built = [
        S.ExponentialDecayLR(0.1, 0.9, 4),
        S.NaturalExpDecayLR(0.1, 0.9, 4, True),
        S.InverseDecayLR(0.1, 0.9, 4),
        S.CosineDecayLR(0.0, 0.1, 4),
        S.PolynomialDecayLR(0.1, 0.01, 4, 0.5, True),
        S.WarmUpLR(0.1, 4),
    ]
    for schedule in built:
        for emulate in (None, "mindspore"):
            schedule.emulate = emulate
            for step in (0, 1, 2**31 - 1, 2**53, 10**30):
                rate = schedule(step)
                assert math.isfinite(rate) and rate >= 0, (type(schedule).__name__, emulate, step, rate)
