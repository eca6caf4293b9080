"""Run the incident-triage DAG once with ``dag.test()`` and write one row per stage.

Usage (the sandbox or the service must already be reachable)::

    export AIXPLAIN_BASE_URL=http://127.0.0.1:PORT AIXPLAIN_API_KEY=KEY
    providers/airflow/.venv/bin/python example_dags/run_airflow_demo.py \\
        --out rows.jsonl

Airflow runs on a throwaway AIRFLOW_HOME with a SQLite metadata DB, deleted at the
end. The connection ``aixplain_default`` comes from the two environment variables.
Rows are read back from the XComs in the metadata DB. Logs go to stderr (or to
``--log-file``); stdout stays empty. Exits 0 only when every stage of every incident
has a request id and status SUCCESS.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DAG_ID = "incident_triage"
DAGS_FOLDER = Path(__file__).resolve().parent / "airflow"
DATA_DIR = Path(__file__).resolve().parent / "data"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", required=True, type=Path, help="JSON Lines file to write"
    )
    parser.add_argument(
        "--log-file", type=Path, help="file for Airflow's logs (default: stderr)"
    )
    return parser.parse_args(argv)


def configure_airflow(home: Path) -> None:
    """Point Airflow at a throwaway home and DB; must run before airflow is imported."""
    base_url = os.environ.get("AIXPLAIN_BASE_URL")
    api_key = os.environ.get("AIXPLAIN_API_KEY")
    if not base_url or not api_key:
        raise SystemExit("error: set AIXPLAIN_BASE_URL and AIXPLAIN_API_KEY first")

    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = (
        f"sqlite:///{home / 'airflow.db'}"
    )
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    os.environ["AIRFLOW_CONN_AIXPLAIN_DEFAULT"] = json.dumps(
        {"conn_type": "aixplain", "host": base_url, "password": api_key}
    )


@contextlib.contextmanager
def stdout_to(target: Any) -> Iterator[None]:
    """Send everything written to file descriptor 1 to ``target`` meanwhile."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(target.fileno(), 1)
    try:
        with contextlib.redirect_stdout(target):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run_dag() -> str:
    """Migrate the DB, run the DAG once with dag.test() and return the run id."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import resetdb

    resetdb()
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    if DAG_ID not in bag.dags:
        raise SystemExit(f"error: DAG {DAG_ID} not loaded: {bag.import_errors}")
    dag_run = bag.dags[DAG_ID].test()
    return str(dag_run.run_id)


def collect_rows(run_id: str) -> list[dict[str, Any]]:
    """Read request_id and run_metadata XComs of the run, one row per stage task."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    rows: dict[str, dict[str, Any]] = {}
    with create_session() as session:
        query = session.query(XComModel).filter(
            XComModel.dag_id == DAG_ID,
            XComModel.run_id == run_id,
            XComModel.key.in_(["request_id", "run_metadata"]),
        )
        for xcom in query:
            incident, _, stage = xcom.task_id.partition(".")
            row = rows.setdefault(xcom.task_id, {"incident": incident, "stage": stage})
            row[xcom.key] = XComModel.deserialize_value(xcom)
    stage_order = {name: index for index, name in enumerate(_stage_names())}
    ordered = sorted(
        rows.values(),
        key=lambda row: (row["incident"], stage_order.get(row["stage"], 99)),
    )
    return [_row(values) for values in ordered]


def _row(values: dict[str, Any]) -> dict[str, Any]:
    metadata = values.get("run_metadata") or {}
    return {
        "orchestrator": "airflow",
        "incident": values["incident"],
        "stage": values["stage"],
        "agent": metadata.get("agent_id"),
        "request_id": metadata.get("request_id") or values.get("request_id"),
        "status": metadata.get("status", "MISSING"),
        "fallback_used": bool(metadata.get("fallback_used", False)),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log_target = open(args.log_file, "a") if args.log_file else sys.stderr  # noqa: SIM115
    with tempfile.TemporaryDirectory(prefix="airflow-demo-") as home:
        configure_airflow(Path(home))
        with stdout_to(log_target):
            run_id = run_dag()
            rows = collect_rows(run_id)
    if log_target is not sys.stderr:
        log_target.close()

    with args.out.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")

    expected = _expected_row_count()
    complete = [r for r in rows if r["request_id"] and r["status"] == "SUCCESS"]
    if len(rows) != expected or len(complete) != expected:
        print(
            f"error: {len(complete)} of {expected} stages succeeded with a request id",
            file=sys.stderr,
        )
        return 1
    return 0


def _stage_names() -> list[str]:
    pipeline = json.loads((DATA_DIR / "pipeline.json").read_text(encoding="utf-8"))
    return [stage["name"] for stage in pipeline["stages"]]


def _expected_row_count() -> int:
    lines = (DATA_DIR / "incidents.jsonl").read_text(encoding="utf-8").splitlines()
    return len(_stage_names()) * sum(1 for line in lines if line.strip())


if __name__ == "__main__":
    sys.exit(main())
