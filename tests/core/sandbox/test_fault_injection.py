"""Each fault kind, scripted in a scenario file, as a raw httpx client observes it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from aixplain_agents.sandbox import Sandbox

StartFromFile = Callable[[dict[str, Any]], Sandbox]
ClientFor = Callable[..., httpx.Client]

EXPECTED = '{"summary": "string", "risk": "low|medium|high"}'


def _scenario(*faults: dict[str, Any], **agent: Any) -> dict[str, Any]:
    spec = {"duration": 0.0, "steps": 1, **agent, "faults": list(faults)}
    return {"seed": 3, "agents": {"a": spec}}


def _submit(client: httpx.Client, text: str = "hello", **params: Any) -> httpx.Response:
    return client.post(
        "/v2/agents/a/run",
        json={"query": {"input": text}, "executionParams": params},
    )


def _poll_url(client: httpx.Client, **params: Any) -> str:
    response = _submit(client, **params)
    assert response.status_code == 200, response.text
    url: str = response.json()["data"]
    return url


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 502, 503, 504])
def test_submit_http_status_fault(
    sandbox_from_file: StartFromFile, client_for: ClientFor, status: int
) -> None:
    sandbox = sandbox_from_file(
        _scenario({"kind": "http_status", "on": "submit", "status": status})
    )

    response = _submit(client_for(sandbox))

    assert response.status_code == status
    assert response.json()["statusCode"] == status
    assert isinstance(response.json()["message"], str)
    assert sandbox.stats()["agents"]["a"]["submits_rejected"] == 1
    assert sandbox.stats()["agents"]["a"]["runs_accepted"] == 0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 502, 503, 504])
def test_poll_http_status_fault(
    sandbox_from_file: StartFromFile, client_for: ClientFor, status: int
) -> None:
    sandbox = sandbox_from_file(
        _scenario({"kind": "http_status", "on": "poll", "status": status, "at": [1]})
    )
    client = client_for(sandbox)
    url = _poll_url(client)

    first = client.get(url)
    second = client.get(url)

    assert first.status_code == status
    assert first.json()["statusCode"] == status
    assert second.status_code == 200
    assert second.json()["status"] == "SUCCESS"


@pytest.mark.parametrize(
    ("fault", "expected_retry_after"),
    [
        ({"status": 429}, "1"),
        ({"status": 429, "retry_after": 7}, "7"),
        ({"status": 503, "retry_after": 2}, "2"),
        ({"status": 503}, None),
    ],
    ids=["429-default", "429-explicit", "503-explicit", "503-none"],
)
def test_retry_after_header(
    sandbox_from_file: StartFromFile,
    client_for: ClientFor,
    fault: dict[str, Any],
    expected_retry_after: str | None,
) -> None:
    sandbox = sandbox_from_file(
        _scenario({"kind": "http_status", "on": "submit", **fault})
    )

    response = _submit(client_for(sandbox))

    assert response.headers.get("retry-after") == expected_retry_after


def test_http_status_supplier_error(
    sandbox_from_file: StartFromFile, client_for: ClientFor
) -> None:
    sandbox = sandbox_from_file(
        _scenario(
            {
                "kind": "http_status",
                "on": "submit",
                "status": 502,
                "message": "upstream failed",
                "supplier_error": "model provider returned 500",
            }
        )
    )

    body = _submit(client_for(sandbox)).json()

    assert body == {
        "statusCode": 502,
        "error": "Bad Gateway",
        "message": "upstream failed",
        "supplierError": "model provider returned 500",
    }


def test_submit_connection_reset(
    sandbox_from_file: StartFromFile, client_for: ClientFor
) -> None:
    sandbox = sandbox_from_file(_scenario({"kind": "connection_reset", "on": "submit"}))

    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        _submit(client_for(sandbox))

    assert sandbox.stats()["agents"]["a"] == {
        "runs_accepted": 0,
        "submits_rejected": 1,
        "polls_served": 0,
    }
    assert sandbox.requests()[-1]["outcome"] == "connection_reset"
    assert sandbox.requests()[-1]["status"] is None


def test_poll_connection_reset(
    sandbox_from_file: StartFromFile, client_for: ClientFor
) -> None:
    sandbox = sandbox_from_file(
        _scenario({"kind": "connection_reset", "on": "poll", "at": [1]})
    )
    client = client_for(sandbox)
    url = _poll_url(client)

    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.get(url)
    retried = client.get(url)

    assert retried.json()["status"] == "SUCCESS"


def test_submit_response_dropped_run_exists(
    sandbox_from_file: StartFromFile, client_for: ClientFor
) -> None:
    sandbox = sandbox_from_file(_scenario({"kind": "response_dropped", "on": "submit"}))

    with pytest.raises(httpx.RemoteProtocolError):
        _submit(client_for(sandbox))

    stats = sandbox.stats()
    assert stats["agents"]["a"]["runs_accepted"] == 1
    assert stats["agents"]["a"]["submits_rejected"] == 0
    assert len(stats["requests"]) == 1
    assert sandbox.requests()[-1]["outcome"] == "response_dropped"


def test_poll_response_dropped(
    sandbox_from_file: StartFromFile, client_for: ClientFor
) -> None:
    sandbox = sandbox_from_file(
        _scenario({"kind": "response_dropped", "on": "poll", "at": [1]})
    )
    client = client_for(sandbox)
    url = _poll_url(client)

    with pytest.raises(httpx.RemoteProtocolError):
        client.get(url)


@pytest.mark.parametrize("on", ["submit", "poll"])
def test_withhold_until_client_timeout(
    sandbox_from_file: StartFromFile, client_for: ClientFor, on: str
) -> None:
    sandbox = sandbox_from_file(
        _scenario({"kind": "withhold", "on": on, "seconds": 30, "at": [1]})
    )
    client = client_for(sandbox, timeout=0.3)

    url = None if on == "submit" else _poll_url(client)

    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        _submit(client) if url is None else client.get(url)

    assert time.monotonic() - started < 5
    assert sandbox.stats()["agents"]["a"]["runs_accepted"] == 1


def test_withhold_releases_after_seconds(
    sandbox_from_file: StartFromFile, client_for: ClientFor
) -> None:
    sandbox = sandbox_from_file(
        _scenario({"kind": "withhold", "on": "submit", "seconds": 0.2})
    )

    started = time.monotonic()
    response = _submit(client_for(sandbox))

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("on", ["submit", "poll"])
def test_malformed_json(
    sandbox_from_file: StartFromFile, client_for: ClientFor, on: str
) -> None:
    sandbox = sandbox_from_file(
        _scenario({"kind": "malformed_json", "on": on, "at": [1]})
    )
    client = client_for(sandbox)

    response = _submit(client) if on == "submit" else client.get(_poll_url(client))

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_poll_completed_missing(
    sandbox_from_file: StartFromFile, client_for: ClientFor
) -> None:
    sandbox = sandbox_from_file(
        _scenario({"kind": "missing_fields", "on": "poll", "fields": ["completed"]})
    )
    client = client_for(sandbox)

    body = client.get(_poll_url(client)).json()

    assert "completed" not in body
    assert body["status"] == "SUCCESS"


def test_poll_completed_wrong_type(
    sandbox_from_file: StartFromFile, client_for: ClientFor
) -> None:
    sandbox = sandbox_from_file(
        _scenario(
            {"kind": "wrong_type", "on": "poll", "values": {"completed": "false"}}
        )
    )
    client = client_for(sandbox)

    body = client.get(_poll_url(client)).json()

    assert body["completed"] == "false"


def test_submit_request_id_missing(
    sandbox_from_file: StartFromFile, client_for: ClientFor
) -> None:
    sandbox = sandbox_from_file(
        _scenario({"kind": "missing_fields", "on": "submit", "fields": ["requestId"]})
    )

    body = _submit(client_for(sandbox)).json()

    assert "requestId" not in body
    assert body["data"].startswith(sandbox.base_url)


@pytest.mark.parametrize("status", ["FAILED", "ERROR", "ABORTED"])
def test_terminal_status(
    sandbox_from_file: StartFromFile, client_for: ClientFor, status: str
) -> None:
    sandbox = sandbox_from_file(
        _scenario(
            {
                "kind": "terminal",
                "status": status,
                "message": "context window exceeded",
                "supplier_error": "too many tokens",
            }
        )
    )
    client = client_for(sandbox)

    body = client.get(_poll_url(client)).json()

    assert body["status"] == status
    assert body["completed"] is True
    assert body["errorMessage"] == "context window exceeded"
    assert body["supplierError"] == "too many tokens"
    assert body["data"]["output"] is None
    request_id = body["requestId"]
    assert sandbox.stats()["requests"][request_id]["status"] == status


def test_success_with_error_message(
    sandbox_from_file: StartFromFile, client_for: ClientFor
) -> None:
    sandbox = sandbox_from_file(
        _scenario({"kind": "success_with_error", "message": "tool crashed"})
    )
    client = client_for(sandbox)

    body = client.get(_poll_url(client)).json()

    assert body["status"] == "SUCCESS"
    assert body["errorMessage"] == "tool crashed"
    assert body["data"]["output"] == "hello"


def test_never_completes(
    sandbox_from_file: StartFromFile, client_for: ClientFor
) -> None:
    sandbox = sandbox_from_file(_scenario({"kind": "never_completes"}, steps=2))
    client = client_for(sandbox)
    url = _poll_url(client)

    bodies = [client.get(url).json() for _ in range(3)]

    assert [b["status"] for b in bodies] == ["IN_PROGRESS"] * 3
    assert [b["completed"] for b in bodies] == [False] * 3
    assert len(bodies[-1]["data"]["steps"]) == 2


def test_schema_violation(
    sandbox_from_file: StartFromFile, client_for: ClientFor
) -> None:
    sandbox = sandbox_from_file(
        _scenario({"kind": "schema_violation"}, output={"kind": "json"})
    )
    client = client_for(sandbox)

    url = _poll_url(client, outputFormat="json", expectedOutput=EXPECTED)
    output = client.get(url).json()["data"]["output"]

    assert "summary" not in output
    assert output["risk"] not in ("low", "medium", "high")


def test_huge_output(sandbox_from_file: StartFromFile, client_for: ClientFor) -> None:
    sandbox = sandbox_from_file(
        _scenario({"kind": "huge_output", "size_bytes": 2_000_000})
    )
    client = client_for(sandbox)

    output = client.get(_poll_url(client)).json()["data"]["output"]

    assert len(output) == 2_000_000


def test_foreign_poll_url(
    sandbox_from_file: StartFromFile, client_for: ClientFor
) -> None:
    sandbox = sandbox_from_file(
        _scenario(
            {
                "kind": "foreign_poll_url",
                "on": "submit",
                "url": "http://127.0.0.2:9/sdk/agents/{request_id}/result",
            }
        )
    )

    body = _submit(client_for(sandbox)).json()

    assert body["data"] == f"http://127.0.0.2:9/sdk/agents/{body['requestId']}/result"


@pytest.mark.parametrize(
    ("text", "status"),
    [("The database is down", "FAILED"), ("Disk is full", "SUCCESS")],
)
def test_query_matches_selects_runs(
    sandbox_from_file: StartFromFile, client_for: ClientFor, text: str, status: str
) -> None:
    sandbox = sandbox_from_file(
        _scenario({"kind": "terminal", "status": "FAILED", "query_matches": "database"})
    )
    client = client_for(sandbox)
    response = _submit(client, text)

    body = client.get(response.json()["data"]).json()

    assert body["status"] == status


def test_times_fires_first_submits(
    sandbox_from_file: StartFromFile, client_for: ClientFor
) -> None:
    sandbox = sandbox_from_file(
        _scenario({"kind": "http_status", "on": "submit", "status": 503, "times": 2})
    )
    client = client_for(sandbox)

    statuses = [_submit(client).status_code for _ in range(4)]

    assert statuses == [503, 503, 200, 200]


def test_probability_seeded_repeatable(
    sandbox_from_file: StartFromFile, client_for: ClientFor
) -> None:
    scenario = _scenario(
        {"kind": "http_status", "on": "submit", "status": 500, "probability": 0.5}
    )
    first = client_for(sandbox_from_file(scenario))
    second = client_for(sandbox_from_file(scenario))

    first_statuses = [_submit(first).status_code for _ in range(20)]
    second_statuses = [_submit(second).status_code for _ in range(20)]

    assert first_statuses == second_statuses
    assert set(first_statuses) == {200, 500}


def test_schedule_at_poll_numbers(
    sandbox_from_file: StartFromFile, client_for: ClientFor
) -> None:
    sandbox = sandbox_from_file(
        _scenario({"kind": "http_status", "on": "poll", "status": 502, "at": [2, 3]})
    )
    client = client_for(sandbox)
    url = _poll_url(client)

    statuses = [client.get(url).status_code for _ in range(4)]

    assert statuses == [200, 502, 502, 200]
    assert sandbox.stats()["agents"]["a"]["polls_served"] == 4
