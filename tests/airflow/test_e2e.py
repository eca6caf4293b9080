"""End to end: real Airflow components on 127.0.0.1 run the incident-triage DAG.

The test starts the api-server, dag-processor, scheduler (LocalExecutor) and triggerer
itself, on a throwaway AIRFLOW_HOME with SQLite, with the DAGs folder at
``example_dags/airflow`` and ``aixplain_default`` pointing at a sandbox. It triggers
the DAG over the REST API and checks the outcome over the REST API and the sandbox.
``airflow standalone`` is not used because its log servers bind all interfaces.

Every server binds 127.0.0.1: the log servers are skipped, the scheduler health
check server is off, and a check of the listening sockets enforces it. Every wait is
bounded. Each component runs in its own process group, which teardown stops with
SIGTERM and then SIGKILL, by process group id.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags" / "airflow"
DATA = EXAMPLES.parent / "data"
AIRFLOW = Path(sys.executable).parent / "airflow"
DAG_ID = "incident_triage"
DEFERRABLE_STAGES = ("triage", "root-cause")
TRIGGER_CLASS = "aixplain_provider.triggers.aixplain.AixplainAgentRunTrigger"

# On a 2-core machine the four components were healthy in about 11 s and the DAG
# run took about 21 s, so these bounds leave ample headroom for slower machines.
MIGRATE_TIMEOUT = 120.0
STARTUP_TIMEOUT = 120.0
DAG_PARSE_TIMEOUT = 120.0
DAG_RUN_TIMEOUT = 300.0
STOP_TIMEOUT = 20.0
LOG_TAIL_LINES = 40


@dataclass
class Component:
    """One Airflow component started by this test, with its output file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def tail(self) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-LOG_TAIL_LINES:])


@dataclass
class Deployment:
    """A running Airflow deployment: its REST API client, home and components."""

    api: httpx.Client
    home: Path
    components: dict[str, Component]

    def assert_running(self) -> None:
        for component in self.components.values():
            code = component.process.poll()
            assert code is None, (
                f"airflow {component.name} exited with {code}:\n{component.tail()}"
            )

    def diagnostics(self) -> str:
        return "\n".join(
            f"--- airflow {c.name} (last {LOG_TAIL_LINES} lines):\n{c.tail()}"
            for c in self.components.values()
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_env(home: Path, port: int, sandbox: Any) -> dict[str, str]:
    """Return the environment of every component, without inherited Airflow settings."""
    connection = {
        "conn_type": "aixplain",
        "host": sandbox.base_url,
        "password": sandbox.api_key,
    }
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # Few task processes at once keep memory and CPU within a small machine.
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": (
                f"http://127.0.0.1:{port}/execution/"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_ON": "False",
            "AIRFLOW__METRICS__OTEL_ON": "False",
            "AIRFLOW__TRACES__OTEL_ON": "False",
            "AIRFLOW_CONN_AIXPLAIN_DEFAULT": json.dumps(connection),
        }
    )
    return env


def start(name: str, args: list[str], env: dict[str, str], logs: Path) -> Component:
    """Start ``airflow <args>`` in a new process group, output to a log file."""
    log_path = logs / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(AIRFLOW), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Component(name, process, log_path)


def stop_all(components: list[Component]) -> None:
    """SIGTERM each component's process group, wait a bounded time, then SIGKILL."""
    for component in components:
        _signal_group(component.process, signal.SIGTERM)

    deadline = time.monotonic() + STOP_TIMEOUT
    for component in components:
        with contextlib.suppress(subprocess.TimeoutExpired):
            component.process.wait(timeout=max(deadline - time.monotonic(), 0.1))

    # Children (task processes, executor workers, the trigger runner) may outlive
    # their parent, so the whole group is killed even when the parent has exited.
    for component in components:
        _signal_group(component.process, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            component.process.wait(timeout=5)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    # The process group id equals the PID because of start_new_session=True.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def wait_until(
    deployment: Deployment, timeout: float, description: str, check: Any
) -> Any:
    """Call ``check()`` every second until it returns a truthy value or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deployment.assert_running()
        try:
            value = check()
        except httpx.TransportError:
            value = None
        if value:
            return value
        time.sleep(1)
    message = f"timed out after {timeout} s waiting for {description}"
    raise AssertionError(f"{message}\n{deployment.diagnostics()}")


def api_token(base_url: str) -> str | None:
    """Return a JWT for the REST API, or None while the api-server is not up."""
    response = httpx.get(f"{base_url}/auth/token", timeout=5)
    if response.status_code != 201:
        return None
    return str(response.json()["access_token"])


@pytest.fixture
def deployment(tmp_path: Path, aixplain_sandbox: Any) -> Iterator[Deployment]:
    """Migrate a fresh metadata DB, start the four components, yield when healthy."""
    home = tmp_path / "airflow-home"
    logs = tmp_path / "component-logs"
    home.mkdir()
    logs.mkdir()
    port = free_port()
    env = airflow_env(home, port, aixplain_sandbox)

    migrate = subprocess.run(
        [str(AIRFLOW), "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=MIGRATE_TIMEOUT,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr

    api_server = ["api-server", "--host", "127.0.0.1", "--port", str(port), "-w", "1"]
    commands = {
        "api-server": api_server,
        "dag-processor": ["dag-processor"],
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "triggerer": ["triggerer", "--skip-serve-logs"],
    }
    base_url = f"http://127.0.0.1:{port}"
    deployment = Deployment(
        api=httpx.Client(base_url=base_url, timeout=30), home=home, components={}
    )
    try:
        for name, args in commands.items():
            deployment.components[name] = start(name, args, env, logs)
        token = wait_until(
            deployment, STARTUP_TIMEOUT, "an API token", lambda: api_token(base_url)
        )
        deployment.api.headers["Authorization"] = f"Bearer {token}"
        wait_until(
            deployment,
            STARTUP_TIMEOUT,
            "a healthy scheduler, triggerer and dag-processor",
            lambda: components_healthy(deployment.api),
        )
        yield deployment
    finally:
        deployment.api.close()
        stop_all(list(deployment.components.values()))


def components_healthy(api: httpx.Client) -> bool:
    health = api.get("/api/v2/monitor/health").json()
    return all(
        health.get(name, {}).get("status") == "healthy"
        for name in ("metadatabase", "scheduler", "triggerer", "dag_processor")
    )


def incident_ids() -> list[str]:
    lines = (DATA / "incidents.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["id"] for line in lines if line.strip()]


def pipeline_stages() -> list[dict[str, Any]]:
    pipeline = json.loads((DATA / "pipeline.json").read_text(encoding="utf-8"))
    return list(pipeline["stages"])


def get_json(api: httpx.Client, path: str, **params: Any) -> Any:
    response = api.get(path, params=params)
    assert response.status_code == 200, f"GET {path}: {response.text}"
    return response.json()


def trigger_dag_run(deployment: Deployment) -> str:
    """Wait for the DAG to be parsed, trigger one run and return its run id."""
    api = deployment.api
    wait_until(
        deployment,
        DAG_PARSE_TIMEOUT,
        f"the DAG {DAG_ID} to be parsed",
        lambda: api.get(f"/api/v2/dags/{DAG_ID}").status_code == 200,
    )
    response = api.post(f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None})
    assert response.status_code == 200, response.text
    return str(response.json()["dag_run_id"])


def wait_for_dag_run(deployment: Deployment, run_id: str) -> str:
    """Wait until the run is in a finished state and return that state."""
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"

    def finished_state() -> str | None:
        state = get_json(deployment.api, path)["state"]
        return state if state in ("success", "failed") else None

    return str(
        wait_until(deployment, DAG_RUN_TIMEOUT, f"DAG run {run_id}", finished_state)
    )


def xcom_value(api: httpx.Client, run_id: str, task_id: str, key: str) -> Any:
    path = (
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}"
        f"/xcomEntries/{key}"
    )
    return get_json(api, path, deserialize=True)["value"]


def task_log_events(
    deployment: Deployment, run_id: str, task_id: str, last_try: int
) -> list[dict[str, Any]]:
    """Return the structured log lines of every try, including the trigger's lines.

    The REST API returns 404 for an earlier try that the scheduler retried while it
    was still queued, so such a try's log files are read from the logs folder.
    """
    lines: list[dict[str, Any]] = []
    for try_number in range(1, last_try + 1):
        path = (
            f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}"
            f"/logs/{try_number}"
        )
        response = deployment.api.get(
            path, params={"full_content": True}, headers={"Accept": "application/json"}
        )
        if response.status_code == 404 and try_number < last_try:
            lines += log_file_events(deployment.home, run_id, task_id, try_number)
            continue
        assert response.status_code == 200, f"GET {path}: {response.text}"
        content = response.json()["content"]
        lines += [line for line in content if isinstance(line, dict)]
    return lines


def log_file_events(
    home: Path, run_id: str, task_id: str, try_number: int
) -> list[dict[str, Any]]:
    """Return the JSON log lines of one try's task and trigger log files."""
    folder = home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
    folder = folder / f"task_id={task_id}"
    lines: list[dict[str, Any]] = []
    for log_file in sorted(folder.glob(f"attempt={try_number}.log*")):
        for text in log_file.read_text(errors="replace").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                lines.append(json.loads(text))
    return lines


def has_event(lines: list[dict[str, Any]], text: str, logger: str = "") -> bool:
    """Whether a log line contains ``text`` in its message, from ``logger`` if set."""
    return any(
        text in str(line.get("event", ""))
        and (not logger or line.get("logger") == logger)
        for line in lines
    )


def listening_addresses(components: dict[str, Component]) -> dict[str, set[str]]:
    """Map each component to the local IPs its process tree listens on over TCP."""
    addresses: dict[str, set[str]] = {}
    for name, component in components.items():
        found: set[str] = set()
        parent = psutil.Process(component.process.pid)
        for process in [parent, *parent.children(recursive=True)]:
            try:
                connections = process.net_connections(kind="inet")
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            found |= {
                conn.laddr.ip
                for conn in connections
                if conn.status == psutil.CONN_LISTEN
            }
        addresses[name] = found
    return addresses


def test_incident_triage_runs_on_real_components(
    deployment: Deployment, aixplain_sandbox: Any
) -> None:
    api = deployment.api
    incidents = incident_ids()
    stages = pipeline_stages()
    started = time.monotonic()

    run_id = trigger_dag_run(deployment)
    run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"
    state = wait_for_dag_run(deployment, run_id)
    print(f"DAG run {run_id} ended {state} in {time.monotonic() - started:.1f} s")
    listening = listening_addresses(deployment.components)

    assert state == "success", deployment.diagnostics()

    # Every server of every component binds the loopback address only.
    for name, addresses in listening.items():
        assert addresses <= {"127.0.0.1"}, (name, addresses)
    assert listening["api-server"] == {"127.0.0.1"}

    # Every stage task pushed the request id of a run the sandbox accepted.
    sandbox_stats = aixplain_sandbox.stats()
    fallbacks = 0
    for incident in incidents:
        for stage in stages:
            task_id = f"{incident}.{stage['name']}"
            request_id = xcom_value(api, run_id, task_id, "request_id")
            metadata = xcom_value(api, run_id, task_id, "run_metadata")
            assert request_id in sandbox_stats["requests"], task_id
            assert metadata["request_id"] == request_id, task_id
            assert metadata["status"] == "SUCCESS", task_id
            fallbacks += bool(metadata["fallback_used"])

    # The status-page stage got its variables from pipeline.json.
    for incident in incidents:
        update = xcom_value(api, run_id, f"{incident}.status-page", "return_value")
        assert "Next update in 30 minutes" in update, incident

    # The deferrable stages were deferred, and our trigger ran in the triggerer. Its
    # lines reach the task log from there, next to the triggerer's own lines.
    for incident in incidents:
        for stage_name in DEFERRABLE_STAGES:
            task_id = f"{incident}.{stage_name}"
            request_id = xcom_value(api, run_id, task_id, "request_id")
            # Under CPU load, Airflow 3.3.2 may retry a task that already returned its
            # output, and that retry returns it without deferring again.
            instance = get_json(api, f"{run_path}/taskInstances/{task_id}")
            lines = task_log_events(deployment, run_id, task_id, instance["try_number"])
            polling = "Polling aiXplain run agent="
            assert has_event(lines, "Pausing task as DEFERRED"), task_id
            assert has_event(lines, polling, logger=TRIGGER_CLASS), task_id
            assert has_event(lines, f"request_id={request_id}", TRIGGER_CLASS), task_id
            assert has_event(lines, "Trigger fired event"), task_id
            assert has_event(lines, "aiXplain run succeeded: agent="), task_id

    # One accepted run per stage and incident, plus one per fallback, so no run was
    # submitted twice.
    accepted = {
        agent: counters["runs_accepted"]
        for agent, counters in sandbox_stats["agents"].items()
    }
    assert fallbacks >= 1
    assert sum(accepted.values()) == len(incidents) * len(stages) + fallbacks
    for stage in stages:
        assert accepted[stage["agent_id"]] == len(incidents), stage["name"]
    fallback_agents = {agent for stage in stages for agent in stage["fallbacks"]}
    assert sum(accepted.get(agent, 0) for agent in fallback_agents) == fallbacks
