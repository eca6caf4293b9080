"""The API key never reaches run logs sent to the API, artifacts or results."""

from __future__ import annotations

import json

from prefect import flow, get_run_logger
from prefect.artifacts import Artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogHandler

from aixplain_agents import AgentRunResult
from aixplain_agents.sandbox import Sandbox
from prefect_aixplain import AixplainCredentials, run_agent

from .conftest import SECRET_KEY


def read_log_messages(flow_run_id: object) -> list[str]:
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    return [log.message for log in logs]


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
