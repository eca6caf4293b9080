"""Run logs read back from the API: progress lines, and the API key kept out.

The key never reaches run logs sent to the API, artifacts or results.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

import pytest
from prefect import flow, get_run_logger
from prefect.artifacts import Artifact
from prefect.client.schemas.objects import Log

from aixplain_agents import AgentRunResult
from aixplain_agents.sandbox import Sandbox
from prefect_aixplain import AixplainCredentials, run_agent

from .conftest import SECRET_KEY, read_logs, scenario

# A new step every 0.5 s for 2 s, so the polls at about 0.5 s and 1.25 s after the
# submit see steps appear.
STEPPER = {
    "output_format": "text",
    "duration": 2.0,
    "steps": 4,
    "output": {"kind": "template", "template": "{query}"},
    "credits": 0.0,
}
STEP_LINE = re.compile(r"request_id=\S+ step (\d+): ")
POLL_LINE = re.compile(r"request_id=\S+ (status=IN_PROGRESS|step \d+:)")
POLL_COUNT = re.compile(r"run finished .* polls=(\d+)")


def read_log_messages(flow_run_id: object) -> list[str]:
    return [log.message for log in read_logs(flow_run_id)]


def polls_of(messages: list[str]) -> int:
    """Return the poll count from the core's "run finished" line."""
    counts = [int(m.group(1)) for m in map(POLL_COUNT.search, messages) if m]
    assert len(counts) == 1, f"expected one 'run finished' line in {messages}"
    return counts[0]


@pytest.fixture
def stepper_credentials_name(
    aixplain_sandbox_factory: Callable[..., Sandbox],
    save_credentials: Callable[[Sandbox], str],
) -> str:
    """The name of a saved block for a sandbox with the 4-step ``stepper`` agent."""
    return save_credentials(aixplain_sandbox_factory(scenario(stepper=STEPPER)))


def run_stepper(credentials_name: str, progress: str) -> list[Log]:
    @flow
    def stepped() -> AgentRunResult:
        return run_agent(credentials_name, "stepper", "go", progress=progress)

    state = stepped(return_state=True)
    assert state.is_completed(), state.message
    return read_logs(state.state_details.flow_run_id)


def test_run_logs_redact_api_key(credentials_name: str) -> None:
    @flow(log_prints=True)
    def leaky() -> AgentRunResult:
        block = AixplainCredentials.load(credentials_name)
        key = block.api_key.get_secret_value()
        get_run_logger().info("flow logs the key %s", key)
        print(f"flow prints the key {key}")
        return run_agent(credentials_name, "echo", "hi", progress="status")

    state = leaky(return_state=True)
    messages = read_log_messages(state.state_details.flow_run_id)

    assert any("flow logs the key" in message for message in messages)
    assert any("flow prints the key" in message for message in messages)
    assert not [message for message in messages if SECRET_KEY in message]


def test_core_lines_reach_run_log(credentials_name: str) -> None:
    @flow
    def hello() -> AgentRunResult:
        return run_agent(credentials_name, "echo", "hi")

    state = hello(return_state=True)
    messages = read_log_messages(state.state_details.flow_run_id)

    assert any("submitted run agent=echo" in message for message in messages)
    assert not any("status=IN_PROGRESS" in message for message in messages)


def test_progress_status_logs_state_changes(credentials_name: str) -> None:
    @flow
    def hello() -> AgentRunResult:
        return run_agent(credentials_name, "root-cause", "why", progress="status")

    state = hello(return_state=True)
    messages = read_log_messages(state.state_details.flow_run_id)

    assert any("status=IN_PROGRESS" in message for message in messages)


def test_artifact_and_result_exclude_api_key(
    sandbox: Sandbox, credentials_name: str
) -> None:
    @flow
    def hello() -> AgentRunResult:
        return run_agent(credentials_name, "echo", "hi", artifact_key="secret-check")

    result = hello()
    artifact = Artifact.get("secret-check")
    link = Artifact.get("secret-check-link")

    assert artifact is not None
    assert link is not None
    assert SECRET_KEY not in str(artifact.data)
    assert SECRET_KEY not in str(link.data)
    assert SECRET_KEY not in result.model_dump_json()
    assert SECRET_KEY not in json.dumps(result.metadata())


def test_block_repr_masks_api_key(sandbox: Sandbox) -> None:
    block = AixplainCredentials(api_key=SECRET_KEY, base_url=sandbox.base_url)

    assert SECRET_KEY not in repr(block)
    assert SECRET_KEY not in block.model_dump_json()
    assert SECRET_KEY not in repr(block.get_client())


def test_progress_logs_one_line_per_step(stepper_credentials_name: str) -> None:
    messages = [log.message for log in run_stepper(stepper_credentials_name, "logs")]
    steps = [int(m.group(1)) for m in map(STEP_LINE.search, messages) if m]

    assert polls_of(messages) >= 2
    assert steps, "no step line reached the run log"
    assert steps == list(range(1, len(steps) + 1))
    assert not any("status=IN_PROGRESS" in message for message in messages)


def test_progress_logs_include_final_steps(stepper_credentials_name: str) -> None:
    messages = [log.message for log in run_stepper(stepper_credentials_name, "logs")]
    steps = [int(m.group(1)) for m in map(STEP_LINE.search, messages) if m]

    assert steps == [1, 2, 3, 4]


def test_progress_off_omits_poll_lines(stepper_credentials_name: str) -> None:
    logs = run_stepper(stepper_credentials_name, "off")
    messages = [log.message for log in logs]
    poll_lines = [
        log.message
        for log in logs
        if log.level >= logging.INFO and POLL_LINE.search(log.message)
    ]

    assert polls_of(messages) >= 2
    assert poll_lines == []
