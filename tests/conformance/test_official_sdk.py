"""The official aiXplain SDK (aixplain==0.2.48) runs agents against the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from aixplain_agents.sandbox import Sandbox


def test_sdk_agent_run_success(aix: Any, sandbox: Sandbox) -> None:
    agent = aix.Agent.get("echo")

    result = agent.run(query="hello from the SDK", wait_time=0.2, timeout=30)

    assert agent.id == "echo"
    assert result.status == "SUCCESS"
    assert result.completed is True
    assert result.data.output == "Echo: hello from the SDK"
    assert result.request_id.startswith("echo__")
    assert result.used_credits == pytest.approx(0.003)
    assert result.run_time == pytest.approx(0.2)
    assert len(result.data.steps) == 2
    assert sandbox.stats()["requests"][result.request_id]["status"] == "SUCCESS"


def test_sdk_agent_run_json_output(aix: Any) -> None:
    agent = aix.Agent.get("triage")

    result = agent.run(query="Checkout latency spike", wait_time=0.2, timeout=30)

    output = result.data.output
    assert result.status == "SUCCESS"
    assert set(output) == {"summary", "risk", "recommendedActions"}
    assert output["risk"] in ("low", "medium", "high")
    assert "Checkout latency spike" in output["summary"]
    assert all(isinstance(item, str) for item in output["recommendedActions"])


def test_sdk_agent_run_failed_raises(aix: Any) -> None:
    from aixplain.v2.exceptions import APIError

    agent = aix.Agent.get("failing")

    with pytest.raises(APIError) as caught:
        agent.run(query="anything", wait_time=0.2, timeout=30)

    assert "prompt is 140000 tokens, limit 128000" in str(caught.value)


# The SDK warns that it stores the agent's budget on the session with a PUT.
@pytest.mark.filterwarnings("ignore:Per-run execution overrides:UserWarning")
def test_sdk_agent_run_in_session(aix: Any, sandbox: Sandbox) -> None:
    agent = aix.Agent.get("echo")
    session = aix.Session(agent=agent, name="conformance")
    session.save()

    result = agent.run(query="inside a session", session=session, wait_time=0.2)

    assert session.id.startswith("sess-")
    assert result.status == "SUCCESS"
    assert result.data.output == "Echo: inside a session"
    assert result.session_id == session.id
    assert result.data.session_id == session.id
    assert sandbox.stats()["requests"][result.request_id]["agent_id"] == "echo"
