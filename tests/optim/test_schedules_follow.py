"""A schedule built without ``emulate`` follows the optimizer; an explicit conflicting one is refused."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from proxadagrad_ref import Parameter, ProximalAdagrad
from proxadagrad_ref import schedules as S

# ExponentialDecayLR(0.1, 0.9, 4)(2) as MindSpore 2.10 computes it in float32 (recorded; its docstring
# prints 0.09486833), and the float64 formula:
MINDSPORE_STEP2 = 0.09486832469701767
FLOAT64_STEP2 = 0.1 * 0.9 ** (2 / 4)

BUILDERS = [
    pytest.param(lambda **e: S.ExponentialDecayLR(0.1, 0.9, 4, **e), id="exponential"),
    pytest.param(lambda **e: S.NaturalExpDecayLR(0.1, 0.9, 4, **e), id="natural-exp"),
    pytest.param(lambda **e: S.InverseDecayLR(0.1, 0.9, 4, **e), id="inverse"),
    pytest.param(lambda **e: S.CosineDecayLR(0.01, 0.1, 4, **e), id="cosine"),
    pytest.param(lambda **e: S.PolynomialDecayLR(0.1, 0.01, 4, 0.5, **e), id="polynomial"),
    pytest.param(lambda **e: S.WarmUpLR(0.1, 3, **e), id="warmup"),
]


def _rates(opt: ProximalAdagrad, steps: int) -> list[float]:
    grads = (np.full(3, 0.5, opt.parameters[0].data.dtype),)
    out = []
    for _ in range(steps):
        out.append(float(opt.current_lr()[0]))
        opt(grads)
    return out


def test_mindspore_port_runs_unchanged_and_gets_mindspores_rate() -> None:
    """nn.ProximalAdagrad(params, learning_rate=nn.ExponentialDecayLR(0.1, 0.9, 4)) ported as written."""
    p = Parameter(np.ones(3, np.float32), "w")
    opt = ProximalAdagrad([p], learning_rate=S.ExponentialDecayLR(0.1, 0.9, 4), emulate="mindspore")
    assert _rates(opt, 3)[2] == MINDSPORE_STEP2


@pytest.mark.parametrize("build", BUILDERS)
def test_schedule_without_emulate_is_evaluated_under_the_optimizers(build) -> None:
    schedule = build()
    explicit = build(emulate="mindspore")
    p = Parameter(np.ones(3, np.float32), "w")
    q = Parameter(np.ones(3, np.float32), "w")
    follows = ProximalAdagrad([p], learning_rate=schedule, emulate="mindspore")
    given = ProximalAdagrad([q], learning_rate=explicit, emulate="mindspore")
    assert _rates(follows, 5) == _rates(given, 5)
    assert p.data.tobytes() == q.data.tobytes()
    # the user's schedule is not changed: on its own (and for an exact optimizer) it stays float64
    assert schedule.emulate is None and schedule.follows_optimizer
    assert [schedule(t) for t in range(5)] == [build(emulate=None)(t) for t in range(5)]


def test_exact_optimizer_keeps_the_float64_schedule() -> None:
    p = Parameter(np.ones(3, np.float64), "w")
    opt = ProximalAdagrad([p], learning_rate=S.ExponentialDecayLR(0.1, 0.9, 4))
    assert _rates(opt, 3)[2] == pytest.approx(FLOAT64_STEP2, rel=1e-15)


@pytest.mark.parametrize(
    ("schedule_emulate", "optimizer_emulate"), [(None, "mindspore"), ("mindspore", None)]
)
def test_explicitly_conflicting_schedule_is_still_refused(schedule_emulate, optimizer_emulate) -> None:
    schedule = S.WarmUpLR(0.1, 3, emulate=schedule_emulate)
    assert not schedule.follows_optimizer
    param = Parameter(np.ones(2, np.float32), "w")
    with pytest.raises(ValueError, match=r"learning_rate.*emulate"):
        ProximalAdagrad([param], learning_rate=schedule, emulate=optimizer_emulate)


def test_grouped_lr_schedule_follows_too() -> None:
    p, q = Parameter(np.ones(2, np.float32), "a"), Parameter(np.ones(2, np.float32), "b")
    groups = [{"params": [p], "lr": S.ExponentialDecayLR(0.1, 0.9, 4)}, {"params": [q]}]
    opt = ProximalAdagrad(groups, learning_rate=0.1, emulate="mindspore")
    grads = (np.full(2, 0.5, np.float32), np.full(2, 0.5, np.float32))
    opt(grads)
    opt(grads)
    assert float(opt.current_lr()[0]) == MINDSPORE_STEP2


def test_under_returns_a_copy_and_the_sentinel_survives_copies() -> None:
    schedule = S.CosineDecayLR(0.01, 0.1, 4)
    twin = schedule.under("mindspore")
    assert twin is not schedule and twin.emulate == "mindspore" and schedule.emulate is None
    assert twin(2) == float(np.float32(twin(2))) and schedule(2) != twin(2)
    assert copy.deepcopy(S.FOLLOW_OPTIMIZER) is S.FOLLOW_OPTIMIZER
    assert pickle.loads(pickle.dumps(S.FOLLOW_OPTIMIZER)) is S.FOLLOW_OPTIMIZER
    with pytest.raises(ValueError, match="emulate"):
        schedule.under("tensorflow")


def test_a_user_subclass_follows_the_optimizer() -> None:
    class Halving(S.LearningRateSchedule):
        def rate(self, step: int) -> float:
            return self._round()(0.1 / 3 * 0.5**step)

    p = Parameter(np.ones(2, np.float32), "w")
    opt = ProximalAdagrad([p], learning_rate=Halving(), emulate="mindspore")
    assert float(opt.current_lr()[0]) == float(np.float32(0.1 / 3))
