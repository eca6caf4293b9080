"""Sensor that waits for an existing aiXplain run to end."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, conf

from aixplain_agents import AixplainError
from aixplain_provider.hooks.aixplain import DEFAULT_CONN_ID, AixplainHook
from aixplain_provider.links.aixplain import REQUEST_ID_XCOM_KEY, AixplainRunLink
from aixplain_provider.triggers.aixplain import AixplainAgentRunTrigger, error_event
from aixplain_provider.utils.failures import raise_for_event

# Bound on fetching the output of a run that a poll already saw finished.
RESULT_FETCH_SECONDS = 30.0


class AixplainAgentRunSensor(BaseSensorOperator):
    """Wait until an aiXplain run, submitted elsewhere, reaches a terminal state.

    Succeeds when the run succeeded and returns its output; fails when the run failed.
    Works in ``poke``, ``reschedule`` and deferrable modes. The sensor never submits
    a run.

    :param request_id: requestId of the run to wait for. (templated)
    :param agent_id: id of the agent that runs it, for logs and errors. (templated)
    :param output_format: "json", "text" or "markdown"; JSON output is parsed.
    :param expected_output: field types to validate a JSON output against.
    :param aixplain_conn_id: id of the ``aixplain`` connection.
    :param deferrable: wait in the triggerer instead of poking. Defaults to
        ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = ("request_id", "agent_id")
    operator_extra_links = (AixplainRunLink(),)

    def __init__(
        self,
        *,
        request_id: str,
        agent_id: str | None = None,
        output_format: str | None = None,
        expected_output: Mapping[str, Any] | None = None,
        aixplain_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean(
            "operators", "default_deferrable", fallback=False
        ),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.request_id = request_id
        self.agent_id = agent_id
        self.output_format = output_format
        self.expected_output = expected_output
        self.aixplain_conn_id = aixplain_conn_id
        self.deferrable = deferrable
        self._output: Any = None

    @cached_property
    def hook(self) -> AixplainHook:
        """The hook for ``aixplain_conn_id``."""
        return AixplainHook(aixplain_conn_id=self.aixplain_conn_id)

    def execute(self, context: Context) -> Any:
        """Wait for the run by poking, or defer to the trigger when deferrable."""
        context["ti"].xcom_push(key=REQUEST_ID_XCOM_KEY, value=self.request_id)
        if not self.deferrable:
            super().execute(context)
            return self._output
        with self.hook.get_client() as client:
            run = client.run_reference(self.request_id, agent_id=self.agent_id)
        timeout = self.timeout
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        self.defer(
            trigger=AixplainAgentRunTrigger(
                request_id=run.request_id,
                agent_id=run.agent_id,
                poll_url=run.poll_url,
                deadline=time.time() + float(seconds),
                aixplain_conn_id=self.aixplain_conn_id,
                output_format=self.output_format,
                expected_output=dict(self.expected_output)
                if self.expected_output is not None
                else None,
            ),
            method_name="execute_complete",
        )

    def poke(self, context: Context) -> bool:
        """Poll the run once; return True once it succeeded, raise if it failed."""
        with self.hook.get_client() as client:
            try:
                checked = client.check(self.request_id, agent_id=self.agent_id)
                if not checked.finished:
                    self.log.info(
                        "aiXplain run %s is %s%s",
                        self.request_id,
                        checked.status,
                        f" ({checked.reason})" if checked.reason else "",
                    )
                    return False
                # One more poll returns the output, checked against expected_output,
                # or raises the run's failure.
                result = client.resume(
                    self.request_id,
                    agent_id=self.agent_id,
                    output_format=self.output_format,  # type: ignore[arg-type]
                    expected_output=self._expected_output(),
                    timeout=RESULT_FETCH_SECONDS,
                )
            except AixplainError as exc:
                raise_for_event(
                    error_event(exc, self.agent_id or "", self.request_id), False
                )
        self._output = result.output
        self.log.info(
            "aiXplain run succeeded: agent=%s request_id=%s",
            result.agent_id,
            result.request_id,
        )
        return True

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Return the output after the trigger saw success, else fail the task."""
        if event.get("status") != "success":
            raise_for_event(event, False)
        with self.hook.get_client() as client:
            try:
                result = client.resume(
                    str(event["request_id"]),
                    agent_id=event.get("agent_id"),
                    output_format=self.output_format,  # type: ignore[arg-type]
                    expected_output=self._expected_output(),
                    timeout=30.0,
                )
            except AixplainError as exc:
                raise_for_event(error_event(exc, "", self.request_id), False)
        return result.output

    def _expected_output(self) -> dict[str, Any] | None:
        expected = self.expected_output
        return dict(expected) if expected is not None else None
