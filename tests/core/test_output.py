"""Structured output: parsing and checking against expected_output."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel

from aixplain_agents._output import (
    find_type_problem,
    output_sample,
    parse_json_output,
    validate_model,
)

TRIAGE = {
    "summary": "string",
    "risk": "low|medium|high",
    "recommendedActions": ["string"],
}


def test_parse_json_output_accepts_code_fence() -> None:
    assert parse_json_output('```json\n{"a": 1}\n```') == {"a": 1}


def test_parse_json_output_passes_objects_through() -> None:
    assert parse_json_output({"a": 1}) == {"a": 1}


def test_parse_json_output_rejects_text() -> None:
    with pytest.raises(ValueError, match="output is not valid JSON"):
        parse_json_output("The risk is high.")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"summary": "s", "risk": "low", "recommendedActions": ["a"]}, None),
        ({"summary": "s", "risk": "low", "recommendedActions": [], "extra": 1}, None),
        ({"risk": "low", "recommendedActions": []}, "output.summary: field is missing"),
        (
            {"summary": 3, "risk": "low", "recommendedActions": []},
            "output.summary: expected string, got int",
        ),
        (
            {"summary": "s", "risk": "severe", "recommendedActions": []},
            "output.risk: expected one of",
        ),
        (
            {"summary": "s", "risk": "low", "recommendedActions": "a"},
            "expected a list, got string",
        ),
        (
            {"summary": "s", "risk": "low", "recommendedActions": [1]},
            "output.recommendedActions[0]: expected string",
        ),
        (["not", "an", "object"], "output: expected an object, got list"),
    ],
)
def test_find_type_problem_triage_table(value: Any, problem: str | None) -> None:
    found = find_type_problem(value, TRIAGE)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@pytest.mark.parametrize(
    ("value", "spec", "ok"),
    [
        (1, "integer", True),
        (1.5, "integer", False),
        (True, "integer", False),
        (True, "boolean", True),
        (2.5, "number", True),
        (None, "string", False),
        ({"x": 1}, "object", True),
        ("anything", "A free text description", True),
        ({"nested": {"n": 1}}, {"nested": {"n": "number"}}, True),
    ],
)
def test_find_type_problem_scalar_table(value: Any, spec: Any, ok: bool) -> None:
    assert (find_type_problem(value, spec) is None) is ok


class Triage(BaseModel):
    summary: str
    risk: Literal["low", "medium", "high"]


def test_validate_model_returns_instance() -> None:
    model, problem = validate_model({"summary": "s", "risk": "high"}, Triage)
    assert problem is None
    assert isinstance(model, Triage)


def test_validate_model_names_first_problem() -> None:
    model, problem = validate_model({"summary": "s", "risk": "severe"}, Triage)
    assert model is None
    assert problem is not None
    assert problem.startswith("output.risk:")


def test_output_sample_truncates_long_text() -> None:
    sample = output_sample("x" * 1000)
    assert sample.endswith("(1000 characters)")
    assert len(sample) < 260
