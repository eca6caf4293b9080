"""Moving outputs too large for an XCom to Airflow object storage."""

from __future__ import annotations

import json
from typing import Any

from airflow.sdk import ObjectStoragePath


def output_size(output: Any) -> int:
    """Return the size in bytes of ``output`` encoded as UTF-8 JSON."""
    return len(json.dumps(output, ensure_ascii=False).encode("utf-8"))


def store_output(
    output: Any, base_path: str, context: Any, request_id: str
) -> ObjectStoragePath:
    """Write ``output`` as JSON under ``base_path`` and return the file's path.

    The path is ``{base}/{dag_id}/{run_id}/{task_id}[.{map_index}]/{request_id}.json``,
    so each run of each task instance gets its own file.
    """
    ti = context["ti"]
    task_part = ti.task_id
    map_index = getattr(ti, "map_index", -1)
    if map_index is not None and map_index >= 0:
        task_part = f"{task_part}.{map_index}"

    folder = ObjectStoragePath(base_path) / ti.dag_id / ti.run_id / task_part
    folder.mkdir(parents=True, exist_ok=True)
    path: ObjectStoragePath = folder / f"{request_id}.json"
    with path.open("w", encoding="utf-8") as file:  # type: ignore[no-untyped-call]
        json.dump(output, file, ensure_ascii=False)
    return path
