"""AixplainAgentRunOperator through dag.test() against the sandbox over real HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG

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
