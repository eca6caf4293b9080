"""The agent tasks against a real sandbox over HTTP, under a temporary Prefect API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from prefect import flow
from prefect.artifacts import Artifact
from prefect.client.schemas.objects import TaskRun
from prefect.states import Failed

from aixplain_agents import (
    AgentRunResult,
    AmbiguousSubmitError,
    AuthenticationError,
    ClientRequestError,
    ConfigurationError,
    RunFailedError,
    RunTimeoutError,
    TransportError,
)
from aixplain_agents.sandbox import Sandbox
from prefect_aixplain import (
    AixplainCredentials,
    ConcurrencyLimitNotFoundError,
    retry_condition_fn,
    run_agent,
    submit_agent_run,
    wait_for_agent_run,
)

DATABASE_INCIDENT = "The primary database is down"


def unique_key(stage: str) -> str:
    return f"{stage}-{uuid.uuid4().hex[:8]}"


def read_row(key: str) -> dict[str, Any]:
    artifact = Artifact.get(key)
    assert artifact is not None, f"no artifact with key {key!r}"
    rows = json.loads(str(artifact.data))
    assert len(rows) == 1
    return dict(rows[0])


def submissions(sandbox: Sandbox, agent_id: str) -> int:
    agents = sandbox.stats()["agents"]
    return int(agents.get(agent_id, {}).get("runs_accepted", 0))


def test_run_agent_sync_flow_returns_result(credentials_name: str) -> None:
    @flow
    def hello() -> AgentRunResult:
        return run_agent(credentials_name, "echo", "hello")

    result = hello()

    assert result.status == "SUCCESS"
    assert result.agent_id == "echo"
    assert result.request_id.startswith("echo__")
    assert result.output == "hello"


@pytest.mark.anyio
async def test_run_agent_async_flow_returns_result(credentials_name: str) -> None:
    @flow
    async def hello() -> AgentRunResult:
        return await run_agent(credentials_name, "echo", "hello")

    result = await hello()

    assert result.status == "SUCCESS"
    assert result.output == "hello"


def test_run_agent_accepts_block_object(sandbox: Sandbox) -> None:
    block = AixplainCredentials(api_key=sandbox.api_key, base_url=sandbox.base_url)

    @flow
    def hello() -> AgentRunResult:
        return run_agent(block, "echo", "hello")

    assert hello().status == "SUCCESS"


def test_run_agent_artifact_records_run(credentials_name: str) -> None:
    key = unique_key("root-cause")

    @flow
    def analyse() -> AgentRunResult:
        return run_agent(
            credentials_name,
            "root-cause",
            "Why is checkout slow?",
            output_format="json",
            expected_output={"hypothesis": "string", "evidence": ["string"]},
            artifact_key=key,
        )

    result = analyse()
    row = read_row(key)

    assert row["request_id"] == result.request_id
    assert row["agent_id"] == "root-cause"
    assert row["status"] == "SUCCESS"
    assert row["fallback_used"] is False
    assert row["used_credits"] == pytest.approx(0.006)
    assert row["run_time"] == result.run_time
    assert isinstance(result.output, dict)
    assert "output" not in row


def test_run_agent_artifact_links_result(credentials_name: str) -> None:
    key = unique_key("echo")

    @flow
    def hello() -> AgentRunResult:
        return run_agent(credentials_name, "echo", "hi", artifact_key=key)

    result = hello()
    link = Artifact.get(f"{key}-link")

    assert link is not None
    # Prefect 3.9 stores a link artifact as markdown.
    assert link.type == "markdown"
    assert result.request_id in str(link.data)


def test_run_agent_default_artifact_key_names_agent(credentials_name: str) -> None:
    @flow
    def hello() -> AgentRunResult:
        return run_agent(credentials_name, "echo", "hi")

    result = hello()

    assert read_row("aixplain-echo")["request_id"] == result.request_id


def test_run_agent_falls_back_on_failure(
    sandbox: Sandbox, credentials_name: str
) -> None:
    key = unique_key("triage")

    @flow
    def triage() -> AgentRunResult:
        return run_agent(
            credentials_name,
            "triage-primary",
            DATABASE_INCIDENT,
            fallbacks=["triage-secondary"],
            output_format="json",
            artifact_key=key,
        )

    result = triage()
    row = read_row(key)

    assert result.agent_id == "triage-secondary"
    assert result.fallback_used is True
    assert row["agent_id"] == "triage-secondary"
    assert row["fallback_used"] is True
    assert row["fallback_steps"] == (
        "triage-primary (remote_failure) -> triage-secondary"
    )
    assert submissions(sandbox, "triage-primary") == 1
    assert submissions(sandbox, "triage-secondary") == 1


def test_run_agent_failure_creates_artifact(credentials_name: str) -> None:
    key = unique_key("triage")

    @flow
    def triage() -> None:
        run_agent(
            credentials_name, "triage-primary", DATABASE_INCIDENT, artifact_key=key
        )

    with pytest.raises(RunFailedError):
        triage()
    row = read_row(key)

    assert row["status"] == "REMOTE_FAILURE"
    assert row["agent_id"] == "triage-primary"
    assert str(row["request_id"]).startswith("triage-primary__")


@pytest.mark.parametrize(
    ("agent_id", "query", "api_key", "error", "posts"),
    [
        pytest.param("echo", "hi", "wrong-key-12", AuthenticationError, 1, id="key"),
        pytest.param("no-such-agent", "hi", None, ClientRequestError, 1, id="agent"),
        pytest.param("echo", "   ", None, ConfigurationError, 0, id="empty-query"),
    ],
)
def test_run_agent_client_error_not_retried(
    sandbox: Sandbox,
    save_credentials: Callable[..., str],
    agent_id: str,
    query: str,
    api_key: str | None,
    error: type[Exception],
    posts: int,
) -> None:
    name = save_credentials(sandbox, api_key=api_key)
    retried = run_agent.with_options(retries=3, retry_delay_seconds=0)

    @flow
    def failing() -> None:
        retried(name, agent_id, query)

    with pytest.raises(error):
        failing()
    sent = [entry for entry in sandbox.requests() if entry["method"] == "POST"]

    assert len(sent) == posts


def _failed(error: BaseException) -> Failed:  # type: ignore[type-arg]
    return Failed(data=error)


def _task_run() -> TaskRun:
    return TaskRun(
        flow_run_id=uuid.uuid4(),
        task_key="k",
        dynamic_key="0",
        expected_start_time=datetime.now(timezone.utc),
    )


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        pytest.param(AuthenticationError("x", status_code=401), False, id="auth"),
        pytest.param(ClientRequestError("x", status_code=404), False, id="client"),
        pytest.param(ConfigurationError("x"), False, id="config"),
        pytest.param(ConcurrencyLimitNotFoundError("x"), False, id="missing-limit"),
        pytest.param(TransportError("x"), True, id="transport"),
        pytest.param(AmbiguousSubmitError("x"), True, id="ambiguous"),
        pytest.param(RunTimeoutError("x"), True, id="timeout"),
        pytest.param(RunFailedError("x", status="FAILED"), True, id="failed"),
        pytest.param(RuntimeError("x"), True, id="other"),
    ],
)
def test_retry_condition_fn_by_error(error: BaseException, retry: bool) -> None:
    assert retry_condition_fn(run_agent, _task_run(), _failed(error)) is retry


def test_submit_then_wait_runs_once(sandbox: Sandbox, credentials_name: str) -> None:
    key = unique_key("echo")

    @flow
    def start_then_wait() -> AgentRunResult:
        request_id = submit_agent_run(credentials_name, "echo", "hello")
        return wait_for_agent_run(
            credentials_name, request_id, agent_id="echo", artifact_key=key
        )

    result = start_then_wait()

    assert result.status == "SUCCESS"
    assert result.output == "hello"
    assert read_row(key)["request_id"] == result.request_id
    assert submissions(sandbox, "echo") == 1


def test_wait_for_agent_run_guesses_agent(credentials_name: str) -> None:
    block = AixplainCredentials.load(credentials_name)
    with block.get_client() as client:
        submitted = client.submit("echo", "hello")

    @flow
    def resume() -> AgentRunResult:
        return wait_for_agent_run(credentials_name, submitted.request_id)

    result = resume()

    assert result.agent_id == "echo"
    assert result.request_id == submitted.request_id


def test_run_agent_missing_block_not_retried() -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    retried = run_agent.with_options(retries=2, retry_delay_seconds=0)

    @flow
    def failing() -> None:
        retried("no-such-block", "echo", "hi")

    state = failing(return_state=True)
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )

    assert state.is_failed()
    assert [task_run.run_count for task_run in task_runs] == [1]
    with pytest.raises(ConfigurationError, match="'no-such-block'"):
        state.result()
