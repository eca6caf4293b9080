"""The ``@task.aixplain_agent`` decorator: a Python function builds the query.

``pick_incident`` returns an incident; the decorated ``draft_status_update`` turns it
into the query of the status-page agent, which runs when the task runs. The task's
return value is the agent's output, and its requestId is the ``request_id`` XCom.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

with DAG(
    dag_id="status_update_decorator",
    description="Draft a status page update with the @task.aixplain_agent decorator.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["aixplain", "example"],
) as dag:

    @task
    def pick_incident() -> dict[str, str]:
        """Return the incident to write about."""
        return {
            "service": "checkout-api",
            "title": "Checkout latency above 2 s at p95",
        }

    @task.aixplain_agent(agent_id="status-page", output_format="text")
    def draft_status_update(incident: dict[str, str]) -> dict[str, Any]:
        """Return the query and variables of the status-page agent."""
        return {
            "query": (
                f"Write a short public status page update for {incident['service']} "
                f"about '{incident['title']}'."
            ),
            "variables": {"next_update": 30},
        }

    draft_status_update(pick_incident())
