"""The sandbox stops a run at the request's maxTime, as the service does."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from aixplain_agents.sandbox import Sandbox


def submit(client: httpx.Client, agent_id: str, max_time: int | None) -> str:
    params = {} if max_time is None else {"maxTime": max_time}
    body = {"query": {"input": "hi"}, "executionParams": params}
    response = client.post(f"/v2/agents/{agent_id}/run", json=body)
    response.raise_for_status()
    return str(response.json()["requestId"])


def poll_until_done(client: httpx.Client, request_id: str, bound: float) -> dict:
    ends = time.monotonic() + bound
    while time.monotonic() < ends:
        body = client.get(f"/sdk/agents/{request_id}/result").json()
        if body["completed"]:
            return dict(body)
        time.sleep(0.1)
    raise AssertionError(f"run {request_id} did not finish within {bound} s")


def test_run_past_max_time_fails(
    aixplain_sandbox_factory: Callable[..., Sandbox],
    client_for: Callable[[Sandbox], httpx.Client],
) -> None:
    sandbox = aixplain_sandbox_factory({"agents": {"a": {"duration": 30}}})
    client = client_for(sandbox)
    started = time.monotonic()
    request_id = submit(client, "a", max_time=1)
    body = poll_until_done(client, request_id, bound=5)
    assert body["status"] == "FAILED"
    assert "maxTime of 1 s" in body["errorMessage"]
    assert 0.9 <= time.monotonic() - started < 3


def test_never_completing_run_ignores_max_time(
    aixplain_sandbox_factory: Callable[..., Sandbox],
    client_for: Callable[[Sandbox], httpx.Client],
) -> None:
    hung = {"duration": 0, "faults": [{"kind": "never_completes"}]}
    sandbox = aixplain_sandbox_factory({"agents": {"a": hung}})
    client = client_for(sandbox)
    request_id = submit(client, "a", max_time=1)
    time.sleep(1.3)
    body = client.get(f"/sdk/agents/{request_id}/result").json()
    assert body["status"] == "IN_PROGRESS"


def test_run_within_max_time_succeeds(
    aixplain_sandbox_factory: Callable[..., Sandbox],
    client_for: Callable[[Sandbox], httpx.Client],
) -> None:
    sandbox = aixplain_sandbox_factory({"agents": {"a": {"duration": 0.1}}})
    client = client_for(sandbox)
    request_id = submit(client, "a", max_time=5)
    assert poll_until_done(client, request_id, bound=5)["status"] == "SUCCESS"


@pytest.mark.parametrize("max_time", [7, None])
def test_stats_record_max_time(
    aixplain_sandbox_factory: Callable[..., Sandbox],
    client_for: Callable[[Sandbox], httpx.Client],
    max_time: int | None,
) -> None:
    sandbox = aixplain_sandbox_factory({"agents": {"a": {"duration": 0}}})
    request_id = submit(client_for(sandbox), "a", max_time=max_time)
    assert sandbox.stats()["requests"][request_id]["max_time"] == max_time
