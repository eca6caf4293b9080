"""Scenario validation: valid files load, invalid ones name the field and problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aixplain_agents.sandbox import (
    Scenario,
    ScenarioError,
    default_scenario,
    load_scenario,
    parse_scenario,
)
from aixplain_agents.sandbox._default import TRIAGE_PRIMARY_FAILURE_REGEX


def _agent(**fields: Any) -> dict[str, Any]:
    return {"agents": {"triage-primary": fields}}


INVALID_CASES = [
    pytest.param(
        _agent(duration=-1),
        "agents.triage-primary.duration: Input should be greater than or equal to 0",
        id="negative-duration",
    ),
    pytest.param(
        _agent(duration={"distribution": "uniform", "low": 2, "high": 1}),
        "agents.triage-primary.duration: high (1.0) must be >= low (2.0)",
        id="uniform-high-below-low",
    ),
    pytest.param(
        _agent(duration={"distribution": "poisson"}),
        "agents.triage-primary.duration: must be a number of seconds or a mapping",
        id="unknown-distribution",
    ),
    pytest.param(
        _agent(steps=-2),
        "agents.triage-primary.steps: Input should be greater than or equal to 0",
        id="negative-steps",
    ),
    pytest.param(
        _agent(output={"kind": "template", "template": "{incident}"}),
        "agents.triage-primary.output: template: unknown field {incident}",
        id="template-unknown-field",
    ),
    pytest.param(
        _agent(output={"kind": "yaml"}),
        "agents.triage-primary.output: Input tag 'yaml'",
        id="unknown-output-kind",
    ),
    pytest.param(
        _agent(faults=[{"kind": "http_status", "on": "submit", "status": 418}]),
        "agents.triage-primary.faults.0: status must be one of 400, 401",
        id="fault-status-not-allowed",
    ),
    pytest.param(
        _agent(faults=[{"kind": "terminal", "status": "FAILED", "on": "poll"}]),
        "agents.triage-primary.faults.0: kind 'terminal' decides how a run ends",
        id="outcome-fault-on-poll",
    ),
    pytest.param(
        _agent(faults=[{"kind": "http_status", "status": 500}]),
        "agents.triage-primary.faults.0: kind 'http_status' needs on: submit",
        id="transport-fault-without-on",
    ),
    pytest.param(
        _agent(faults=[{"kind": "terminal", "status": "DONE"}]),
        "status must be FAILED, ERROR or ABORTED, got 'DONE'",
        id="terminal-status-unknown",
    ),
    pytest.param(
        _agent(faults=[{"kind": "connection_reset", "on": "poll", "probability": 2}]),
        "agents.triage-primary.faults.0.probability: Input should be less than",
        id="probability-above-one",
    ),
    pytest.param(
        _agent(faults=[{"kind": "withhold", "on": "poll", "query_matches": "("}]),
        "query_matches: invalid regex",
        id="bad-regex",
    ),
    pytest.param(
        _agent(faults=[{"kind": "huge_output"}]),
        "kind 'huge_output' needs size_bytes",
        id="huge-output-without-size",
    ),
    pytest.param(
        _agent(faults=[{"kind": "missing_fields", "on": "poll"}]),
        "kind 'missing_fields' needs a non-empty fields list",
        id="missing-fields-empty",
    ),
    pytest.param(
        _agent(faults=[{"kind": "foreign_poll_url", "on": "poll", "url": "x"}]),
        "kind 'foreign_poll_url' only applies with on: submit",
        id="foreign-url-on-poll",
    ),
    pytest.param(
        _agent(colour="red"),
        "agents.triage-primary.colour: Extra inputs are not permitted",
        id="unknown-agent-field",
    ),
    pytest.param({"agent": {}}, "bad.yaml: agents: Field required", id="no-agents"),
    pytest.param(
        {"agents": {"a/b": {}}}, "agents: invalid agent id 'a/b'", id="slash-agent-id"
    ),
    pytest.param({"agents": {"..": {}}}, "invalid agent id '..'", id="dots-agent-id"),
    pytest.param(
        _agent(duration=float("inf")),
        "agents.triage-primary.duration: Input should be a finite number",
        id="infinite-duration",
    ),
    pytest.param(
        _agent(duration=float("nan")),
        "agents.triage-primary.duration: Input should be a finite number",
        id="nan-duration",
    ),
    pytest.param(
        {"api_keys": ["ok", ""], **_agent()},
        "api_keys: api_keys[1] is empty or contains whitespace",
        id="empty-api-key",
    ),
    pytest.param(
        {"api_keys": ["ok\n"], **_agent()},
        "api_keys[0] is empty or contains whitespace",
        id="newline-api-key",
    ),
]


@pytest.mark.parametrize(("data", "expected"), INVALID_CASES)
def test_parse_scenario_invalid_names_field(
    data: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data, source="bad.yaml")

    assert expected in str(caught.value)
    assert str(caught.value).startswith("bad.yaml: ")


def test_scenario_error_is_value_error() -> None:
    assert issubclass(ScenarioError, ValueError)


def test_load_scenario_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "agents:\n"
        "  echo:\n"
        "    duration: {distribution: normal, mean: 0.2, stddev: 0.05}\n"
        "    output: {kind: text, text: hi}\n",
        encoding="utf-8",
    )

    scenario = load_scenario(path)

    assert isinstance(scenario, Scenario)
    assert list(scenario.agents) == ["echo"]


def test_load_scenario_json_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text(json.dumps({"agents": {"echo": {}}}), encoding="utf-8")

    assert list(load_scenario(path).agents) == ["echo"]


def test_load_scenario_invalid_field_names_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("agents:\n  triage-primary:\n    duration: -1\n", encoding="utf-8")

    with pytest.raises(ScenarioError, match=r"^bad\.yaml: agents\.triage-primary"):
        load_scenario(path)


def test_load_scenario_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("agents: [unclosed\n", encoding="utf-8")

    with pytest.raises(ScenarioError, match=r"^broken\.yaml: invalid YAML"):
        load_scenario(path)


def test_load_scenario_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")

    with pytest.raises(ScenarioError, match="the document must be a mapping, got list"):
        load_scenario(path)


def test_load_scenario_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read the file"):
        load_scenario(tmp_path / "absent.yaml")


def test_scenario_repr_hides_api_keys() -> None:
    scenario = parse_scenario({"api_keys": ["secret-123"], "agents": {"a": {}}})

    assert "secret-123" not in repr(scenario)
    assert "secret-123" not in str(scenario)


def test_default_scenario_agents() -> None:
    scenario = default_scenario()

    assert set(scenario.agents) == {
        "triage-primary",
        "triage-secondary",
        "root-cause",
        "status-page",
        "echo",
    }
    assert scenario.agents["triage-primary"].faults[0].query_matches == (
        TRIAGE_PRIMARY_FAILURE_REGEX
    )


def test_default_scenario_durations_short() -> None:
    for agent_id, agent in default_scenario().agents.items():
        duration = agent.duration
        high = getattr(duration, "high", getattr(duration, "max", duration))
        assert isinstance(high, float), agent_id
        assert high <= 1.5, agent_id


def test_docs_example_scenario_valid(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[3] / "docs" / "sandbox.md"
    text = docs.read_text(encoding="utf-8")
    path = tmp_path / "example.yaml"
    path.write_text(text.split("```yaml\n", 1)[1].split("```", 1)[0], "utf-8")

    scenario = load_scenario(path)

    assert set(scenario.agents) == {"triage-primary", "status-page"}
    assert len(scenario.agents["triage-primary"].faults) == 4


def test_load_scenario_yaml_on_key_stays_string(tmp_path: Path) -> None:
    path = tmp_path / "on.yaml"
    path.write_text(
        "agents:\n  a:\n    faults:\n"
        "      - {kind: http_status, on: poll, status: 500}\n"
        "      - {kind: withhold, on: submit, seconds: 1}\n",
        encoding="utf-8",
    )

    faults = load_scenario(path).agents["a"].faults

    assert [fault.phase for fault in faults] == ["poll", "submit"]


def test_scenario_errors_bounded_for_alias_bomb(tmp_path: Path) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 7):
        previous = chr(ord("a") + level - 1)
        current = chr(ord("a") + level)
        lines.append(f"{current}: &{current} [{', '.join(['*' + previous] * 9)}]")
    lines.append("agents: *g")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")

    with pytest.raises(ScenarioError) as caught:
        load_scenario(bomb)

    assert len(str(caught.value)) < 2000
