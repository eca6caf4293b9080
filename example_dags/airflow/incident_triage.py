"""Incident triage: three aiXplain agents in strict order for each incident.

For each incident of ``data/incidents.jsonl``, the stages of ``data/pipeline.json``
run one after another with ``chain``: triage (falling back to a second agent when the
first fails), root cause, then a status page update. Each stage's query includes the
previous stage's output, pulled from its XCom, and a stage's optional ``variables``
(such as the status page's ``next_update`` in minutes) fill the agent's prompt
variables. Every task pushes the ``request_id`` of its run as an XCom.

The triage and root-cause tasks are deferrable: they submit on the worker and poll
in the triggerer. The status-page task waits on the worker. Uses the connection
``aixplain_default`` (host: base URL, password: API key).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, TaskGroup, chain

from aixplain_provider.operators.aixplain import AixplainAgentRunOperator

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFERRABLE_STAGES = frozenset({"triage", "root-cause"})


def load_pipeline() -> list[dict[str, Any]]:
    """Return the stage definitions, in run order."""
    pipeline = json.loads((DATA_DIR / "pipeline.json").read_text(encoding="utf-8"))
    return list(pipeline["stages"])


def load_incidents() -> list[dict[str, str]]:
    """Return the incidents, one per non-empty line of the JSON Lines file."""
    lines = (DATA_DIR / "incidents.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def stage_query(
    stage: dict[str, Any], incident: dict[str, str], previous: str | None
) -> str:
    """Format a stage's query; ``{previous}`` becomes a template pulling that XCom."""
    if previous is None:
        previous_output = "null"
    else:
        pull = f"ti.xcom_pull(task_ids='{previous}')"
        previous_output = "{{ " + pull + " | to_json }}"
    return str(stage["query"]).format(**incident, previous=previous_output)


def _to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


with DAG(
    dag_id="incident_triage",
    description="Triage incidents with aiXplain agents, then draft status updates.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    user_defined_filters={"to_json": _to_json},
    default_args={"retries": 2, "retry_delay": timedelta(seconds=2)},
    tags=["aixplain", "example"],
) as dag:
    for incident in load_incidents():
        with TaskGroup(group_id=incident["id"]) as group:
            stage_tasks = []
            previous_task_id: str | None = None
            for stage in load_pipeline():
                task = AixplainAgentRunOperator(
                    task_id=stage["name"],
                    agent_id=stage["agent_id"],
                    fallbacks=stage["fallbacks"],
                    query=stage_query(stage, incident, previous_task_id),
                    variables=stage.get("variables"),
                    output_format=stage["output_format"],
                    expected_output=stage["expected_output"],
                    deferrable=stage["name"] in DEFERRABLE_STAGES,
                    run_timeout=120,
                )
                previous_task_id = f"{group.group_id}.{stage['name']}"
                stage_tasks.append(task)
            chain(*stage_tasks)
