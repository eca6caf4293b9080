"""Large outputs go to object storage; the API key never reaches XComs or task logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from airflow.sdk import DAG, ObjectStoragePath

from aixplain_provider.operators.aixplain import AixplainAgentRunOperator

START = datetime(2026, 1, 1)
API_KEY = "sk-test-7f3a9c1e5b2d4860aa17"
KEY_SCENARIO = {
    "api_keys": [API_KEY],
    "agents": {
        "echo": {},
        "primary": {
            "faults": [{"kind": "terminal", "status": "FAILED", "message": "down"}]
        },
    },
}


def test_large_output_goes_to_object_storage(
    aixplain_sandbox_factory, aixplain_connection, dag_id, run_dag, xcoms, tmp_path
):
    fault = {"kind": "huge_output", "size_bytes": 200_000}
    sandbox = aixplain_sandbox_factory({"agents": {"echo": {"faults": [fault]}}})
    aixplain_connection(sandbox)
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        AixplainAgentRunOperator(
            task_id="run",
            agent_id="echo",
            query="big",
            max_xcom_output_bytes=10_000,
            output_storage_path=f"file://{tmp_path}",
        )

    dag_run = run_dag(dag)
    values = xcoms(dag_run)
    path = ObjectStoragePath(values[("run", "return_value")])

    assert dag_run.state == "success"
    assert values[("run", "run_metadata")]["output_path"] == str(path)
    assert path.exists()
    assert len(json.loads(path.read_text())) >= 200_000


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_api_key_absent_from_xcom_rows(
    deferrable, aixplain_sandbox_factory, aixplain_connection, dag_id, run_dag
):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    sandbox = aixplain_sandbox_factory(KEY_SCENARIO)
    aixplain_connection(sandbox)
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        AixplainAgentRunOperator(
            task_id="run",
            agent_id="primary",
            fallbacks=["echo"],
            query="hello",
            deferrable=deferrable,
        )

    dag_run = run_dag(dag)
    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.dag_id == dag_id).all()
        raw_values = [str(row.value) for row in rows]

    assert dag_run.state == "success"
    assert len(raw_values) >= 3
    assert not [value for value in raw_values if API_KEY in value]


@pytest.mark.slow
def test_api_key_absent_from_tasks_test_log(
    aixplain_sandbox_factory, airflow_db, tmp_path
):
    sandbox = aixplain_sandbox_factory(KEY_SCENARIO)
    dags_folder = tmp_path / "dags"
    dags_folder.mkdir()
    (dags_folder / "key_check.py").write_text(
        textwrap.dedent(
            """
            from datetime import datetime
            from airflow.sdk import DAG
            from aixplain_provider.operators.aixplain import AixplainAgentRunOperator

            with DAG("key_check", schedule=None, start_date=datetime(2026, 1, 1)):
                AixplainAgentRunOperator(
                    task_id="run", agent_id="primary", fallbacks=["echo"],
                    query="hello", progress="logs",
                )
            """
        )
    )
    connection = {
        "conn_type": "aixplain",
        "host": sandbox.base_url,
        "password": API_KEY,
    }
    env = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW_CONN_AIXPLAIN_DEFAULT": json.dumps(connection),
    }

    completed = subprocess.run(
        [sys.executable, "-m", "airflow", "tasks", "test", "key_check", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    log = completed.stdout + completed.stderr

    assert completed.returncode == 0, log[-2000:]
    assert "request_id=echo__" in log
    assert API_KEY not in log
    assert Path(airflow_db).exists()
