"""AixplainAgentRunOperator through dag.test() against the sandbox over real HTTP."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG
from structlog.testing import capture_logs

from aixplain_provider.operators.aixplain import AixplainAgentRunOperator

START = datetime(2026, 1, 1)
TRIAGE_OUTPUT = {
    "summary": "string",
    "risk": "low|medium|high",
    "recommendedActions": ["string"],
}
MODES = pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])


def one_task_dag(dag_id: str, **operator_args: Any) -> DAG:
    """Return a DAG with one operator task ``run`` built from ``operator_args``."""
    default_args = {"retries": 2, "retry_delay": timedelta(seconds=0)}
    with DAG(dag_id, schedule=None, start_date=START, default_args=default_args) as dag:
        AixplainAgentRunOperator(task_id="run", **operator_args)
    return dag


@MODES
def test_operator_returns_output_and_request_id(
    deferrable, aixplain_sandbox, aixplain_connection, dag_id, run_dag, xcoms
):
    aixplain_connection(aixplain_sandbox)
    dag = one_task_dag(
        dag_id, agent_id="echo", query="disk full on db-7", deferrable=deferrable
    )

    dag_run = run_dag(dag)
    values = xcoms(dag_run)

    assert dag_run.state == "success"
    assert values[("run", "return_value")] == "disk full on db-7"
    assert values[("run", "request_id")].startswith("echo__")
    assert (
        values[("run", "run_metadata")]["request_id"] == values[("run", "request_id")]
    )
    assert values[("run", "run_metadata")]["fallback_used"] is False


@MODES
def test_operator_falls_back_after_remote_failure(
    deferrable, aixplain_sandbox, aixplain_connection, dag_id, run_dag, xcoms
):
    aixplain_connection(aixplain_sandbox)
    dag = one_task_dag(
        dag_id,
        agent_id="triage-primary",
        fallbacks=["triage-secondary"],
        query="The primary database rejects writes",
        output_format="json",
        expected_output=TRIAGE_OUTPUT,
        deferrable=deferrable,
    )

    dag_run = run_dag(dag)
    values = xcoms(dag_run)
    metadata = values[("run", "run_metadata")]
    agents = aixplain_sandbox.stats()["agents"]

    assert dag_run.state == "success"
    assert metadata["agent_id"] == "triage-secondary"
    assert metadata["fallback_used"] is True
    assert values[("run", "request_id")].startswith("triage-secondary__")
    assert set(values[("run", "return_value")]) == set(TRIAGE_OUTPUT)
    assert agents["triage-primary"]["runs_accepted"] == 1
    assert agents["triage-secondary"]["runs_accepted"] == 1


@MODES
def test_operator_metadata_lists_every_attempt(
    deferrable, aixplain_sandbox, aixplain_connection, dag_id, run_dag, xcoms
):
    aixplain_connection(aixplain_sandbox)
    dag = one_task_dag(
        dag_id,
        agent_id="triage-primary",
        fallbacks=["triage-secondary"],
        query="The primary database rejects writes",
        output_format="json",
        deferrable=deferrable,
    )

    dag_run = run_dag(dag)
    attempts = xcoms(dag_run)[("run", "run_metadata")]["attempts"]
    known = aixplain_sandbox.stats()["requests"]

    assert [a["agent_id"] for a in attempts] == ["triage-primary", "triage-secondary"]
    assert [a["outcome"] for a in attempts] == ["remote_failure", "success"]
    assert all(a["request_id"] in known for a in attempts)
    assert attempts[1]["duration"] > 0.1


@MODES
def test_operator_rejected_key_fails_without_retry(
    deferrable,
    aixplain_sandbox_factory,
    aixplain_connection,
    dag_id,
    run_dag,
    task_instances,
):
    sandbox = aixplain_sandbox_factory(
        {"api_keys": ["the-right-key"], "agents": {"echo": {}}}
    )
    aixplain_connection(sandbox, password="a-wrong-key")
    dag = one_task_dag(dag_id, agent_id="echo", query="hi", deferrable=deferrable)

    dag_run = run_dag(dag)
    instance = task_instances(dag_run)["run"]

    assert dag_run.state == "failed"
    assert instance.state == "failed"
    assert instance.try_number == 1
    assert sandbox.stats()["agents"]["echo"]["runs_accepted"] == 0


@MODES
@pytest.mark.parametrize(
    "connection",
    [
        pytest.param({"extra": {"request_timeout": "soon"}}, id="non-number-extra"),
        pytest.param({"extra": {"retry_max_delay": -1}}, id="negative-extra"),
        pytest.param({"password": ""}, id="no-key"),
        pytest.param(None, id="missing"),
    ],
)
def test_operator_bad_connection_fails_without_retry(
    deferrable,
    connection,
    aixplain_sandbox,
    aixplain_connection,
    dag_id,
    run_dag,
    task_instances,
):
    if connection is None:
        dag = one_task_dag(
            dag_id,
            agent_id="echo",
            query="hi",
            deferrable=deferrable,
            aixplain_conn_id="no_such_connection",
        )
    else:
        aixplain_connection(aixplain_sandbox, **connection)
        dag = one_task_dag(dag_id, agent_id="echo", query="hi", deferrable=deferrable)

    dag_run = run_dag(dag)
    instance = task_instances(dag_run)["run"]

    assert dag_run.state == "failed"
    assert instance.try_number == 1
    assert aixplain_sandbox.stats()["agents"]["echo"]["runs_accepted"] == 0


@MODES
def test_operator_terminal_failure_without_fallback_fails(
    deferrable, aixplain_sandbox, aixplain_connection, dag_id, run_dag, task_instances
):
    aixplain_connection(aixplain_sandbox)
    dag = one_task_dag(
        dag_id,
        agent_id="triage-primary",
        query="database outage on orders",
        output_format="json",
        deferrable=deferrable,
        retries=0,
    )

    dag_run = run_dag(dag)

    assert dag_run.state == "failed"
    assert task_instances(dag_run)["run"].state == "failed"


class MemoryTaskStateStore:
    """In-memory stand-in for ``context["task_state_store"]``."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


class RecordingTaskInstance:
    """Stand-in for ``context["ti"]`` that keeps pushed XComs in a dict."""

    try_number = 1
    max_tries = 0

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def kill_messages(operator: AixplainAgentRunOperator) -> list[str]:
    """Call ``on_kill`` and return the formatted warnings it logged."""
    with capture_logs() as entries:
        operator.on_kill()
    return [
        entry["event"] % tuple(entry.get("positional_args", ()))
        for entry in entries
        if entry["log_level"] == "warning"
    ]


def test_on_kill_logs_request_id_of_run(aixplain_sandbox_factory, aixplain_connection):
    # The agent runs for 2 s, so on_kill runs while execute() still waits, as when
    # Airflow kills a running task.
    sandbox = aixplain_sandbox_factory({"agents": {"echo": {"duration": 2.0}}})
    aixplain_connection(sandbox)
    operator = AixplainAgentRunOperator(
        task_id="run", agent_id="echo", query="long job", deferrable=False
    )
    ti = RecordingTaskInstance()
    context = {"ti": ti, "task_state_store": MemoryTaskStateStore()}
    outcome: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: outcome.update(output=operator.execute(context)), daemon=True
    )

    worker.start()
    deadline = time.monotonic() + 10
    while "request_id" not in ti.xcoms and time.monotonic() < deadline:
        time.sleep(0.05)
    messages = kill_messages(operator)
    worker.join(timeout=30)

    request_id = ti.xcoms["request_id"]
    assert len(messages) == 1
    assert f"request_id={request_id}" in messages[0]
    assert "cannot cancel a run" in messages[0]
    assert not worker.is_alive()
    assert outcome["output"] == "long job"
    assert sandbox.stats()["agents"]["echo"]["runs_accepted"] == 1


def test_on_kill_before_submit_logs_no_run():
    operator = AixplainAgentRunOperator(task_id="run", agent_id="echo", query="hi")

    messages = kill_messages(operator)

    assert len(messages) == 1
    assert "no request_id to report" in messages[0]
    assert "cannot cancel a run" in messages[0]
