"""Run the incident-triage pipeline in Airflow and in Prefect against the sandbox.

Starts the sandbox on a free loopback port, runs each orchestrator's demo runner in
its own environment (Airflow and Prefect cannot share one), and prints one table row
per incident and stage. Exits non-zero if any stage lacks a successful run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aixplain_agents.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
RUNNERS = {
    "airflow": (ROOT / "providers/airflow/.venv/bin/python", "run_airflow_demo.py"),
    "prefect": (ROOT / "providers/prefect/.venv/bin/python", "run_prefect_demo.py"),
}
# Generous bound for one orchestrator's whole run on a 2-core machine.
RUNNER_TIMEOUT_SECONDS = 600
COLUMNS = ("orchestrator", "incident", "stage", "agent", "request_id", "status")


def main() -> int:
    expected = _expected_rows()
    rows: list[dict[str, Any]] = []
    failed: list[str] = []

    with (
        Sandbox() as sandbox,
        tempfile.TemporaryDirectory(prefix="aixplain-demo-") as tmp,
    ):
        print(f"sandbox: {sandbox.base_url}", flush=True)
        env = {
            **os.environ,
            "AIXPLAIN_BASE_URL": sandbox.base_url,
            "AIXPLAIN_API_KEY": sandbox.api_key,
        }
        for name, (python, script) in RUNNERS.items():
            out = Path(tmp) / f"{name}.jsonl"
            log = Path(tmp) / f"{name}.log"
            started = time.monotonic()
            print(f"running the {name} pipeline ...", flush=True)
            code = _run_runner(python, ROOT / "example_dags" / script, out, log, env)
            found = _read_rows(out)
            rows += found
            elapsed = time.monotonic() - started
            print(f"  {name}: exit {code}, {len(found)} stage runs, {elapsed:.1f} s")
            if code != 0 or len(found) != expected:
                failed.append(name)
                print(f"  {name} log (last 40 lines):", file=sys.stderr)
                lines = log.read_text(errors="replace").splitlines()[-40:]
                print("\n".join(lines), file=sys.stderr)
        stats = sandbox.stats()

    _print_table(rows)
    runs = sum(agent["runs_accepted"] for agent in stats["agents"].values())
    fallbacks = sum(1 for row in rows if row.get("fallback_used"))
    print(
        f"\n{len(rows)} stage runs, {fallbacks} by a fallback agent; "
        f"sandbox accepted {runs} runs"
    )
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _expected_rows() -> int:
    incidents = (ROOT / "example_dags/data/incidents.jsonl").read_text().splitlines()
    stages = json.loads((ROOT / "example_dags/data/pipeline.json").read_text())[
        "stages"
    ]
    return len([line for line in incidents if line.strip()]) * len(stages)


def _run_runner(
    python: Path, script: Path, out: Path, log: Path, env: dict[str, str]
) -> int:
    if not python.exists():
        print(
            f"  missing environment {python.parent.parent}: run `make envs`",
            file=sys.stderr,
        )
        return 1
    with log.open("w") as log_file:
        try:
            return subprocess.run(
                [str(python), str(script), "--out", str(out)],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                timeout=RUNNER_TIMEOUT_SECONDS,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            print(
                f"  {script.name} timed out after {RUNNER_TIMEOUT_SECONDS} s",
                file=sys.stderr,
            )
            return 1


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _print_table(rows: list[dict[str, Any]]) -> None:
    cells = [[str(row.get(column, "")) for column in COLUMNS] for row in rows]
    for row, line in zip(rows, cells, strict=True):
        if row.get("fallback_used"):
            line[3] += " (fallback)"
    widths = [
        max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(COLUMNS)
    ]
    print()
    print(
        "  ".join(
            column.ljust(width) for column, width in zip(COLUMNS, widths, strict=True)
        )
    )
    print("  ".join("-" * width for width in widths))
    for line in cells:
        print(
            "  ".join(
                cell.ljust(width) for cell, width in zip(line, widths, strict=True)
            )
        )


if __name__ == "__main__":
    sys.exit(main())
