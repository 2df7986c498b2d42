"""Step and minute budgets of the supernet and DARTS loops."""

from __future__ import annotations

import pytest

from speechnas.train.budget import StepBudget


def test_whichever_runs_out_first() -> None:
    both = StepBudget(max_steps=10, max_minutes=1.0)
    assert not both.spent(9, 59.0)
    assert both.spent(10, 0.0) and both.spent(0, 60.0)
    minutes = StepBudget(max_minutes=0.5)
    assert minutes.total_steps > 10**6 and not minutes.spent(10**5, 29.0)
    assert StepBudget(max_steps=3).total_steps == 3


@pytest.mark.parametrize(
    ("steps", "minutes", "match"),
    [
        (None, None, "max_steps or max_minutes"),
        (0, None, "max_steps=0"),
        (None, 0.0, "max_minutes"),
    ],
)
def test_bad_budgets_name_the_field(steps: int | None, minutes: float | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        StepBudget(steps, minutes)
