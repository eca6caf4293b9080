"""Fan-out: one triage agent over every incident with dynamic task mapping.

Each incident becomes one mapped task instance. The pool ``aixplain`` bounds how many
run at once (create it with ``airflow pools set aixplain 2 "aiXplain agent runs"``).
The ``collect`` task gets the mapped outputs ordered by map index, which is the
input order, and pairs each with its incident id.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from aixplain_provider.operators.aixplain import AixplainAgentRunOperator

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
POOL = "aixplain"


def load_incidents() -> list[dict[str, str]]:
    """Return the incidents, one per non-empty line of the JSON Lines file."""
    lines = (DATA_DIR / "incidents.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def triage_query(incident: dict[str, str]) -> str:
    """Return the triage query of one incident."""
    return (
        f"Triage incident {incident['id']} on service {incident['service']}: "
        f"{incident['title']}. Report: {incident['report']}"
    )


with DAG(
    dag_id="incident_fan_out",
    description="Triage every incident in parallel, bounded by the aixplain pool.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=2)},
    tags=["aixplain", "example"],
) as dag:
    incidents = load_incidents()

    triage = AixplainAgentRunOperator.partial(
        task_id="triage",
        agent_id="triage-primary",
        fallbacks=["triage-secondary"],
        output_format="json",
        expected_output={
            "summary": "string",
            "risk": "low|medium|high",
            "recommendedActions": ["string"],
        },
        pool=POOL,
        deferrable=True,
    ).expand(query=[triage_query(incident) for incident in incidents])

    @task
    def collect(outputs: list[Any]) -> list[dict[str, Any]]:
        """Pair each triage output with its incident id, in input order."""
        ids = [incident["id"] for incident in incidents]
        return [
            {"incident": incident_id, "triage": output}
            for incident_id, output in zip(ids, outputs, strict=True)
        ]

    collect(triage.output)
