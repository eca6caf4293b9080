"""End to end: a real Prefect server, the triage flow served, a run started by the CLI.

Everything binds to 127.0.0.1. Every wait is bounded, and the processes this test
starts are stopped by their PIDs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aixplain_agents.sandbox import Sandbox
from prefect_aixplain import artifact_key

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags" / "prefect"
BIN = Path(sys.executable).parent
SERVER_START_TIMEOUT = 60.0
DEPLOYMENT_TIMEOUT = 60.0
RUN_TIMEOUT = 120

# The runner starts each flow run with multiprocessing's spawn method, which imports
# this script again, so everything runs under the __main__ guard.
SERVE_SCRIPT = """
import os, sys
sys.path.insert(0, {examples!r})
from incident_triage import incident_triage
from prefect_aixplain import AixplainCredentials

if __name__ == "__main__":
    AixplainCredentials(
        api_key=os.environ["SANDBOX_API_KEY"], base_url=os.environ["SANDBOX_BASE_URL"]
    ).save("e2e", overwrite=True)
    incident_triage.serve(name="e2e", limit=1)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def wait_for(url: str, timeout: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"process exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer 200 within {timeout} s")


@pytest.fixture
def server_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "home"),
        "PREFECT_PROFILES_PATH": str(tmp_path / "profiles.toml"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
    }
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
         "--port", str(port), "--no-ui", "--analytics-off"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(f"{env['PREFECT_API_URL']}/health", SERVER_START_TIMEOUT, server)
        yield env
    finally:
        stop(server)
        log.close()


def api(env: dict[str, str], path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{env['PREFECT_API_URL']}{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def test_served_flow_records_artifacts(
    server_env: dict[str, str], sandbox: Sandbox, tmp_path: Path
) -> None:
    script = tmp_path / "serve.py"
    script.write_text(SERVE_SCRIPT.format(examples=str(EXAMPLES)))
    env = {
        **server_env,
        "SANDBOX_API_KEY": sandbox.api_key,
        "SANDBOX_BASE_URL": sandbox.base_url,
    }
    log = (tmp_path / "serve.log").open("wb")
    served = subprocess.Popen(
        [sys.executable, str(script)],
        env=env, cwd=EXAMPLES, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deployment_url = (
            f"{env['PREFECT_API_URL']}/deployments/name/incident-triage/e2e"
        )
        wait_for(deployment_url, DEPLOYMENT_TIMEOUT, served)
        completed = subprocess.run(
            [str(BIN / "prefect"), "deployment", "run", "incident-triage/e2e",
             "--param", "credentials_block_name=e2e",
             "--watch", "--watch-timeout", str(RUN_TIMEOUT)],
            env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT + 30,
            check=False,
        )  # fmt: skip
    finally:
        stop(served)
        log.close()

    assert completed.returncode == 0, completed.stdout + completed.stderr
    runs = api(env, "/flow_runs/filter", {"flow_runs": {"name": {}}, "limit": 10})
    runs = [run for run in runs if run["state_type"] == "COMPLETED"]
    assert len(runs) == 1
    artifacts = api(
        env,
        "/artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": [runs[0]["id"]]}}, "limit": 200},
    )
    tables = {
        a["key"]: json.loads(a["data"])[0] for a in artifacts if a["type"] == "table"
    }
    for line in (EXAMPLES.parent / "data" / "incidents.jsonl").read_text().splitlines():
        incident = json.loads(line)
        for stage in ("triage", "root-cause", "status-page"):
            row = tables[artifact_key(incident["id"], stage)]
            assert row["status"] == "SUCCESS"
            assert row["request_id"]
    assert any(row["fallback_used"] for row in tables.values())
