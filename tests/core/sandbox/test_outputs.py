"""Output generation: templates, JSON fitted to expectedOutput, broken outputs."""

from __future__ import annotations

import json
from typing import Literal

import pydantic

from aixplain_agents.sandbox._outputs import (
    generate_json,
    huge_text,
    parse_expected_output,
    render_template,
    violate_schema,
)

TRIAGE_SKETCH = {
    "summary": "string",
    "risk": "low|medium|high",
    "recommendedActions": ["string"],
}


class _Action(pydantic.BaseModel):
    title: str
    priority: int


class _Triage(pydantic.BaseModel):
    summary: str
    risk: Literal["low", "medium", "high"]
    score: float
    escalate: bool
    actions: list[_Action]
    owner: str | None = None


def test_render_template_query_and_variables() -> None:
    text = render_template(
        "{query} / {variables[persona]} / {variables[absent]} / {agent_id}",
        {"input": "hi", "persona": "pirate"},
        agent_id="echo",
        request_id="r",
        session_id="s",
    )

    assert text == "hi / pirate /  / echo"


def test_generate_json_sketch_fits_types() -> None:
    value = generate_json(TRIAGE_SKETCH, "Checkout latency spike")

    assert set(value) == set(TRIAGE_SKETCH)
    assert isinstance(value["summary"], str)
    assert value["risk"] in ("low", "medium", "high")
    assert isinstance(value["recommendedActions"], list)
    assert 1 <= len(value["recommendedActions"]) <= 3
    assert all(isinstance(item, str) for item in value["recommendedActions"])


def test_generate_json_deterministic_per_query() -> None:
    first = generate_json(TRIAGE_SKETCH, "query A")
    again = generate_json(TRIAGE_SKETCH, "query A")

    assert first == again
    assert "query A" in first["summary"]


def test_generate_json_enum_varies_with_query() -> None:
    risks = {generate_json(TRIAGE_SKETCH, f"incident {i}")["risk"] for i in range(30)}

    assert risks == {"low", "medium", "high"}


def test_generate_json_sketch_scalars() -> None:
    value = generate_json(
        {"n": "integer", "x": "number", "ok": "boolean", "nested": {"a": "string"}},
        "q",
    )

    assert isinstance(value["n"], int)
    assert isinstance(value["x"], float)
    assert isinstance(value["ok"], bool)
    assert isinstance(value["nested"]["a"], str)


def test_generate_json_pydantic_schema_validates() -> None:
    schema = _Triage.model_json_schema()

    value = generate_json(schema, "Payment errors after deploy")

    assert _Triage.model_validate(value).summary


def test_parse_expected_output_json_string() -> None:
    assert parse_expected_output(json.dumps(TRIAGE_SKETCH)) == TRIAGE_SKETCH
    assert parse_expected_output(None) is None
    assert parse_expected_output("A short summary") == {"output": "string"}


def test_violate_schema_breaks_pydantic_model() -> None:
    value = generate_json(_Triage.model_json_schema(), "q")

    broken = violate_schema(value)

    try:
        _Triage.model_validate(broken)
    except pydantic.ValidationError:
        pass
    else:
        raise AssertionError(f"{broken!r} still fits the schema")


def test_huge_text_exact_size() -> None:
    text = huge_text(100_000, "q")

    assert len(text.encode()) == 100_000
