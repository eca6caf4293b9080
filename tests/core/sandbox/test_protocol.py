"""The protocol as a raw httpx client sees it: agents, runs, polls, sessions, errors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from aixplain_agents.sandbox import Sandbox

SIMPLE = {
    "agents": {
        "echo": {
            "duration": 0.0,
            "steps": 2,
            "output": {"kind": "template", "template": "{query}!"},
            "credits": 0.002,
        },
        "slow": {"duration": 0.4, "steps": 4},
        "json-agent": {
            "duration": 0.0,
            "output_format": "json",
            "expected_output": {"answer": "string"},
            "output": {"kind": "json", "values": {"source": "sandbox"}},
        },
    }
}

ClientFor = Callable[..., httpx.Client]


def _submit(client: httpx.Client, agent_id: str, **payload: Any) -> dict[str, Any]:
    payload.setdefault("query", {"input": "hello"})
    response = client.post(f"/v2/agents/{agent_id}/run", json=payload)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _poll_until_done(client: httpx.Client, url: str, limit: int = 50) -> dict[str, Any]:
    for _ in range(limit):
        body: dict[str, Any] = client.get(url).json()
        if body.get("completed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"{url} did not complete after {limit} polls")


@pytest.fixture
def sandbox(aixplain_sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return aixplain_sandbox_factory(SIMPLE)


def test_get_agent_fields(sandbox: Sandbox, client_for: ClientFor) -> None:
    body = client_for(sandbox).get("/v2/agents/json-agent").json()

    assert body["id"] == "json-agent"
    assert body["status"] == "onboarded"
    assert body["outputFormat"] == "json"
    assert body["expectedOutput"] == {"answer": "string"}
    assert body["budget"] == {"maxIterations": 5}


def test_get_agent_unknown_404(sandbox: Sandbox, client_for: ClientFor) -> None:
    response = client_for(sandbox).get("/v2/agents/nobody")

    assert response.status_code == 404
    assert response.json() == {
        "statusCode": 404,
        "error": "Not Found",
        "message": "Agent 'nobody' not found.",
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/agents/echo"),
        ("POST", "/v2/agents/echo/run"),
        ("GET", "/sdk/agents/echo__000000000000/result"),
        ("GET", "/sdk/agents/echo"),
        ("POST", "/v1/sessions"),
    ],
)
def test_api_key_missing_401(sandbox: Sandbox, method: str, path: str) -> None:
    response = httpx.request(method, sandbox.base_url + path, json={})

    assert response.status_code == 401
    assert response.json()["statusCode"] == 401
    assert "x-api-key" in response.json()["message"]


def test_api_key_not_listed_401(
    aixplain_sandbox_factory: Callable[..., Sandbox],
) -> None:
    sandbox = aixplain_sandbox_factory(
        {"api_keys": ["k-1", "k-2"], "agents": {"a": {}}}
    )
    url = sandbox.base_url + "/v2/agents/a"

    rejected = httpx.get(url, headers={"x-api-key": "other"})
    accepted = httpx.get(url, headers={"x-api-key": "k-2"})

    assert rejected.status_code == 401
    assert rejected.json()["message"] == "Invalid API key."
    assert accepted.status_code == 200
    assert sandbox.api_key == "k-1"


def test_submit_counts_rejected_auth(sandbox: Sandbox) -> None:
    httpx.post(sandbox.base_url + "/v2/agents/echo/run", json={})

    assert sandbox.stats()["agents"]["echo"]["submits_rejected"] == 1


def test_submit_poll_url_absolute_on_request_origin(
    sandbox: Sandbox, client_for: ClientFor
) -> None:
    port = sandbox.base_url.rsplit(":", 1)[1]
    client = client_for(sandbox)

    body = _submit(client, "echo")
    aliased = client.post(
        "/v2/agents/echo/run",
        json={"query": {"input": "x"}},
        headers={"host": f"localhost:{port}"},
    ).json()

    request_id = body["requestId"]
    assert request_id.startswith("echo__")
    assert body["status"] == "IN_PROGRESS"
    assert body["data"] == f"{sandbox.base_url}/sdk/agents/{request_id}/result"
    assert aliased["data"].startswith(f"http://localhost:{port}/sdk/agents/echo__")


def test_submit_request_ids_unique(sandbox: Sandbox, client_for: ClientFor) -> None:
    client = client_for(sandbox)

    ids = {_submit(client, "echo")["requestId"] for _ in range(20)}

    assert len(ids) == 20


def test_poll_success_fields(sandbox: Sandbox, client_for: ClientFor) -> None:
    client = client_for(sandbox)
    submitted = _submit(client, "echo", query={"input": "hello", "tone": "calm"})

    body = _poll_until_done(client, submitted["data"])

    assert body["status"] == "SUCCESS"
    assert body["completed"] is True
    assert body["requestId"] == submitted["requestId"]
    assert body["usedCredits"] == 0.002
    assert body["runTime"] == 0.0
    assert body["sessionId"] == body["data"]["session_id"]
    data = body["data"]
    assert data["input"] == "hello"
    assert data["output"] == "hello!"
    assert len(data["steps"]) == 2
    assert data["executionStats"]["api_calls"] == 2
    assert data["executionStats"]["credits"] == 0.002
    assert data["usedCredits"] == 0.002
    assert isinstance(data["intermediate_steps"], list)


def test_poll_in_progress_steps_grow(sandbox: Sandbox, client_for: ClientFor) -> None:
    client = client_for(sandbox)
    url = _submit(client, "slow")["data"]

    counts = []
    for _ in range(40):
        body = client.get(url).json()
        if body["completed"]:
            break
        assert body["status"] == "IN_PROGRESS"
        assert body["completed"] is False
        counts.append(len(body["data"]["steps"]))
        time.sleep(0.03)

    assert body["status"] == "SUCCESS"
    assert counts == sorted(counts)
    assert counts[0] < counts[-1]
    assert len(body["data"]["steps"]) == 4


def test_poll_unknown_request_404(sandbox: Sandbox, client_for: ClientFor) -> None:
    response = client_for(sandbox).get("/sdk/agents/echo__ffffffffffff/result")

    assert response.status_code == 404
    assert response.json()["error"] == "Not Found"


def test_poll_from_other_client(sandbox: Sandbox, client_for: ClientFor) -> None:
    url = _submit(client_for(sandbox), "echo")["data"]

    body = _poll_until_done(client_for(sandbox), url)

    assert body["status"] == "SUCCESS"


def test_json_output_fits_expected_output(
    sandbox: Sandbox, client_for: ClientFor
) -> None:
    client = client_for(sandbox)
    expected = {"risk": "low|high", "actions": ["string"]}
    submitted = _submit(
        client,
        "json-agent",
        executionParams={
            "outputFormat": "json",
            "expectedOutput": json.dumps(expected),
        },
    )

    output = _poll_until_done(client, submitted["data"])["data"]["output"]

    assert output["risk"] in ("low", "high")
    assert isinstance(output["actions"], list)
    assert output["source"] == "sandbox"


def test_text_agent_answers_json_when_requested(
    sandbox: Sandbox, client_for: ClientFor
) -> None:
    client = client_for(sandbox)
    submitted = _submit(
        client,
        "echo",
        executionParams={"outputFormat": "json", "expectedOutput": '{"n": "integer"}'},
    )

    output = _poll_until_done(client, submitted["data"])["data"]["output"]

    assert isinstance(output["n"], int)


def test_legacy_agent_and_run(sandbox: Sandbox, client_for: ClientFor) -> None:
    client = client_for(sandbox)

    agent = client.get("/sdk/agents/echo").json()
    submitted = client.post(
        "/sdk/agents/echo/run",
        json={"id": "echo", "query": {"input": "v1"}, "sessionId": "sess-legacy"},
    ).json()
    body = _poll_until_done(client, submitted["data"])

    assert agent["status"] == "onboarded"
    assert agent["assets"] == []
    assert body["data"]["output"] == "v1!"
    assert body["data"]["session_id"] == "sess-legacy"
    assert body["data"]["runTime"] == 0.0


def test_session_message_starts_run(sandbox: Sandbox, client_for: ClientFor) -> None:
    client = client_for(sandbox)

    created = client.post("/v1/sessions", json={"agentId": "echo", "name": "t"})
    session_id = created.json()["id"]
    fetched = client.get(f"/v1/sessions/{session_id}").json()
    updated = client.put(
        f"/v1/sessions/{session_id}",
        json={"executionConfig": {"executionParams": {"outputFormat": "text"}}},
    ).json()
    message = client.post(
        f"/v1/sessions/{session_id}/messages", json={"role": "user", "content": "hey"}
    ).json()
    result = _poll_until_done(client, f"/sdk/agents/{message['requestId']}/result")

    assert created.status_code == 201
    assert fetched["agentId"] == "echo"
    assert updated["executionConfig"]["executionParams"]["outputFormat"] == "text"
    assert message["sessionId"] == session_id
    assert result["sessionId"] == session_id
    assert result["data"]["output"] == "hey!"


def test_session_unknown_404(sandbox: Sandbox, client_for: ClientFor) -> None:
    client = client_for(sandbox)

    assert client.get("/v1/sessions/sess-nope").status_code == 404
    assert client.post("/v1/sessions", json={"agentId": "nobody"}).status_code == 404


def test_unknown_route_error_body(sandbox: Sandbox, client_for: ClientFor) -> None:
    response = client_for(sandbox).get("/v3/whatever")

    assert response.status_code == 404
    assert response.json()["statusCode"] == 404


def test_stats_counts_runs_and_polls(sandbox: Sandbox, client_for: ClientFor) -> None:
    client = client_for(sandbox)
    submitted = _submit(client, "echo")
    client.get(submitted["data"])
    client.get(submitted["data"])

    stats = httpx.get(sandbox.base_url + "/sandbox/stats").json()

    assert stats["agents"]["echo"] == {
        "runs_accepted": 1,
        "submits_rejected": 0,
        "polls_served": 2,
    }
    assert stats["requests"][submitted["requestId"]] == {
        "agent_id": "echo",
        "polls": 2,
        "status": "SUCCESS",
        "max_time": None,
    }
    assert stats == sandbox.stats()


def test_requests_log_without_key(sandbox: Sandbox, client_for: ClientFor) -> None:
    client = client_for(sandbox)
    client.get("/v2/agents/echo")
    client.get("/v2/agents/nobody")

    body = httpx.get(sandbox.base_url + "/sandbox/requests?limit=1").json()
    everything = httpx.get(sandbox.base_url + "/sandbox/requests").text

    assert body["requests"] == [
        {
            "time": body["requests"][0]["time"],
            "method": "GET",
            "path": "/v2/agents/nobody",
            "status": 404,
            "duration_ms": body["requests"][0]["duration_ms"],
        }
    ]
    assert sandbox.api_key not in everything
    assert "x-api-key" not in everything


def test_requests_log_bounded(sandbox: Sandbox, client_for: ClientFor) -> None:
    client = client_for(sandbox)
    for _ in range(1005):
        client.get("/v2/agents/echo")

    assert len(sandbox.requests()) == 1000


def test_requests_limit_invalid_400(sandbox: Sandbox) -> None:
    response = httpx.get(sandbox.base_url + "/sandbox/requests?limit=many")

    assert response.status_code == 400


def test_reset_clears_runs(sandbox: Sandbox, client_for: ClientFor) -> None:
    client = client_for(sandbox)
    url = _submit(client, "echo")["data"]

    response = httpx.post(sandbox.base_url + "/sandbox/reset")

    assert response.status_code == 200
    assert client.get(url).status_code == 404
    assert sandbox.stats()["agents"]["echo"]["runs_accepted"] == 0
    assert sandbox.requests() == [
        {
            **sandbox.requests()[0],
            "path": "/sdk/agents/" + url.rsplit("/", 2)[1] + "/result",
        }
    ]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_submit_non_finite_number_is_400(
    sandbox: Sandbox, client_for: ClientFor, constant: str
) -> None:
    body = (
        '{"query": {"input": "hi"}, "executionParams": {"expectedOutput": {"a": %s}}}'
    )
    response = client_for(sandbox).post(
        "/v2/agents/echo/run",
        content=body % constant,
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 400
    assert sandbox.stats()["agents"]["echo"]["runs_accepted"] == 0
