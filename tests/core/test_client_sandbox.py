"""Both client drivers against the sandbox over real HTTP, with injected faults."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from aixplain_agents import (
    AmbiguousSubmitError,
    AuthenticationError,
    ClientRequestError,
    Outcome,
    OutputValidationError,
    RunFailedError,
    RunTimeoutError,
)
from aixplain_agents.sandbox import Sandbox

Factory = Callable[..., Sandbox]
Call = Callable[..., Any]


def agent(**spec: Any) -> dict[str, Any]:
    """Return a fast sandbox agent spec with ``spec`` applied."""
    return {"duration": 0.2, "steps": 2, **spec}


def scenario(**agents: dict[str, Any]) -> dict[str, Any]:
    """Return a scenario with the given agents (keyword names use '_' for '-')."""
    return {"agents": {name.replace("_", "-"): spec for name, spec in agents.items()}}


TRIAGE = {
    "summary": "string",
    "risk": "low|medium|high",
    "recommendedActions": ["string"],
}


def runs_accepted(sandbox: Sandbox, agent_id: str) -> int:
    return int(sandbox.stats()["agents"][agent_id]["runs_accepted"])


def test_run_success_returns_request_id(
    call_client: Call, aixplain_sandbox: Sandbox
) -> None:
    result = call_client(aixplain_sandbox, "run", "echo", "hello")
    assert result.status == "SUCCESS"
    assert result.request_id in aixplain_sandbox.stats()["requests"]
    assert result.agent_id == "echo"
    assert runs_accepted(aixplain_sandbox, "echo") == 1


def test_run_json_output_parsed_and_validated(
    call_client: Call, aixplain_sandbox: Sandbox
) -> None:
    result = call_client(
        aixplain_sandbox,
        "run",
        "triage-secondary",
        "Disk full on web-3",
        output_format="json",
        expected_output=TRIAGE,
    )
    assert result.output["risk"] in ("low", "medium", "high")
    assert isinstance(result.output["recommendedActions"], list)


def test_run_pydantic_expected_output_gives_model(
    call_client: Call, aixplain_sandbox: Sandbox
) -> None:
    class Triage(BaseModel):
        summary: str
        risk: Literal["low", "medium", "high"]
        recommendedActions: list[str]

    result = call_client(
        aixplain_sandbox,
        "run",
        "triage-secondary",
        "x",
        output_format="json",
        expected_output=Triage,
    )
    assert isinstance(result.output_model, Triage)


def test_submit_503_then_success_accepts_one_run(
    call_client: Call, aixplain_sandbox_factory: Factory
) -> None:
    fault = {"kind": "http_status", "on": "submit", "status": 503, "times": 1}
    sandbox = aixplain_sandbox_factory(scenario(a=agent(faults=[fault])))
    result = call_client(sandbox, "run", "a", "hi")
    stats = sandbox.stats()["agents"]["a"]
    assert result.status == "SUCCESS"
    assert stats["runs_accepted"] == 1
    assert stats["submits_rejected"] == 1


def test_submit_429_honours_retry_after(
    call_client: Call, aixplain_sandbox_factory: Factory
) -> None:
    fault = {
        "kind": "http_status",
        "on": "submit",
        "status": 429,
        "retry_after": 1,
        "times": 1,
    }
    sandbox = aixplain_sandbox_factory(scenario(a=agent(duration=0, faults=[fault])))
    started = time.monotonic()
    result = call_client(sandbox, "run", "a", "hi")
    elapsed = time.monotonic() - started
    assert result.status == "SUCCESS"
    assert 0.95 <= elapsed < 3.0
    assert runs_accepted(sandbox, "a") == 1


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "response_dropped", "on": "submit", "times": 1},
        {"kind": "http_status", "on": "submit", "status": 502, "times": 1},
        {"kind": "http_status", "on": "submit", "status": 504, "times": 1},
    ],
    ids=["response-dropped", "502", "504"],
)
def test_submit_ambiguous_failure_is_not_resent(
    call_client: Call, aixplain_sandbox_factory: Factory, fault: dict[str, Any]
) -> None:
    sandbox = aixplain_sandbox_factory(scenario(a=agent(faults=[fault]), b=agent()))
    with pytest.raises(AmbiguousSubmitError) as caught:
        call_client(sandbox, "run", "a", "hi", fallbacks=["b"])
    stats = sandbox.stats()["agents"]
    submits = stats["a"]["runs_accepted"] + stats["a"]["submits_rejected"]
    assert submits == 1
    assert stats["b"]["runs_accepted"] == 0
    assert caught.value.attempts[0].outcome is Outcome.AMBIGUOUS


def test_submit_ambiguous_resent_on_opt_in_marks_duplicate(
    call_client: Call, aixplain_sandbox_factory: Factory
) -> None:
    fault = {"kind": "response_dropped", "on": "submit", "times": 1}
    sandbox = aixplain_sandbox_factory(scenario(a=agent(faults=[fault])))
    result = call_client(sandbox, "run", "a", "hi", allow_duplicate_submit=True)
    assert result.possible_duplicate is True
    assert runs_accepted(sandbox, "a") == 2


def test_submit_connection_refused_resent_then_fails(
    call_client: Call, aixplain_sandbox: Sandbox
) -> None:
    from aixplain_agents import TransportError

    # Port 9 on loopback has no listener, so every request is refused before sending.
    with pytest.raises(TransportError) as caught:
        call_client(
            aixplain_sandbox,
            "run",
            "echo",
            "hi",
            client={"base_url": "http://127.0.0.1:9"},
        )
    assert caught.value.failure_class == "not_sent"
    assert "failed 6 times" in str(caught.value)


def test_poll_twenty_500s_still_succeeds_with_one_submit(
    call_client: Call, aixplain_sandbox_factory: Factory
) -> None:
    fault = {"kind": "http_status", "on": "poll", "status": 500, "times": 20}
    sandbox = aixplain_sandbox_factory(scenario(a=agent(faults=[fault])))
    result = call_client(sandbox, "run", "a", "hi", timeout=60)
    assert result.status == "SUCCESS"
    assert runs_accepted(sandbox, "a") == 1
    assert sandbox.stats()["requests"][result.request_id]["polls"] >= 21


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "connection_reset", "on": "poll", "times": 3},
        {
            "kind": "http_status",
            "on": "poll",
            "status": 503,
            "retry_after": 0,
            "times": 3,
        },
        {
            "kind": "http_status",
            "on": "poll",
            "status": 429,
            "retry_after": 0,
            "times": 3,
        },
        {"kind": "malformed_json", "on": "poll", "times": 2},
        {
            "kind": "wrong_type",
            "on": "poll",
            "values": {"completed": "false"},
            "times": 2,
        },
    ],
    ids=["reset", "503", "429", "malformed-json", "completed-string"],
)
def test_poll_transient_faults_are_ridden_out(
    call_client: Call, aixplain_sandbox_factory: Factory, fault: dict[str, Any]
) -> None:
    sandbox = aixplain_sandbox_factory(scenario(a=agent(faults=[fault])))
    result = call_client(sandbox, "run", "a", "hi", timeout=30)
    assert result.status == "SUCCESS"
    assert runs_accepted(sandbox, "a") == 1


def test_poll_persistent_malformed_body_is_invalid_response(
    call_client: Call, aixplain_sandbox_factory: Factory
) -> None:
    from aixplain_agents import InvalidResponseError

    fault = {"kind": "missing_fields", "on": "poll", "fields": ["status"]}
    sandbox = aixplain_sandbox_factory(scenario(a=agent(faults=[fault])))
    with pytest.raises(InvalidResponseError, match="3 times in a row"):
        call_client(sandbox, "run", "a", "hi", timeout=30)
    assert runs_accepted(sandbox, "a") == 1


@pytest.mark.parametrize("status", ["FAILED", "ERROR", "ABORTED"])
def test_terminal_non_success_is_failure(
    call_client: Call, aixplain_sandbox_factory: Factory, status: str
) -> None:
    fault = {"kind": "terminal", "status": status, "message": "tool crashed"}
    sandbox = aixplain_sandbox_factory(scenario(a=agent(faults=[fault])))
    with pytest.raises(RunFailedError) as caught:
        call_client(sandbox, "run", "a", "hi")
    assert caught.value.status == status
    assert caught.value.request_id is not None
    assert runs_accepted(sandbox, "a") == 1


def test_success_with_error_message_is_failure(
    call_client: Call, aixplain_sandbox_factory: Factory
) -> None:
    fault = {"kind": "success_with_error", "message": "search tool unavailable"}
    sandbox = aixplain_sandbox_factory(scenario(a=agent(faults=[fault])))
    with pytest.raises(RunFailedError, match="search tool unavailable"):
        call_client(sandbox, "run", "a", "hi")


def test_fallback_after_remote_failure(
    call_client: Call, aixplain_sandbox: Sandbox
) -> None:
    result = call_client(
        aixplain_sandbox,
        "run",
        "triage-primary",
        "The primary database is down",
        fallbacks=["triage-secondary"],
        output_format="json",
        expected_output=TRIAGE,
    )
    assert result.agent_id == "triage-secondary"
    assert result.fallback_used is True
    assert [a.outcome for a in result.attempts] == [
        Outcome.REMOTE_FAILURE,
        Outcome.SUCCESS,
    ]
    assert result.attempts[0].request_id is not None


def test_fallback_after_invalid_json_output(
    call_client: Call, aixplain_sandbox_factory: Factory
) -> None:
    broken = agent(output={"kind": "json"}, faults=[{"kind": "schema_violation"}])
    sandbox = aixplain_sandbox_factory(
        scenario(a=broken, b=agent(output={"kind": "json"}))
    )
    result = call_client(
        sandbox,
        "run",
        "a",
        "hi",
        fallbacks=["b"],
        output_format="json",
        expected_output=TRIAGE,
    )
    assert result.agent_id == "b"
    assert result.attempts[0].outcome is Outcome.INVALID_OUTPUT


def test_invalid_output_without_fallback_names_problem(
    call_client: Call, aixplain_sandbox_factory: Factory
) -> None:
    broken = agent(output={"kind": "json"}, faults=[{"kind": "schema_violation"}])
    sandbox = aixplain_sandbox_factory(scenario(a=broken))
    with pytest.raises(OutputValidationError) as caught:
        call_client(
            sandbox, "run", "a", "hi", output_format="json", expected_output=TRIAGE
        )
    assert caught.value.problem.startswith("output.")
    assert caught.value.request_id is not None


def test_bad_key_stops_without_retry_or_fallback(
    call_client: Call, aixplain_sandbox_factory: Factory
) -> None:
    sandbox = aixplain_sandbox_factory(
        {"api_keys": ["right-key"], **scenario(a=agent(), b=agent())}
    )
    with pytest.raises(AuthenticationError) as caught:
        call_client(
            sandbox, "run", "a", "hi", fallbacks=["b"], client={"api_key": "wrong-key"}
        )
    posts = [r for r in sandbox.requests() if r["method"] == "POST"]
    assert len(posts) == 1
    assert caught.value.status_code == 401
    assert "wrong-key" not in str(caught.value)


def test_unknown_agent_is_client_error_naming_agent(
    call_client: Call, aixplain_sandbox: Sandbox
) -> None:
    with pytest.raises(ClientRequestError) as caught:
        call_client(aixplain_sandbox, "run", "no-such-agent", "hi")
    assert caught.value.status_code == 404
    assert "no-such-agent" in str(caught.value)


def test_foreign_poll_url_never_gets_the_key(
    call_client: Call,
    aixplain_sandbox_factory: Factory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    other = aixplain_sandbox_factory(scenario(a=agent()))
    fault = {
        "kind": "foreign_poll_url",
        "on": "submit",
        "url": other.base_url + "/sdk/agents/{request_id}/result",
    }
    sandbox = aixplain_sandbox_factory(scenario(a=agent(faults=[fault])))
    with caplog.at_level(logging.WARNING, logger="aixplain_agents"):
        result = call_client(sandbox, "run", "a", "hi")
    assert result.status == "SUCCESS"
    assert other.requests() == []
    assert any("poll URL outside" in record.getMessage() for record in caplog.records)


def test_deadline_caps_server_max_time(
    call_client: Call, aixplain_sandbox_factory: Factory
) -> None:
    sandbox = aixplain_sandbox_factory(scenario(a=agent()))
    result = call_client(sandbox, "run", "a", "hi", timeout=5, max_time=300)
    assert sandbox.stats()["requests"][result.request_id]["max_time"] <= 5


def test_run_never_completing_times_out_with_request_id(
    call_client: Call, aixplain_sandbox_factory: Factory
) -> None:
    sandbox = aixplain_sandbox_factory(
        scenario(a=agent(faults=[{"kind": "never_completes"}]))
    )
    started = time.monotonic()
    with pytest.raises(RunTimeoutError) as caught:
        call_client(sandbox, "run", "a", "hi", timeout=1.5)
    assert time.monotonic() - started < 4
    assert caught.value.request_id is not None


def test_agent_timeout_falls_back_within_overall_deadline(
    call_client: Call, aixplain_sandbox_factory: Factory
) -> None:
    sandbox = aixplain_sandbox_factory(
        scenario(a=agent(faults=[{"kind": "never_completes"}]), b=agent())
    )
    result = call_client(
        sandbox, "run", [{"agent_id": "a", "timeout": 1}, "b"], "hi", timeout=20
    )
    assert result.agent_id == "b"
    assert result.attempts[0].outcome is Outcome.TIMEOUT


def test_resume_completes_run_without_new_submit(
    call_client: Call, aixplain_sandbox: Sandbox
) -> None:
    submitted = call_client(aixplain_sandbox, "submit", "echo", "started elsewhere")
    result = call_client(
        aixplain_sandbox, "resume", submitted.request_id, agent_id="echo"
    )
    assert result.request_id == submitted.request_id
    assert result.status == "SUCCESS"
    assert runs_accepted(aixplain_sandbox, "echo") == 1


def test_resume_unknown_request_is_client_error(
    call_client: Call, aixplain_sandbox: Sandbox
) -> None:
    with pytest.raises(ClientRequestError) as caught:
        call_client(aixplain_sandbox, "resume", "echo__000000000000")
    assert caught.value.status_code == 404


def test_on_submit_sees_request_id_before_first_poll(
    call_client: Call, aixplain_sandbox: Sandbox
) -> None:
    seen: list[tuple[str, int]] = []

    def record(run: Any) -> None:
        polls = aixplain_sandbox.stats()["requests"][run.request_id]["polls"]
        seen.append((run.request_id, polls))

    result = call_client(aixplain_sandbox, "run", "echo", "hi", on_submit=record)
    assert seen == [(result.request_id, 0)]


def test_circuit_breaker_skips_failing_agent(
    call_client: Call, aixplain_sandbox_factory: Factory
) -> None:
    from aixplain_agents import CircuitBreaker

    failing = agent(duration=0, faults=[{"kind": "terminal", "status": "FAILED"}])
    sandbox = aixplain_sandbox_factory(scenario(a=failing, b=agent(duration=0)))
    breaker = CircuitBreaker(threshold=2, cooldown=60)
    for _ in range(3):
        result = call_client(
            sandbox,
            "run",
            "a",
            "hi",
            fallbacks=["b"],
            client={"circuit_breaker": breaker},
        )
    assert runs_accepted(sandbox, "a") == 2
    assert result.attempts[0].outcome is Outcome.CIRCUIT_OPEN


def test_key_absent_from_logs_and_errors(
    call_client: Call,
    aixplain_sandbox_factory: Factory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "sk-secret-value-123456"
    fault = {"kind": "http_status", "on": "poll", "status": 500, "times": 2}
    sandbox = aixplain_sandbox_factory(
        {"api_keys": [secret], **scenario(a=agent(faults=[fault]))}
    )
    with caplog.at_level(logging.DEBUG):
        result = call_client(sandbox, "run", "a", "hi", client={"api_key": secret})
        with pytest.raises(ClientRequestError) as caught:
            call_client(sandbox, "run", "missing", "hi", client={"api_key": secret})
    assert secret not in caplog.text
    assert secret not in str(caught.value)
    assert secret not in repr(result)


def test_shared_async_client_reused_within_loop(aixplain_sandbox: Sandbox) -> None:
    import asyncio

    from aixplain_agents import AsyncAgentClient, ConnectionSettings

    settings = ConnectionSettings(
        api_key=aixplain_sandbox.api_key, base_url=aixplain_sandbox.base_url
    )

    async def two_runs() -> tuple[bool, str]:
        first = AsyncAgentClient.shared(settings)
        async with first:
            await first.run("echo", "one")
        second = AsyncAgentClient.shared(settings)
        async with second:
            result = await second.run("echo", "two")
        return first is second, result.status

    same, status = asyncio.run(two_runs())
    assert same is True
    assert status == "SUCCESS"


def test_shared_async_client_differs_per_key(aixplain_sandbox: Sandbox) -> None:
    import asyncio

    from aixplain_agents import AsyncAgentClient, ConnectionSettings

    base_url = aixplain_sandbox.base_url

    async def clients() -> tuple[AsyncAgentClient, AsyncAgentClient]:
        first = AsyncAgentClient.shared(
            ConnectionSettings(api_key="a", base_url=base_url)
        )
        second = AsyncAgentClient.shared(
            ConnectionSettings(api_key="b", base_url=base_url)
        )
        return first, second

    first, second = asyncio.run(clients())
    assert first is not second


def test_progress_logs_every_step_once(
    call_client: Call,
    aixplain_sandbox_factory: Factory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox = aixplain_sandbox_factory(scenario(a=agent(duration=0.3, steps=4)))
    with caplog.at_level(logging.INFO, logger="aixplain_agents"):
        call_client(sandbox, "run", "a", "hi", progress="logs")
    step_lines = [r.getMessage() for r in caplog.records if " step " in r.getMessage()]
    numbers = [int(line.split(" step ")[1].split(":")[0]) for line in step_lines]
    assert numbers == [1, 2, 3, 4]


def test_check_reports_running_then_success(
    call_client: Call, aixplain_sandbox_factory: Factory
) -> None:
    sandbox = aixplain_sandbox_factory(scenario(a=agent(duration=0.5, steps=2)))
    submitted = call_client(sandbox, "submit", "a", "hi")
    running = call_client(sandbox, "check", submitted)
    time.sleep(0.7)
    done = call_client(sandbox, "check", submitted.request_id, agent_id="a")
    assert running.status == "IN_PROGRESS"
    assert running.finished is False
    assert done.status == "SUCCESS"
    assert done.succeeded is True
    assert done.steps == 2


def test_check_reports_failure_reason(
    call_client: Call, aixplain_sandbox_factory: Factory
) -> None:
    fault = {"kind": "terminal", "status": "ERROR", "message": "tool crashed"}
    sandbox = aixplain_sandbox_factory(scenario(a=agent(duration=0, faults=[fault])))
    submitted = call_client(sandbox, "submit", "a", "hi")
    checked = call_client(sandbox, "check", submitted)
    assert checked.finished is True
    assert checked.succeeded is False
    assert checked.reason == "tool crashed"


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "http_status", "on": "poll", "status": 503},
        {"kind": "connection_reset", "on": "poll"},
        {"kind": "malformed_json", "on": "poll"},
    ],
    ids=["503", "reset", "malformed-json"],
)
def test_check_transient_failure_is_unknown(
    call_client: Call, aixplain_sandbox_factory: Factory, fault: dict[str, Any]
) -> None:
    sandbox = aixplain_sandbox_factory(scenario(a=agent(faults=[fault])))
    submitted = call_client(sandbox, "submit", "a", "hi")
    checked = call_client(sandbox, "check", submitted)
    assert checked.status == "UNKNOWN"
    assert checked.reason


def test_check_unknown_request_is_client_error(
    call_client: Call, aixplain_sandbox: Sandbox
) -> None:
    with pytest.raises(ClientRequestError):
        call_client(aixplain_sandbox, "check", "echo__000000000000")
