"""Submit once: a retry resumes the stored run instead of submitting a new one."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG

from aixplain_provider.operators.aixplain import AixplainAgentRunOperator

START = datetime(2026, 1, 1)
MODES = pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])


class CrashAfterSubmitOperator(AixplainAgentRunOperator):
    """Fails the first try right after the run was submitted and recorded.

    It simulates a worker that dies between the submit and the first poll.
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


class FailFirstCompleteOperator(AixplainAgentRunOperator):
    """Fails inside ``execute_complete`` of the first try, while fetching the output.

    It simulates a worker that loses the connection to the service after the
    trigger reported success.
    """

    def _fetch_result(self, client: Any, run: Any, deadline: float) -> Any:
        if self._try_number == 1:
            raise RuntimeError("simulated failure in execute_complete")
        return super()._fetch_result(client, run, deadline)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        self._try_number = context["ti"].try_number
        return super().execute_complete(context, event)


def test_retry_after_execute_complete_failure_resumes(
    aixplain_sandbox, aixplain_connection, dag_id, run_dag, xcoms, task_instances
):
    aixplain_connection(aixplain_sandbox)
    dag = retrying_dag(
        dag_id,
        FailFirstCompleteOperator,
        agent_id="echo",
        query="finish me",
        deferrable=True,
    )

    dag_run = run_dag(dag)
    values = xcoms(dag_run)
    stats = aixplain_sandbox.stats()

    assert dag_run.state == "success"
    assert task_instances(dag_run)["run"].try_number == 2
    assert stats["agents"]["echo"]["runs_accepted"] == 1
    assert values[("run", "request_id")] in stats["requests"]
    assert values[("run", "return_value")] == "finish me"


def stored_run_rows(dag_run: Any, task_id: str) -> list[Any]:
    """Return the task state store rows of one task in one DAG run."""
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskStateStoreModel).filter(
            TaskStateStoreModel.dag_id == dag_run.dag_id,
            TaskStateStoreModel.run_id == dag_run.run_id,
            TaskStateStoreModel.task_id == task_id,
        )
        return [(row.key, row.value) for row in rows]


@MODES
def test_success_marks_stored_run_succeeded(
    deferrable, aixplain_sandbox, aixplain_connection, dag_id, run_dag, xcoms
):
    aixplain_connection(aixplain_sandbox)
    dag = retrying_dag(
        dag_id,
        AixplainAgentRunOperator,
        agent_id="echo",
        query="done",
        deferrable=deferrable,
    )

    dag_run = run_dag(dag)
    rows = stored_run_rows(dag_run, "run")
    (key, value) = rows[0]
    stored = json.loads(value)

    assert dag_run.state == "success"
    assert len(rows) == 1
    assert key == "aixplain_run"
    assert stored["request_id"] == xcoms(dag_run)[("run", "request_id")]
    # retries=2 gives max_tries=2 on the first try.
    assert stored["succeeded_max_tries"] == 2


class LostSuccessReportOperator(AixplainAgentRunOperator):
    """Fails the first try after it returned the output.

    It simulates the scheduler marking a finished try for retry, as LocalExecutor
    did on Airflow 3.3.2 under CPU load for a resumed deferred task.
    """

    def _finish(self, context: Any, state: Any, result: Any, **options: Any) -> Any:
        output = super()._finish(context, state, result, **options)
        if context["ti"].try_number == 1:
            raise RuntimeError("simulated lost success report")
        return output


@MODES
def test_retry_after_lost_success_submits_once(
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
        LostSuccessReportOperator,
        agent_id="echo",
        query="once only",
        deferrable=deferrable,
    )

    dag_run = run_dag(dag)
    values = xcoms(dag_run)
    stats = aixplain_sandbox.stats()

    assert dag_run.state == "success"
    assert task_instances(dag_run)["run"].try_number == 2
    assert stats["agents"]["echo"]["runs_accepted"] == 1
    assert values[("run", "request_id")] in stats["requests"]
    assert values[("run", "return_value")] == "once only"


def clear_upstream_once(dag_run: Any, ti: Any) -> str:
    """Clear the successful ``run`` task, as a user does from the UI or REST API.

    Returns the request id of the run that ``run`` pushed before the clear.
    """
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    first_request_id = str(ti.xcom_pull(task_ids="run", key="request_id"))
    with create_session() as session:
        cleared = session.query(TaskInstance).filter(
            TaskInstance.dag_id == dag_run.dag_id,
            TaskInstance.run_id == dag_run.run_id,
            TaskInstance.task_id == "run",
        )
        # The DAG run is still running, so it must stay so for dag.test() to go on.
        clear_task_instances(list(cleared), session, dag_run_state=DagRunState.RUNNING)
    return first_request_id


@MODES
def test_manual_clear_after_success_submits_again(
    deferrable,
    aixplain_sandbox,
    aixplain_connection,
    dag_id,
    run_dag,
    xcoms,
    task_instances,
):
    from airflow.providers.standard.operators.python import PythonOperator

    aixplain_connection(aixplain_sandbox)
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        run = AixplainAgentRunOperator(
            task_id="run", agent_id="echo", query="again", deferrable=deferrable
        )
        clear = PythonOperator(task_id="clear", python_callable=clear_upstream_once)
        run >> clear

    dag_run = run_dag(dag)
    values = xcoms(dag_run)
    first_request_id = values[("clear", "return_value")]
    second_request_id = values[("run", "request_id")]
    stats = aixplain_sandbox.stats()

    assert dag_run.state == "success"
    assert task_instances(dag_run)["run"].try_number == 2
    assert stats["agents"]["echo"]["runs_accepted"] == 2
    assert first_request_id in stats["requests"]
    assert second_request_id in stats["requests"]
    assert second_request_id != first_request_id
