"""Submit once: a retry resumes the stored run instead of submitting a new one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG

from aixplain_provider.operators.aixplain import AixplainAgentRunOperator

START = datetime(2026, 1, 1)
MODES = pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])


class CrashAfterSubmitOperator(AixplainAgentRunOperator):
    """Fails the first try right after the run was submitted and recorded.

    It stands in for a worker that dies between the submit and the first poll.
    """

    def _record_submit(self, context: Any, state: Any, stored: Any) -> None:
        super()._record_submit(context, state, stored)
        if context["ti"].try_number == 1:
            raise RuntimeError("simulated worker crash right after submit")


def retrying_dag(dag_id: str, operator_class: type, **operator_args: Any) -> DAG:
    default_args = {"retries": 2, "retry_delay": timedelta(seconds=0)}
    with DAG(dag_id, schedule=None, start_date=START, default_args=default_args) as dag:
        operator_class(task_id="run", **operator_args)
    return dag


@MODES
def test_resume_after_crash_submits_once(
    deferrable,
    aixplain_sandbox,
    aixplain_connection,
    dag_id,
    run_dag,
    xcoms,
    task_instances,
):
    aixplain_connection(aixplain_sandbox)
    dag = retrying_dag(
        dag_id,
        CrashAfterSubmitOperator,
        agent_id="echo",
        query="resume me",
        deferrable=deferrable,
    )

    dag_run = run_dag(dag)
    values = xcoms(dag_run)
    stats = aixplain_sandbox.stats()

    assert dag_run.state == "success"
    assert task_instances(dag_run)["run"].try_number == 2
    assert stats["agents"]["echo"]["runs_accepted"] == 1
    assert values[("run", "request_id")] in stats["requests"]
    assert values[("run", "return_value")] == "resume me"


@MODES
def test_resume_after_failed_polls_submits_once(
    deferrable,
    aixplain_sandbox_factory,
    aixplain_connection,
    dag_id,
    run_dag,
    task_instances,
):
    # Four malformed poll bodies in a row exhaust the client's invalid-response
    # budget, so the first try fails while the run is still alive on the service.
    fault = {"kind": "malformed_json", "on": "poll", "at": [1, 2, 3, 4]}
    sandbox = aixplain_sandbox_factory(
        {"agents": {"echo": {"duration": 0.3, "faults": [fault]}}}
    )
    aixplain_connection(sandbox)
    dag = retrying_dag(
        dag_id,
        AixplainAgentRunOperator,
        agent_id="echo",
        query="poll me",
        deferrable=deferrable,
    )

    dag_run = run_dag(dag)

    assert dag_run.state == "success"
    assert task_instances(dag_run)["run"].try_number == 2
    assert sandbox.stats()["agents"]["echo"]["runs_accepted"] == 1


def test_retry_after_terminal_failure_submits_again(
    aixplain_sandbox_factory, aixplain_connection, dag_id, run_dag, task_instances
):
    fault = {"kind": "terminal", "status": "FAILED", "at": [1], "message": "boom"}
    sandbox = aixplain_sandbox_factory({"agents": {"echo": {"faults": [fault]}}})
    aixplain_connection(sandbox)
    dag = retrying_dag(dag_id, AixplainAgentRunOperator, agent_id="echo", query="again")

    dag_run = run_dag(dag)

    assert dag_run.state == "success"
    assert task_instances(dag_run)["run"].try_number == 2
    assert sandbox.stats()["agents"]["echo"]["runs_accepted"] == 2


def test_deferred_task_survives_ten_poll_503s(
    aixplain_sandbox_factory, aixplain_connection, dag_id, run_dag, task_instances
):
    fault = {
        "kind": "http_status",
        "status": 503,
        "on": "poll",
        "at": list(range(1, 11)),
        "retry_after": 0,
    }
    sandbox = aixplain_sandbox_factory({"agents": {"echo": {"faults": [fault]}}})
    aixplain_connection(sandbox)
    dag = retrying_dag(
        dag_id,
        AixplainAgentRunOperator,
        agent_id="echo",
        query="ride it out",
        deferrable=True,
    )

    dag_run = run_dag(dag)
    stats = sandbox.stats()
    (request,) = stats["requests"].values()

    assert dag_run.state == "success"
    assert task_instances(dag_run)["run"].try_number == 1
    assert stats["agents"]["echo"]["runs_accepted"] == 1
    assert request["polls"] >= 11
