"""Artifacts that record each agent run: request id, agent, fallbacks, status, cost."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from prefect.artifacts import acreate_link_artifact, acreate_table_artifact

from aixplain_agents import AgentRunResult, AixplainError, Attempt

_KEY_INVALID = re.compile(r"[^a-z0-9]+")


def artifact_key(*parts: str) -> str:
    """Build an artifact key from ``parts``: lowercase letters, digits and dashes.

    Prefect rejects other characters in keys. Runs that share a key form the history
    of one stage in the Prefect UI, so build keys from stable names such as an
    incident id and a stage name, never from a request id.

    Examples:
        >>> artifact_key("INC-1042", "root_cause")
        'inc-1042-root-cause'

    Raises:
        ValueError: the parts contain no letter or digit.
    """
    key = "-".join(
        _KEY_INVALID.sub("-", part.lower()).strip("-") for part in parts if part
    )
    key = re.sub(r"-{2,}", "-", key).strip("-")
    if not key:
        raise ValueError(f"artifact key parts {parts!r} contain no letter or digit")
    return key


def describe_attempts(attempts: list[Attempt]) -> str:
    """Return the fallback steps as one line, e.g. ``a (remote_failure) -> b``."""
    steps = []
    for attempt in attempts:
        if attempt.outcome.value == "success":
            steps.append(attempt.agent_id)
        else:
            steps.append(f"{attempt.agent_id} ({attempt.outcome.value})")
    return " -> ".join(steps)


def result_row(result: AgentRunResult) -> dict[str, Any]:
    """Return the artifact row of a finished run; the output is left out."""
    return {
        "request_id": result.request_id,
        "agent_id": result.agent_id,
        "status": result.status,
        "fallback_used": result.fallback_used,
        "fallback_steps": describe_attempts(result.attempts),
        "used_credits": result.used_credits,
        "run_time": result.run_time,
    }


def error_row(error: AixplainError) -> dict[str, Any]:
    """Return the artifact row of a run that raised, with the last request id seen."""
    request_id = error.request_id
    if request_id is None:
        sent = [attempt.request_id for attempt in error.attempts if attempt.request_id]
        request_id = sent[-1] if sent else None
    return {
        "request_id": request_id,
        "agent_id": error.agent_id,
        "status": error.failure_class.upper(),
        "fallback_used": len({attempt.agent_id for attempt in error.attempts}) > 1,
        "fallback_steps": describe_attempts(error.attempts),
        "used_credits": 0.0,
        "run_time": sum(attempt.duration for attempt in error.attempts),
    }


async def acreate_run_artifacts(
    row: dict[str, Any], key: str, *, poll_url: str | None = None
) -> UUID:
    """Create the table artifact ``key`` for one run, and a link to its result.

    Returns:
        The id of the table artifact.
    """
    description = (
        f"aiXplain agent run `{row['request_id']}` on agent `{row['agent_id']}`: "
        f"{row['status']}"
    )
    artifact_id = await acreate_table_artifact(
        table=[row], key=key, description=description
    )
    if poll_url is not None:
        await acreate_link_artifact(
            link=poll_url,
            link_text=f"result of request {row['request_id']}",
            key=f"{key}-link",
            description="The aiXplain result URL of this run; it needs the API key.",
        )
    return artifact_id
