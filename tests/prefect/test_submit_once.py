"""Submit once: task and flow retries resume the submitted run, never post it again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from prefect import flow
from prefect.variables import Variable

from aixplain_agents import AgentRunResult
from aixplain_agents.sandbox import Sandbox
from prefect_aixplain import run_agent, submit_agent_run, wait_for_agent_run

from .conftest import scenario

# The run outlasts the first try's deadline but ends within the retry's. The core
# sends the deadline as maxTime in whole seconds, at least 1, and the sandbox fails
# runs that exceed it, so the run must end within 1 s.
SLOW_AGENT = {
    "output_format": "text",
    "duration": 0.9,
    "steps": 1,
    "output": {"kind": "template", "template": "done: {query}"},
}
FIRST_TRY_TIMEOUT = 0.6
# The first three polls return invalid JSON, so the core gives up right after the
# submit with InvalidResponseError; the retry's polls succeed.
BROKEN_POLLS_AGENT = {
    "output_format": "text",
    "duration": 0.2,
    "steps": 1,
    "output": {"kind": "template", "template": "done: {query}"},
    "faults": [{"kind": "malformed_json", "on": "poll", "times": 3}],
}


def submissions(sandbox: Sandbox, agent_id: str) -> int:
    return int(sandbox.stats()["agents"][agent_id]["runs_accepted"])


def ledger_variables() -> list[str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        names = [variable.name for variable in client.read_variables()]
    return [name for name in names if name.startswith("aixplain_run_")]


@pytest.mark.parametrize(
    ("agent", "timeout"),
    [
        pytest.param(SLOW_AGENT, FIRST_TRY_TIMEOUT, id="timeout"),
        pytest.param(BROKEN_POLLS_AGENT, None, id="invalid-response"),
    ],
)
def test_task_retry_resumes_submitted_run(
    aixplain_sandbox_factory: Callable[..., Sandbox],
    save_credentials: Callable[[Sandbox], str],
    agent: dict[str, Any],
    timeout: float | None,
) -> None:
    sandbox = aixplain_sandbox_factory(scenario(slow=agent))
    name = save_credentials(sandbox)
    retried = run_agent.with_options(retries=1, retry_delay_seconds=0)

    @flow
    def once() -> AgentRunResult:
        return retried(name, "slow", "x", timeout=timeout)

    result = once()

    assert result.status == "SUCCESS"
    assert result.output == "done: x"
    assert submissions(sandbox, "slow") == 1


def test_flow_retry_resumes_submitted_run(
    aixplain_sandbox_factory: Callable[..., Sandbox],
    save_credentials: Callable[[Sandbox], str],
) -> None:
    # Invalid poll bodies fail the first try while the run itself stays alive, so
    # the retry has a run to resume. After a timeout the service stops the run at
    # its maxTime, and a resume would find it FAILED.
    sandbox = aixplain_sandbox_factory(scenario(slow=BROKEN_POLLS_AGENT))
    name = save_credentials(sandbox)

    @flow(retries=1, retry_delay_seconds=0)
    def once() -> AgentRunResult:
        return run_agent(name, "slow", "x")

    result = once()

    assert result.status == "SUCCESS"
    assert submissions(sandbox, "slow") == 1


def test_task_retry_after_failed_run_submits_again(
    sandbox: Sandbox, credentials_name: str
) -> None:
    retried = run_agent.with_options(retries=1, retry_delay_seconds=0)

    @flow
    def twice() -> None:
        retried(credentials_name, "triage-primary", "The database is down")

    state = twice(return_state=True)

    assert state.is_failed()
    assert submissions(sandbox, "triage-primary") == 2


def test_ledger_cleared_after_success(credentials_name: str) -> None:
    before = set(ledger_variables())

    @flow
    def hello() -> AgentRunResult:
        return run_agent(credentials_name, "echo", "hi")

    hello()

    assert set(ledger_variables()) == before


def test_flow_retry_reuses_submitted_request_id(
    aixplain_sandbox_factory: Callable[..., Sandbox],
    save_credentials: Callable[[Sandbox], str],
) -> None:
    sandbox = aixplain_sandbox_factory(scenario(slow=BROKEN_POLLS_AGENT))
    name = save_credentials(sandbox)
    request_ids: list[str] = []

    @flow(retries=1, retry_delay_seconds=0)
    def start_then_wait() -> AgentRunResult:
        request_id = submit_agent_run(name, "slow", "x")
        request_ids.append(request_id)
        return wait_for_agent_run(name, request_id)

    result = start_then_wait()

    assert result.status == "SUCCESS"
    assert len(request_ids) == 2
    assert request_ids[0] == request_ids[1]
    assert submissions(sandbox, "slow") == 1


def test_variable_api_available() -> None:
    Variable.set("aixplain_probe", {"ok": True}, overwrite=True)

    assert Variable.get("aixplain_probe") == {"ok": True}


def test_flow_retry_after_timeout_resumes_same_run(
    aixplain_sandbox_factory: Callable[..., Sandbox],
    save_credentials: Callable[[Sandbox], str],
) -> None:
    # A hung run ignores maxTime, so both tries time out on the same run.
    hung = {"duration": 0, "faults": [{"kind": "never_completes"}]}
    sandbox = aixplain_sandbox_factory(scenario(hung=hung))
    name = save_credentials(sandbox)
    tries: list[int] = []

    @flow(retries=1, retry_delay_seconds=0)
    def once() -> AgentRunResult:
        tries.append(len(tries) + 1)
        return run_agent(name, "hung", "x", timeout=0.5)

    state = once(return_state=True)

    assert state.is_failed()
    assert tries == [1, 2]
    assert submissions(sandbox, "hung") == 1
