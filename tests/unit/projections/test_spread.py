"""How `bytedash up --split-projector` spreads the read models over its projector processes."""

from __future__ import annotations

import pytest

from projections import default_projections, spread
from projections.registry import CATCHUP_COST

NAMES = [p.name for p in default_projections()]


def test_two_cores_get_two_processes_with_the_two_costliest_read_models_apart() -> None:
    groups = spread(NAMES, 2)
    assert len(groups) == 2
    assert sorted(n for g in groups for n in g) == sorted(NAMES)
    # executions and execution_stats read the same events and cost the most: never together.
    assert not any({"executions", "execution_stats"} <= set(g) for g in groups)
    costs = sorted(sum(CATCHUP_COST[n] for n in g) for g in groups)
    assert costs[1] - costs[0] <= max(CATCHUP_COST.values()) / 2


def test_as_many_cores_as_read_models_give_one_process_each_and_more_cores_change_nothing() -> None:
    assert sorted(spread(NAMES, len(NAMES))) == sorted([n] for n in NAMES)
    assert sorted(spread(NAMES, 64)) == sorted([n] for n in NAMES)


def test_one_core_runs_them_all_in_one_process_in_their_order() -> None:
    assert spread(NAMES, 1) == [NAMES]


def test_a_read_model_without_a_measured_cost_is_spread_too() -> None:
    groups = spread([*NAMES, "a_new_read_model"], 3)
    assert sorted(n for g in groups for n in g) == sorted([*NAMES, "a_new_read_model"])
    for group in groups:
        assert group == [n for n in [*NAMES, "a_new_read_model"] if n in group]


def test_no_processes_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        spread(NAMES, 0)
