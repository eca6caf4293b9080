"""Incident triage with aiXplain agents, as a Prefect flow.

For each incident in ``example_dags/data/incidents.jsonl`` the stages defined in
``example_dags/data/pipeline.json`` run in order: triage (falling back to a second
agent when the first fails), a root-cause hypothesis, then a status page update.
Incidents run concurrently. Each stage creates a table artifact keyed
``<incident id>-<stage name>`` (for example ``inc-1042-root-cause``) with the
request id, the agent that returned the result, the status and the credits.

Run it against a local sandbox:

    aixplain-agents sandbox   # prints the base URL
    AIXPLAIN_BASE_URL=http://127.0.0.1:PORT AIXPLAIN_API_KEY=sandbox-key \\
        python example_dags/prefect/incident_triage.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from prefect import flow

from prefect_aixplain import AixplainCredentials
from prefect_aixplain.flows import AgentStage, arun_stages, fan_out

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def load_stages(path: Path = DATA_DIR / "pipeline.json") -> list[AgentStage]:
    """Return the pipeline's stages, in order."""
    pipeline = json.loads(path.read_text(encoding="utf-8"))
    return [AgentStage.model_validate(stage) for stage in pipeline["stages"]]


def load_incidents(path: Path = DATA_DIR / "incidents.jsonl") -> list[dict[str, Any]]:
    """Return the incidents, one per non-empty line of the JSON Lines file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@flow(name="incident-triage")
async def incident_triage(
    credentials_block_name: str = "aixplain",
    max_concurrency: int = 5,
) -> dict[str, list[dict[str, Any]]]:
    """Triage every incident: the stages run in order per incident, incidents at once.

    Args:
        credentials_block_name: name of a saved ``AixplainCredentials`` block. The
            flow takes the name because a block passed as a parameter is stored with
            its key masked, and a deployment run would lose the key.
        max_concurrency: how many incidents are processed at the same time.

    Returns:
        Per incident id, the metadata of each stage's run (no outputs).
    """
    stages = load_stages()
    incidents = load_incidents()

    async def triage(incident: dict[str, Any]) -> list[dict[str, Any]]:
        results = await arun_stages(
            credentials_block_name, stages, incident, key_prefix=incident["id"]
        )
        return [result.metadata() for result in results]

    runs = await fan_out(triage, incidents, max_concurrency=max_concurrency)
    return {
        incident["id"]: metadata
        for incident, metadata in zip(incidents, runs, strict=True)
    }


if __name__ == "__main__":
    import asyncio

    AixplainCredentials(
        api_key=os.environ["AIXPLAIN_API_KEY"],
        base_url=os.environ["AIXPLAIN_BASE_URL"],
    ).save("aixplain", overwrite=True)
    print(json.dumps(asyncio.run(incident_triage()), indent=2))
