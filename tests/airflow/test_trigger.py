"""AixplainAgentRunTrigger: serialization and polling against the sandbox."""

from __future__ import annotations

import time
from typing import Any

import pytest

from aixplain_agents import AgentClient
from aixplain_provider.triggers.aixplain import AixplainAgentRunTrigger

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_trigger(**overrides: Any) -> AixplainAgentRunTrigger:
    fields: dict[str, Any] = {
        "request_id": "echo__abc123",
        "agent_id": "echo",
        "poll_url": "http://127.0.0.1:1/sdk/agents/echo__abc123/result",
        "deadline": time.time() + 60,
        "output_format": "json",
        "expected_output": {"summary": "string"},
        "progress": "logs",
    }
    fields.update(overrides)
    return AixplainAgentRunTrigger(**fields)


async def test_trigger_serialize_round_trips():
    trigger = make_trigger()

    classpath, kwargs = trigger.serialize()
    copy = AixplainAgentRunTrigger(**kwargs)

    assert classpath == "aixplain_provider.triggers.aixplain.AixplainAgentRunTrigger"
    assert copy.serialize() == (classpath, kwargs)


async def test_trigger_serialize_holds_no_secret(aixplain_sandbox, aixplain_connection):
    aixplain_connection(aixplain_sandbox)

    _, kwargs = make_trigger().serialize()

    assert aixplain_sandbox.api_key not in repr(kwargs)
    assert "password" not in kwargs
    assert "api_key" not in kwargs


async def test_trigger_run_yields_success_event(aixplain_sandbox, aixplain_connection):
    aixplain_connection(aixplain_sandbox)
    with AgentClient(
        api_key=aixplain_sandbox.api_key, base_url=aixplain_sandbox.base_url
    ) as client:
        run = client.submit("echo", "ping")
    trigger = make_trigger(
        request_id=run.request_id,
        poll_url=run.poll_url,
        output_format="text",
        expected_output=None,
    )

    events = [event async for event in trigger.run()]

    assert len(events) == 1
    assert events[0].payload["status"] == "success"
    assert events[0].payload["request_id"] == run.request_id


async def test_trigger_past_deadline_yields_timeout(
    aixplain_sandbox, aixplain_connection
):
    aixplain_connection(aixplain_sandbox)
    trigger = make_trigger(deadline=time.time() - 1)

    events = [event async for event in trigger.run()]

    assert events[0].payload["status"] == "error"
    assert events[0].payload["failure_class"] == "timeout"
