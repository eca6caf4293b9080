"""The example DAGs: they import cleanly and run to success against the sandbox."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags" / "airflow"
DATA = EXAMPLES.parent / "data"


@pytest.fixture(scope="module")
def example_bag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(EXAMPLES))


def incident_ids() -> list[str]:
    lines = (DATA / "incidents.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["id"] for line in lines if line.strip()]


def stages() -> list[dict[str, Any]]:
    pipeline = json.loads((DATA / "pipeline.json").read_text(encoding="utf-8"))
    return list(pipeline["stages"])


def stage_names() -> list[str]:
    return [stage["name"] for stage in stages()]


def test_example_dags_import_without_errors(example_bag):
    assert example_bag.import_errors == {}
    assert set(example_bag.dags) == {
        "incident_triage",
        "incident_fan_out",
        "status_update_decorator",
    }


def test_incident_triage_stages_run_in_order(example_bag):
    dag = example_bag.dags["incident_triage"]

    for incident in incident_ids():
        task_ids = [f"{incident}.{stage}" for stage in stage_names()]
        for upstream, downstream in itertools.pairwise(task_ids):
            assert dag.get_task(downstream).upstream_task_ids == {upstream}


def test_incident_triage_passes_stage_variables(example_bag):
    dag = example_bag.dags["incident_triage"]

    for incident in incident_ids():
        for stage in stages():
            task = dag.get_task(f"{incident}.{stage['name']}")
            assert dict(task.variables or {}) == stage.get("variables", {}), (
                incident,
                stage["name"],
            )


@pytest.mark.slow
def test_incident_triage_dag_pushes_every_request_id(
    example_bag, aixplain_sandbox, aixplain_connection, run_dag, xcoms
):
    aixplain_connection(aixplain_sandbox)

    dag_run = run_dag(example_bag.dags["incident_triage"])
    values = xcoms(dag_run)

    assert dag_run.state == "success"
    for incident in incident_ids():
        for stage in stage_names():
            metadata = values[(f"{incident}.{stage}", "run_metadata")]
            assert metadata["status"] == "SUCCESS", (incident, stage)
            assert values[(f"{incident}.{stage}", "request_id")], (incident, stage)
    assert values[("INC-1043.triage", "run_metadata")]["fallback_used"] is True
    for incident in incident_ids():
        status_update = values[(f"{incident}.status-page", "return_value")]
        assert "Next update in 30 minutes" in status_update, incident


@pytest.mark.slow
def test_fan_out_dag_keeps_input_order(
    example_bag, aixplain_sandbox, aixplain_connection, run_dag, xcoms
):
    from airflow.models.pool import Pool

    Pool.create_or_update_pool(
        "aixplain", slots=2, description="test", include_deferred=True
    )
    aixplain_connection(aixplain_sandbox)

    dag_run = run_dag(example_bag.dags["incident_fan_out"])
    collected = xcoms(dag_run)[("collect", "return_value")]

    assert dag_run.state == "success"
    assert [row["incident"] for row in collected] == incident_ids()
    assert all(row["triage"]["summary"] for row in collected)


def test_decorator_dag_runs_agent_on_returned_query(
    example_bag, aixplain_sandbox, aixplain_connection, run_dag, xcoms
):
    aixplain_connection(aixplain_sandbox)

    dag_run = run_dag(example_bag.dags["status_update_decorator"])
    values = xcoms(dag_run)
    output = values[("draft_status_update", "return_value")]

    assert dag_run.state == "success"
    assert values[("draft_status_update", "request_id")].startswith("status-page__")
    assert "checkout-api" in output
    assert "Next update in 30 minutes" in output
