"""Fixtures for the Airflow provider tests: a throwaway metadata DB and DAG runner.

Airflow reads its configuration when first imported, so the environment is set here,
at import time of this conftest, before any test module imports airflow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="aixplain-airflow-tests-"))
DAGS_FOLDER = AIRFLOW_HOME / "dags"
DAGS_FOLDER.mkdir()
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = (
    f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}"
)
os.environ.pop("AIRFLOW_CONN_AIXPLAIN_DEFAULT", None)

CONN_ENV = "AIRFLOW_CONN_AIXPLAIN_DEFAULT"


@pytest.fixture(scope="session", autouse=True)
def airflow_db() -> Iterator[Path]:
    """Create the metadata DB once per session; delete the Airflow home at the end."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.utils.db import resetdb

    resetdb()
    DagBundlesManager().sync_bundles_to_db()
    yield AIRFLOW_HOME
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture
def aixplain_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., dict[str, Any]]:
    """Return a function that points ``aixplain_default`` at a sandbox.

    Keyword arguments override the connection fields; ``extra`` is a dict.
    """

    def connect(sandbox: Any, **fields: Any) -> dict[str, Any]:
        connection: dict[str, Any] = {
            "conn_type": "aixplain",
            "host": sandbox.base_url,
            "password": sandbox.api_key,
            # Short backoffs keep fault tests fast.
            "extra": {"retry_max_delay": 0.2},
        }
        connection.update(fields)
        monkeypatch.setenv(CONN_ENV, json.dumps(connection))
        return connection

    return connect


@pytest.fixture
def dag_id(request: pytest.FixtureRequest) -> str:
    """A DAG id unique to the test, since all tests share one metadata DB."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name).strip("_")[:200]


@pytest.fixture
def run_dag() -> Callable[[Any], Any]:
    """Return a function that writes a DAG to the DB and runs it with ``dag.test()``."""
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    def run(dag: Any) -> Any:
        bag = DagBag(dag_folder=str(DAGS_FOLDER))
        bag.bag_dag(dag)
        sync_bag_to_db(bag, "dags-folder", None)
        return dag.test()

    return run


@pytest.fixture
def xcoms() -> Callable[[Any], dict[tuple[str, str], Any]]:
    """Return a function mapping (task_id, key) to the value, for one DAG run."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    def read(dag_run: Any) -> dict[tuple[str, str], Any]:
        with create_session() as session:
            rows = session.query(XComModel).filter(
                XComModel.dag_id == dag_run.dag_id,
                XComModel.run_id == dag_run.run_id,
            )
            return {
                (row.task_id, row.key): XComModel.deserialize_value(row) for row in rows
            }

    return read


@pytest.fixture
def task_instances() -> Callable[[Any], dict[str, Any]]:
    """Return a function mapping task_id to its task instance, for one DAG run."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    def read(dag_run: Any) -> dict[str, Any]:
        with create_session() as session:
            rows = session.query(TaskInstance).filter(
                TaskInstance.dag_id == dag_run.dag_id,
                TaskInstance.run_id == dag_run.run_id,
            )
            instances = list(rows)
            session.expunge_all()
        return {ti.task_id: ti for ti in instances}

    return read
