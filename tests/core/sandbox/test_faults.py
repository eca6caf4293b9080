"""FaultPlan: which scripted fault fires on a submit, a poll or a new run."""

from __future__ import annotations

from typing import Any

import pytest

from aixplain_agents.sandbox._faults import FaultPlan, query_text, remove_path, set_path
from aixplain_agents.sandbox._scenario import FaultSpec


def _plan(*faults: dict[str, Any], seed: int = 0) -> FaultPlan:
    return FaultPlan(seed, "agent", [FaultSpec.model_validate(f) for f in faults])


def _fires(plan: FaultPlan, phase: str, events: range, query: Any = "q") -> list[int]:
    return [n for n in events if plan.draw(phase, n, query) is not None]


def test_draw_without_conditions_fires_always() -> None:
    plan = _plan({"kind": "http_status", "on": "submit", "status": 500})

    assert _fires(plan, "submit", range(1, 6)) == [1, 2, 3, 4, 5]


def test_draw_times_limits_firings() -> None:
    plan = _plan({"kind": "http_status", "on": "submit", "status": 503, "times": 2})

    assert _fires(plan, "submit", range(1, 6)) == [1, 2]


def test_draw_at_follows_schedule() -> None:
    plan = _plan({"kind": "malformed_json", "on": "poll", "at": [2, 4]})

    assert _fires(plan, "poll", range(1, 6)) == [2, 4]


def test_draw_ignores_other_phase() -> None:
    plan = _plan({"kind": "http_status", "on": "poll", "status": 500})

    assert plan.draw("submit", 1, "q") is None
    assert plan.draw("run", 1, "q") is None


def test_draw_outcome_fault_on_run_phase() -> None:
    plan = _plan({"kind": "terminal", "status": "ERROR"})

    assert plan.draw("run", 1, "q") == 0


@pytest.mark.parametrize(
    ("query", "fires"),
    [
        ({"input": "The database is down"}, True),
        ({"input": "Disk full", "service": "database"}, True),
        ({"input": "Disk full"}, False),
        ("database as a plain string", True),
    ],
)
def test_draw_query_matches(query: Any, fires: bool) -> None:
    plan = _plan({"kind": "terminal", "status": "FAILED", "query_matches": "database"})

    assert (plan.draw("run", 1, query) is not None) is fires


def test_draw_probability_repeats_with_seed() -> None:
    fault = {"kind": "http_status", "on": "submit", "status": 429, "probability": 0.3}

    first = _fires(_plan(fault, seed=11), "submit", range(1, 201))
    second = _fires(_plan(fault, seed=11), "submit", range(1, 201))
    other_seed = _fires(_plan(fault, seed=12), "submit", range(1, 201))

    assert first == second
    assert first != other_seed
    assert 30 <= len(first) <= 90


def test_draw_first_matching_fault_wins() -> None:
    plan = _plan(
        {"kind": "http_status", "on": "submit", "status": 429, "at": [1]},
        {"kind": "http_status", "on": "submit", "status": 500},
    )

    assert plan.draw("submit", 1, "q") == 0
    assert plan.draw("submit", 2, "q") == 1


def test_query_text_includes_variables() -> None:
    text = query_text({"input": "hi", "persona": "pirate"})

    assert text.startswith("hi\n")
    assert '"persona": "pirate"' in text


def test_remove_path_nested_and_missing() -> None:
    body = {"completed": False, "data": {"steps": [], "output": "x"}}

    remove_path(body, "data.output")
    remove_path(body, "data.absent.deeper")
    remove_path(body, "completed")

    assert body == {"data": {"steps": []}}


def test_set_path_creates_parents() -> None:
    body: dict[str, Any] = {"completed": True}

    set_path(body, "completed", "false")
    set_path(body, "data.executionStats.credits", "lots")

    assert body == {
        "completed": "false",
        "data": {"executionStats": {"credits": "lots"}},
    }
