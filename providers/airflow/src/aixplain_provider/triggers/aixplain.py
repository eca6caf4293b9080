"""Trigger that polls one submitted aiXplain run until it reaches a terminal state."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from aixplain_agents import (
    AixplainError,
    Outcome,
    SubmittedRun,
)
from aixplain_provider.hooks.aixplain import DEFAULT_CONN_ID, AixplainHook


class AixplainAgentRunTrigger(BaseTrigger):
    """Poll a submitted aiXplain run from the triggerer; never submit a run.

    Transient poll failures (connection errors, 429, 5xx) are retried with backoff
    inside the core client until ``deadline``. The trigger yields one event: status
    ``success`` once the run succeeded, else ``error`` with the failure class, the
    outcome and a one-line message. The event carries no output, so large outputs
    never reach the trigger table. The operator fetches the output when it resumes.

    :param request_id: requestId of the run to poll.
    :param agent_id: id of the agent that runs it.
    :param poll_url: the poll URL the service returned on submit.
    :param deadline: Unix time in seconds after which waiting stops with a timeout.
    :param aixplain_conn_id: id of the ``aixplain`` connection; the key is looked up
        in the triggerer and never serialized.
    :param output_format: "json", "text" or "markdown"; JSON output is parsed.
    :param expected_output: field types to validate a JSON output against, as a dict.
    :param progress: "off", "status" or "logs": which progress lines the trigger logs.
    """

    def __init__(
        self,
        *,
        request_id: str,
        agent_id: str,
        poll_url: str,
        deadline: float,
        aixplain_conn_id: str = DEFAULT_CONN_ID,
        output_format: str | None = None,
        expected_output: dict[str, Any] | None = None,
        progress: str = "status",
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.request_id = request_id
        self.agent_id = agent_id
        self.poll_url = poll_url
        self.deadline = deadline
        self.aixplain_conn_id = aixplain_conn_id
        self.output_format = output_format
        self.expected_output = expected_output
        self.progress = progress

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the ids and settings; no secret is included."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "request_id": self.request_id,
                "agent_id": self.agent_id,
                "poll_url": self.poll_url,
                "deadline": self.deadline,
                "aixplain_conn_id": self.aixplain_conn_id,
                "output_format": self.output_format,
                "expected_output": self.expected_output,
                "progress": self.progress,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the run and yield one event with its terminal state."""
        self.log.info(
            "Polling aiXplain run agent=%s request_id=%s",
            self.agent_id,
            self.request_id,
        )
        remaining = self.deadline - time.time()
        if remaining <= 0:
            yield TriggerEvent(self._timeout_event())  # type: ignore[no-untyped-call]
            return

        run = SubmittedRun(
            agent_id=self.agent_id, request_id=self.request_id, poll_url=self.poll_url
        )
        hook = AixplainHook(aixplain_conn_id=self.aixplain_conn_id)
        try:
            client = await hook.get_async_client()
            async with client:
                result = await client.resume(
                    run,
                    output_format=self.output_format,  # type: ignore[arg-type]
                    expected_output=self.expected_output,
                    timeout=remaining,
                    progress=self.progress,  # type: ignore[arg-type]
                )
        except AixplainError as exc:
            self.log.warning("aiXplain run failed: %s", exc.one_line())
            event = error_event(exc, self.agent_id, self.request_id)
            yield TriggerEvent(event)  # type: ignore[no-untyped-call]
            return

        self.log.info(
            "aiXplain run succeeded agent=%s request_id=%s",
            self.agent_id,
            self.request_id,
        )
        yield TriggerEvent(  # type: ignore[no-untyped-call]
            {
                "status": "success",
                "agent_id": result.agent_id,
                "request_id": result.request_id,
                "run_status": result.status,
            }
        )

    def _timeout_event(self) -> dict[str, Any]:
        return {
            "status": "error",
            "agent_id": self.agent_id,
            "request_id": self.request_id,
            "failure_class": "timeout",
            "outcome": Outcome.TIMEOUT.value,
            "message": (
                f"timeout: the deadline passed before run {self.request_id} of agent "
                f"{self.agent_id} ended"
            ),
        }


def error_event(exc: AixplainError, agent_id: str, request_id: str) -> dict[str, Any]:
    """Return the event payload for a failed run: ids, failure class and outcome."""
    return {
        "status": "error",
        "agent_id": exc.agent_id or agent_id,
        "request_id": exc.request_id or request_id,
        "failure_class": exc.failure_class,
        "outcome": outcome_of(exc).value,
        "message": exc.one_line(),
    }


def outcome_of(exc: AixplainError) -> Outcome:
    """Return the outcome class of an error: the last attempt's, else its own."""
    return exc.attempts[-1].outcome if exc.attempts else exc.outcome
