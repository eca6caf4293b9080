"""Translating aiXplain failures into Airflow task failures."""

from __future__ import annotations

from typing import Any, NoReturn

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from aixplain_agents import Outcome

# Outcomes after which the run is over, so a retry must not resume it.
TERMINAL_OUTCOMES = frozenset(
    {Outcome.REMOTE_FAILURE, Outcome.INVALID_OUTPUT, Outcome.CLIENT_ERROR}
)

# Failure classes that no Airflow retry can fix: the request or the key is wrong.
NO_RETRY_FAILURE_CLASSES = frozenset(
    {"client_error", "authentication_error", "configuration_error"}
)


class AixplainRunError(AirflowException):
    """An aiXplain run failed, timed out or could not be polled; Airflow may retry."""

    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__(event.get("message") or "the aiXplain run failed")
        self.agent_id: str | None = event.get("agent_id")
        self.request_id: str | None = event.get("request_id")
        self.failure_class: str = event.get("failure_class", "error")


def raise_for_event(event: dict[str, Any], allow_duplicate_submit: bool) -> NoReturn:
    """Raise the Airflow exception that matches a failed run's event payload.

    Client errors (a 4xx such as a rejected key) and invalid settings fail the task
    without retries. An ambiguous submit does too, unless ``allow_duplicate_submit``,
    because a retry could start and bill a second run.
    """
    message = event.get("message") or "the aiXplain run failed"
    failure_class = event.get("failure_class")
    if failure_class in NO_RETRY_FAILURE_CLASSES:
        raise AirflowFailException(
            f"{message}; not retried, because a retry sends the same request"
        )
    if failure_class == "ambiguous" and not allow_duplicate_submit:
        raise AirflowFailException(
            f"{message}; not retried, because the run may exist and a retry could "
            "start a second one (set allow_duplicate_submit=True to retry anyway)"
        )
    raise AixplainRunError(event)
