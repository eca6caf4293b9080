"""AixplainAgentRunSensor waits for a run submitted elsewhere, in every mode."""

from __future__ import annotations

from datetime import datetime

import pytest
from airflow.sdk import DAG

from aixplain_agents import AgentClient
from aixplain_provider.sensors.aixplain import AixplainAgentRunSensor

START = datetime(2026, 1, 1)
SENSOR_MODES = [
    pytest.param({"mode": "poke"}, id="poke"),
    pytest.param({"mode": "reschedule"}, id="reschedule"),
    pytest.param({"deferrable": True}, id="deferrable"),
]


def submit(sandbox, agent_id: str, query: str) -> str:
    with AgentClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as client:
        return client.submit(agent_id, query).request_id


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_sensor_returns_output_of_run(
    mode, aixplain_sandbox_factory, aixplain_connection, dag_id, run_dag, xcoms
):
    sandbox = aixplain_sandbox_factory({"agents": {"echo": {"duration": 3.0}}})
    aixplain_connection(sandbox)
    request_id = submit(sandbox, "echo", "sensed")
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        AixplainAgentRunSensor(
            task_id="wait",
            request_id=request_id,
            agent_id="echo",
            poke_interval=1,
            timeout=60,
            **mode,
        )

    dag_run = run_dag(dag)
    values = xcoms(dag_run)

    assert dag_run.state == "success"
    assert values[("wait", "return_value")] == "sensed"
    assert values[("wait", "request_id")] == request_id
    assert sandbox.stats()["agents"]["echo"]["runs_accepted"] == 1


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_sensor_failed_run_fails_task(
    mode, aixplain_sandbox_factory, aixplain_connection, dag_id, run_dag
):
    fault = {"kind": "terminal", "status": "FAILED", "message": "down"}
    sandbox = aixplain_sandbox_factory({"agents": {"echo": {"faults": [fault]}}})
    aixplain_connection(sandbox)
    request_id = submit(sandbox, "echo", "doomed")
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        AixplainAgentRunSensor(
            task_id="wait", request_id=request_id, poke_interval=1, timeout=60, **mode
        )

    dag_run = run_dag(dag)

    assert dag_run.state == "failed"


def test_sensor_poke_rides_out_poll_errors(
    aixplain_sandbox_factory, aixplain_connection, dag_id, run_dag, xcoms
):
    fault = {"kind": "http_status", "on": "poll", "status": 503, "times": 2}
    agent = {"duration": 0.2, "faults": [fault]}
    sandbox = aixplain_sandbox_factory({"agents": {"echo": agent}})
    aixplain_connection(sandbox)
    request_id = submit(sandbox, "echo", "sensed")
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        AixplainAgentRunSensor(
            task_id="wait",
            request_id=request_id,
            agent_id="echo",
            mode="poke",
            poke_interval=0.2,
            timeout=60,
        )

    dag_run = run_dag(dag)

    assert dag_run.state == "success"
    assert xcoms(dag_run)[("wait", "return_value")] == "sensed"
    assert sandbox.stats()["requests"][request_id]["polls"] >= 3
