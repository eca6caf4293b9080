"""Run the Prefect incident-triage flow once and write one JSON line per stage.

Usage:
    AIXPLAIN_BASE_URL=http://127.0.0.1:PORT AIXPLAIN_API_KEY=KEY \\
        providers/prefect/.venv/bin/python example_dags/run_prefect_demo.py --out ROWS

Prefect runs with a throwaway home directory and its temporary local API server on
127.0.0.1, so nothing persists after the run. The rows are read back from the
flow run's artifacts over the Prefect API. Exit status 0 means every stage of every
incident has a request id and the status SUCCESS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any
from uuid import UUID

HERE = Path(__file__).resolve().parent


def _isolate_prefect(home: Path) -> None:
    # Prefect reads these when it is first imported, so set them before that.
    os.environ.update(
        PREFECT_HOME=str(home),
        PREFECT_PROFILES_PATH=str(home / "profiles.toml"),
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_LOGGING_LEVEL=os.environ.get("DEMO_LOG_LEVEL", "WARNING"),
        PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW="ignore",
    )
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.pop("PREFECT_API_KEY", None)


async def _read_rows(flow_run_id: UUID) -> list[dict[str, Any]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from prefect_aixplain import artifact_key

    sys.path.insert(0, str(HERE / "prefect"))
    from incident_triage import load_incidents, load_stages

    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
            )
        )
    tables = {a.key: a for a in artifacts if a.type == "table" and a.key}

    rows = []
    for incident in load_incidents():
        for stage in load_stages():
            artifact = tables.get(artifact_key(incident["id"], stage.name))
            record = json.loads(artifact.data)[0] if artifact else {}
            rows.append(
                {
                    "orchestrator": "prefect",
                    "incident": incident["id"],
                    "stage": stage.name,
                    "agent": record.get("agent_id"),
                    "request_id": record.get("request_id"),
                    "status": record.get("status"),
                    "fallback_used": bool(record.get("fallback_used")),
                }
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="JSON Lines file for the rows"
    )
    args = parser.parse_args()
    for name in ("AIXPLAIN_BASE_URL", "AIXPLAIN_API_KEY"):
        if not os.environ.get(name):
            print(f"error: {name} is not set", file=sys.stderr)
            return 2

    with tempfile.TemporaryDirectory(prefix="prefect-demo-") as home:
        _isolate_prefect(Path(home))
        logging.getLogger("prefect").setLevel(logging.WARNING)

        sys.path.insert(0, str(HERE / "prefect"))
        from incident_triage import incident_triage

        from prefect_aixplain import AixplainCredentials

        AixplainCredentials(
            api_key=os.environ["AIXPLAIN_API_KEY"],
            base_url=os.environ["AIXPLAIN_BASE_URL"],
        ).save("aixplain", overwrite=True)

        state = asyncio.run(incident_triage("aixplain", return_state=True))
        flow_run_id = state.state_details.flow_run_id
        if flow_run_id is None:
            print("error: the flow run has no id", file=sys.stderr)
            return 1
        rows = asyncio.run(_read_rows(flow_run_id))

    args.out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    complete = all(row["request_id"] and row["status"] == "SUCCESS" for row in rows)
    if not state.is_completed():
        print(f"error: the flow run ended {state.type.value}", file=sys.stderr)
    return 0 if complete and state.is_completed() else 1


if __name__ == "__main__":
    sys.exit(main())
