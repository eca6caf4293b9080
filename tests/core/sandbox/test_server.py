"""Sandbox lifecycle: the context manager, serve() under signals, the pytest plugin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from aixplain_agents.sandbox import Sandbox, ScenarioError

SERVE_SCRIPT = textwrap.dedent(
    """
    import sys
    from aixplain_agents.sandbox import serve

    def ready(url):
        print("READY " + url, flush=True)

    serve("127.0.0.1", 0, sys.argv[1] if len(sys.argv) > 1 else None, ready)
    print("STOPPED", flush=True)
    """
)


def test_sandbox_context_starts_and_stops() -> None:
    with Sandbox() as sandbox:
        url = sandbox.base_url
        response = httpx.get(f"{url}/v2/agents/echo", headers={"x-api-key": "k"})
        assert response.status_code == 200

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v2/agents/echo", timeout=1)
    with pytest.raises(RuntimeError, match="not running"):
        _ = sandbox.base_url


def test_sandbox_stop_releases_withheld_response() -> None:
    scenario = {
        "agents": {
            "a": {"faults": [{"kind": "withhold", "on": "submit", "seconds": 60}]}
        }
    }
    sandbox = Sandbox(scenario).start()
    client = httpx.Client(timeout=30)

    errors: list[BaseException] = []

    def submit() -> None:
        try:
            client.post(
                f"{sandbox.base_url}/v2/agents/a/run",
                json={"query": {"input": "x"}},
                headers={"x-api-key": "k"},
            )
        except httpx.HTTPError as exc:
            errors.append(exc)

    worker = threading.Thread(target=submit)
    worker.start()
    time.sleep(0.2)
    started = time.monotonic()
    sandbox.stop()
    worker.join(10)
    client.close()

    assert time.monotonic() - started < 5
    assert not worker.is_alive()


def test_sandbox_reset_and_requests() -> None:
    with Sandbox() as sandbox:
        headers = {"x-api-key": sandbox.api_key}
        httpx.post(
            f"{sandbox.base_url}/v2/agents/echo/run",
            json={"query": {"input": "x"}},
            headers=headers,
        )
        assert sandbox.stats()["agents"]["echo"]["runs_accepted"] == 1
        assert sandbox.requests()[-1]["path"] == "/v2/agents/echo/run"

        sandbox.reset()

        assert sandbox.stats()["agents"]["echo"]["runs_accepted"] == 0
        assert sandbox.requests() == []


def test_sandbox_invalid_scenario_raises() -> None:
    with pytest.raises(ScenarioError, match=r"agents\.a\.duration"):
        Sandbox({"agents": {"a": {"duration": -1}}})


@pytest.mark.anyio
async def test_sandbox_inside_running_event_loop() -> None:
    with Sandbox() as sandbox:
        async with httpx.AsyncClient(base_url=sandbox.base_url) as client:
            response = await client.get(
                "/v2/agents/echo", headers={"x-api-key": sandbox.api_key}
            )
        stats = sandbox.stats()

    assert response.status_code == 200
    assert stats["agents"]["echo"]["polls_served"] == 0


def test_plugin_fixture_default_scenario(aixplain_sandbox: Sandbox) -> None:
    response = httpx.get(
        f"{aixplain_sandbox.base_url}/v2/agents/triage-primary",
        headers={"x-api-key": aixplain_sandbox.api_key},
    )

    assert response.json()["outputFormat"] == "json"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_cleanly_on_signal(tmp_path: Path, signum: int) -> None:
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"agents": {"echo": {}}}), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT, str(scenario)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("READY http://127.0.0.1:")
        url = line.split()[1]
        agent = httpx.get(f"{url}/v2/agents/echo", headers={"x-api-key": "k"})

        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=5)

    assert agent.status_code == 200
    assert process.returncode == 0, stderr
    assert "STOPPED" in stdout


def test_serve_invalid_scenario_raises(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("agents:\n  triage-primary:\n    duration: -1\n", "utf-8")

    process = subprocess.run(
        [sys.executable, "-c", SERVE_SCRIPT, str(scenario)],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert process.returncode != 0
    assert "bad.yaml: agents.triage-primary.duration" in process.stderr
