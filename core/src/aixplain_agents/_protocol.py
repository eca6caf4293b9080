"""The aiXplain agent wire format: request bodies, URLs and response interpretation.

Pure functions over parsed JSON; no IO. Field names follow what the service sends
(camelCase at the top level, ``session_id`` in snake case inside ``data``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aixplain_agents._config import origin_of
from aixplain_agents._ids import check_id
from aixplain_agents._models import RunRequest
from aixplain_agents._output import expected_output_to_wire

SUCCESS = "SUCCESS"
IN_PROGRESS = "IN_PROGRESS"
# Terminal statuses that mean the run did not succeed. The official SDK raises only on
# FAILED and returns the others as if they had succeeded.
FAILURE_STATUSES = frozenset({"FAILED", "ERROR", "ABORTED", "CANCELLED", "TIMEOUT"})

USER_AGENT = "aixplain-agents-core"


def run_url(base_url: str, agent_id: str) -> str:
    """Return the URL that starts a run of ``agent_id``."""
    return f"{base_url}/v2/agents/{quote(check_id(agent_id, 'agent id'), safe='')}/run"


def agent_url(base_url: str, agent_id: str) -> str:
    """Return the URL that describes ``agent_id``."""
    return f"{base_url}/v2/agents/{quote(check_id(agent_id, 'agent id'), safe='')}"


def result_url(base_url: str, request_id: str) -> str:
    """Return the poll URL of a run, built from its request id."""
    safe_id = quote(check_id(request_id, "request id"), safe="")
    return f"{base_url}/sdk/agents/{safe_id}/result"


def build_run_payload(
    agent_id: str, request: RunRequest, max_time: int | None
) -> dict[str, Any]:
    """Build the JSON body of ``POST /v2/agents/{id}/run``.

    ``max_time`` is the server-side time limit in whole seconds, already capped to the
    client's remaining deadline. Variables are merged into the query object, as the
    service substitutes them into the agent's instructions from there.
    """
    query: dict[str, Any]
    if isinstance(request.query, str):
        query = {"input": request.query}
    else:
        query = dict(request.query)
    query.update(request.variables)

    params = request.execution_params
    execution: dict[str, Any] = {}
    if params.output_format is not None:
        execution["outputFormat"] = params.output_format
    if params.expected_output is not None:
        execution["expectedOutput"] = expected_output_to_wire(params.expected_output)
    if params.max_tokens is not None:
        execution["maxTokens"] = params.max_tokens
    if max_time is not None:
        execution["maxTime"] = max_time
    if params.max_iterations is not None:
        execution["budget"] = {"maxIterations": params.max_iterations}

    payload: dict[str, Any] = {
        "id": agent_id,
        "query": query,
        "executionParams": execution,
        "runResponseGeneration": request.run_response_generation,
        # Only the client name: no IP address or location, unlike the official SDK.
        "metaData": {"userAgent": USER_AGENT},
    }
    if request.history is not None:
        payload["history"] = request.history
    return payload


def run_headers(request: RunRequest) -> dict[str, str]:
    """Return the per-run headers (the session id travels as ``x-session-id``)."""
    if request.session_id is None:
        return {}
    return {"x-session-id": request.session_id}


@dataclass(frozen=True)
class Accepted:
    """The service accepted the run; poll ``poll_url`` (or build it from the id)."""

    request_id: str
    poll_url: str | None


@dataclass(frozen=True)
class Running:
    """The run is still in progress."""

    steps: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Finished:
    """A terminal status of a run; ``succeeded`` is False for every kind of failure."""

    status: str
    succeeded: bool
    body: dict[str, Any]
    error_message: str | None = None
    supplier_error: str | None = None


@dataclass(frozen=True)
class Malformed:
    """A body that does not follow the protocol; ``problem`` describes the deviation."""

    problem: str


PollState = Running | Finished | Malformed


def decode_json(content: bytes) -> Any:
    """Decode a JSON body, returning Malformed for anything that is not JSON."""
    try:
        return json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Malformed(f"body is not JSON: {exc}")


def interpret_submit(body: Any) -> Accepted | Finished | Malformed:
    """Interpret the body of a 2xx response to ``POST .../run``.

    It must hold exactly one of: a poll reference (``requestId`` with ``data`` as a URL
    or id) or a terminal result (``completed: true`` with a terminal status).
    """
    if not isinstance(body, dict):
        return Malformed(f"expected a JSON object, got {type(body).__name__}")

    state = interpret_poll(body)
    if isinstance(state, Finished):
        return state

    request_id = body.get("requestId")
    if not isinstance(request_id, str) or not request_id:
        return Malformed("'requestId' is missing or not a string")
    try:
        check_id(request_id, "request id")
    except ValueError as exc:
        return Malformed(str(exc))

    data = body.get("data")
    if isinstance(data, str) and data.startswith(("http://", "https://")):
        return Accepted(request_id=request_id, poll_url=data)
    if data is None or isinstance(data, str):
        return Accepted(request_id=request_id, poll_url=None)
    return Malformed(f"'data' must be a poll URL or id, got {type(data).__name__}")


def interpret_poll(body: Any) -> PollState:
    """Interpret the body of a 2xx poll response, strictly.

    Unlike the official SDK, a terminal status other than SUCCESS is a failure, a
    SUCCESS carrying an error message is a failure, and ``completed`` must be a real
    boolean (the string ``"false"`` is malformed, not true).
    """
    if not isinstance(body, dict):
        return Malformed(f"expected a JSON object, got {type(body).__name__}")

    status = body.get("status")
    completed = body.get("completed")
    if "completed" in body and not isinstance(completed, bool):
        return Malformed(f"'completed' must be a boolean, got {completed!r}")
    if not isinstance(status, str):
        if completed is True:
            return Malformed("'completed' is true but 'status' is missing")
        return Malformed("'status' is missing or not a string")

    status = status.upper()
    if status == IN_PROGRESS:
        if completed is True:
            return Malformed("'status' is IN_PROGRESS but 'completed' is true")
        data = body.get("data")
        steps = data.get("steps") if isinstance(data, dict) else None
        return Running(steps=steps if isinstance(steps, list) else [])

    if status != SUCCESS and status not in FAILURE_STATUSES:
        return Malformed(f"unknown status {status!r}")
    if completed is False:
        return Malformed(f"'status' is {status} but 'completed' is false")

    error_message = first_text(body, ("errorMessage", "error_message", "error"))
    supplier_error = first_text(body, ("supplierError", "supplier_error"))
    succeeded = status == SUCCESS and not error_message and not supplier_error
    return Finished(
        status=status,
        succeeded=succeeded,
        body=body,
        error_message=error_message,
        supplier_error=supplier_error,
    )


def as_dict(value: Any) -> dict[str, Any]:
    """Return ``value`` if it is a dict, else an empty dict."""
    return value if isinstance(value, dict) else {}


def first_text(body: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """Return the first non-empty string under ``keys``: top level, then ``data``."""
    data = body.get("data")
    for scope in (body, data if isinstance(data, dict) else {}):
        for key in keys:
            value = scope.get(key)
            if isinstance(value, str) and value.strip():
                return value
    return None


def error_details(content: bytes) -> tuple[str | None, str | None, str | None]:
    """Return (message, error, supplierError) from an error body, whatever its shape."""
    body = decode_json(content)
    if isinstance(body, dict):
        message = first_text(body, ("supplierError", "message", "error"))
        error = body.get("error") if isinstance(body.get("error"), str) else None
        supplier = first_text(body, ("supplierError", "supplier_error"))
        return message, error, supplier
    if isinstance(body, list):
        return "; ".join(str(item) for item in body), None, None
    text = content.decode("utf-8", "replace").strip()
    return (text[:200] or None), None, None


def is_same_origin(url: str, base_url: str) -> bool:
    """Return whether ``url`` is on the origin of ``base_url`` (scheme, host, port)."""
    return origin_of(url) == origin_of(base_url)


def credits_and_run_time(body: dict[str, Any]) -> tuple[float, float]:
    """Return (used credits, run time in seconds) from where the service puts them.

    Top level first, then ``data.executionStats``, then ``data``; missing values are 0.
    """
    data = as_dict(body.get("data"))
    stats = as_dict(data.get("executionStats"))
    scopes = (body, stats, data)
    credits = _first_number(scopes, ("usedCredits", "used_credits", "credits"))
    run_time = _first_number(scopes, ("runTime", "run_time", "runtime", "duration"))
    return credits, run_time


def _first_number(scopes: tuple[dict[str, Any], ...], keys: tuple[str, ...]) -> float:
    for scope in scopes:
        for key in keys:
            value = scope.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
    return 0.0


def session_id_of(body: dict[str, Any]) -> str | None:
    """Return the session id of a finished run (top-level camelCase or in ``data``)."""
    data = as_dict(body.get("data"))
    for value in (body.get("sessionId"), data.get("session_id")):
        if isinstance(value, str) and value:
            return value
    return None
