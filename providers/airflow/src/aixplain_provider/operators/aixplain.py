"""Operator that runs an aiXplain agent, with fallbacks, as one Airflow task."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator, Context, conf
from pydantic import BaseModel

from aixplain_agents import (
    AgentClient,
    AgentRunResult,
    AixplainError,
    Outcome,
    ProgressOptions,
    RunRequest,
    SubmittedRun,
    build_request,
    may_fall_back,
)
from aixplain_provider.hooks.aixplain import DEFAULT_CONN_ID, AixplainHook
from aixplain_provider.links.aixplain import REQUEST_ID_XCOM_KEY, AixplainRunLink
from aixplain_provider.triggers.aixplain import AixplainAgentRunTrigger, error_event
from aixplain_provider.utils.failures import TERMINAL_OUTCOMES, raise_for_event
from aixplain_provider.utils.output_storage import output_size, store_output
from aixplain_provider.utils.run_state import RunState, StoredRun

DEFAULT_RUN_TIMEOUT = 300.0
DEFAULT_MAX_XCOM_OUTPUT_BYTES = 64 * 1024
METADATA_XCOM_KEY = "run_metadata"


class AixplainAgentRunOperator(BaseOperator):
    """Run an aiXplain agent and return its output, falling back to other agents.

    The requestId of the run is pushed as the ``request_id`` XCom as soon as the run is
    submitted. It is also stored in the task state store (Airflow 3.3+), so a retry
    after a crash or a failed poll resumes that run instead of submitting a new one.
    A run that ended in a terminal failure is forgotten, so the next try submits afresh.
    A run that succeeded is kept and marked: a retry of that try (when Airflow did not
    record its success) returns the run's output again, and a manual clear of the task
    submits a new run.

    The return value is the output: parsed JSON when ``output_format`` is "json", else
    text. When the JSON-encoded output is larger than ``max_xcom_output_bytes``, it is
    written to ``output_storage_path`` and the return value is that file's path. Run
    metadata (request id, agent used, fallback flag, attempts, credits, run time) is
    pushed as the ``run_metadata`` XCom.

    :param agent_id: id of the agent to run first. (templated)
    :param query: the text or object the agent works on. (templated)
    :param fallbacks: agent ids tried in order after a remote failure, a timeout or
        invalid output of the previous agent. (templated)
    :param variables: values for the agent's prompt variables. (templated)
    :param history: earlier messages of the conversation. (templated)
    :param session_id: aiXplain session to continue. (templated)
    :param output_format: "json", "text" or "markdown".
    :param expected_output: the output's field types as a dict (such as
        ``{"risk": "low|medium|high"}``) or a pydantic model class.
    :param execution_params: further ``executionParams``: ``max_tokens``,
        ``max_iterations``, ``max_time`` (seconds).
    :param run_timeout: overall deadline in seconds for submits, polls and fallbacks
        of one try (default 300).
    :param progress: "off", "status", "logs" or a ``ProgressOptions``: which progress
        lines to log while waiting.
    :param aixplain_conn_id: id of the ``aixplain`` connection.
    :param deferrable: submit on the worker, then free the worker slot and poll in the
        triggerer. Defaults to ``[operators] default_deferrable``.
    :param max_xcom_output_bytes: largest output, in bytes of JSON, returned as an XCom.
    :param output_storage_path: object storage URL (such as ``s3://bucket/prefix`` or
        ``file:///data/aixplain``) for larger outputs. Defaults to
        ``[aixplain] output_storage_path``.
    :param allow_duplicate_submit: resend or retry a run request whose fate is unknown,
        at the risk of starting a second run.
    """

    template_fields: Sequence[str] = (
        "agent_id",
        "query",
        "fallbacks",
        "variables",
        "history",
        "session_id",
    )
    template_fields_renderers = {
        "query": "json",
        "variables": "json",
        "history": "json",
    }
    operator_extra_links = (AixplainRunLink(),)
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        agent_id: str,
        query: str | Mapping[str, Any] | None = None,
        fallbacks: Sequence[str] = (),
        variables: Mapping[str, Any] | None = None,
        history: Sequence[Mapping[str, Any]] | None = None,
        session_id: str | None = None,
        output_format: str | None = None,
        expected_output: Mapping[str, Any] | type[BaseModel] | None = None,
        execution_params: Mapping[str, Any] | None = None,
        run_timeout: float | None = None,
        progress: str | ProgressOptions = "status",
        aixplain_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean(
            "operators", "default_deferrable", fallback=False
        ),
        max_xcom_output_bytes: int = DEFAULT_MAX_XCOM_OUTPUT_BYTES,
        output_storage_path: str | None = None,
        allow_duplicate_submit: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.agent_id = agent_id
        self.query = query
        self.fallbacks = list(fallbacks)
        self.variables = variables
        self.history = history
        self.session_id = session_id
        self.output_format = output_format
        self.expected_output = expected_output
        self.execution_params = execution_params
        self.run_timeout = run_timeout or DEFAULT_RUN_TIMEOUT
        self.progress = progress
        self.aixplain_conn_id = aixplain_conn_id
        self.deferrable = deferrable
        self.max_xcom_output_bytes = max_xcom_output_bytes
        self.output_storage_path = output_storage_path
        self.allow_duplicate_submit = allow_duplicate_submit
        # The run this try is waiting on, for on_kill to report.
        self._in_flight: StoredRun | None = None

    @cached_property
    def hook(self) -> AixplainHook:
        """The hook for ``aixplain_conn_id``."""
        return AixplainHook(aixplain_conn_id=self.aixplain_conn_id)

    # --- Execution: the worker side.

    def execute(self, context: Context) -> Any:
        """Submit the run (or resume the one an earlier try submitted) and wait."""
        state = RunState(context, self.log)
        deadline = time.time() + self.run_timeout
        request = self._build_request()

        stored = state.load()
        if stored is not None and stored.succeeded_max_tries is not None:
            if stored.succeeded_max_tries == context["ti"].max_tries:
                return self._return_succeeded_run(context, state, stored, deadline)
            self.log.info(
                "The task was cleared after run %s succeeded; submitting a new run",
                stored.request_id,
            )
            state.clear()
            stored = None
        if stored is not None and stored.agent_id not in self._chain():
            self.log.warning(
                "Ignoring stored run %s of agent %s, which is not in this task's chain",
                stored.request_id,
                stored.agent_id,
            )
            stored = None
        if stored is not None:
            self.log.info(
                "Resuming aiXplain run agent=%s request_id=%s from an earlier try; "
                "not submitting a new run",
                stored.agent_id,
                stored.request_id,
            )
            stored = replace(stored, deadline=deadline)
            self._record_submit(context, state, stored)

        if self.deferrable:
            if stored is None:
                stored = self._submit(context, state, self.agent_id, request, deadline)
            self._defer(stored)
        return self._run_blocking(context, state, request, stored, deadline)

    def _return_succeeded_run(
        self, context: Context, state: RunState, stored: StoredRun, deadline: float
    ) -> Any:
        # LocalExecutor on Airflow 3.3.2 did this under CPU load. The scheduler marked a
        # resumed deferred task for retry after the task had returned its output.
        # NOTE: how long the aiXplain API keeps a finished run's output is not known.
        # If it has expired, this try fails instead of submitting a new run.
        self.log.warning(
            "aiXplain run agent=%s request_id=%s succeeded in an earlier try that "
            "Airflow did not record as successful; returning its output without "
            "submitting a new run",
            stored.agent_id,
            stored.request_id,
        )
        self._in_flight = stored
        with self.hook.get_client() as client:
            try:
                result = self._fetch_result(client, stored.submitted_run(), deadline)
            except AixplainError as exc:
                self._fail(state, error_event(exc, stored.agent_id, stored.request_id))
        return self._finish(context, state, result)

    def _run_blocking(
        self,
        context: Context,
        state: RunState,
        request: RunRequest,
        stored: StoredRun | None,
        deadline: float,
    ) -> Any:
        def on_submit(run: SubmittedRun) -> None:
            self._record_submit(context, state, _stored_run(run, deadline))

        with self.hook.get_client() as client:
            try:
                if stored is None:
                    result = client.run(
                        self.agent_id,
                        fallbacks=self.fallbacks,
                        request=request,
                        timeout=self.run_timeout,
                        progress=self.progress,  # type: ignore[arg-type]
                        on_submit=on_submit,
                        allow_duplicate_submit=self.allow_duplicate_submit,
                    )
                else:
                    result = client.resume(
                        stored.submitted_run(),
                        fallbacks=self._fallbacks_after(stored.agent_id),
                        request=request,
                        output_format=self.output_format,  # type: ignore[arg-type]
                        expected_output=self._expected_output(),
                        timeout=self.run_timeout,
                        progress=self.progress,  # type: ignore[arg-type]
                        on_submit=on_submit,
                    )
            except AixplainError as exc:
                self._fail(state, error_event(exc, self.agent_id, ""))
        return self._finish(context, state, result)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger: fetch the output, fall back, or fail."""
        state = RunState(context, self.log)
        stored = state.load()
        deadline = stored.deadline if stored else time.time() + self.run_timeout

        if event.get("status") == "success":
            run = self._run_of_event(event, stored)
            with self.hook.get_client() as client:
                try:
                    result = self._fetch_result(client, run, deadline)
                except AixplainError as exc:
                    event = error_event(exc, run.agent_id, run.request_id)
                else:
                    return self._finish(context, state, result, deferred=True)

        self.log.warning("aiXplain run failed: %s", event.get("message"))
        next_agent = self._next_fallback(event)
        if next_agent is not None and deadline > time.time():
            self.log.info(
                "Falling back from agent %s (request_id=%s) to agent %s",
                event.get("agent_id"),
                event.get("request_id"),
                next_agent,
            )
            request = self._build_request()
            earlier = _attempts_so_far(stored, event)
            stored = self._submit(
                context, state, next_agent, request, deadline, earlier
            )
            self._defer(stored)
        self._fail(state, event)

    def on_kill(self) -> None:
        """Log the run left behind, because the aiXplain API cannot cancel a run."""
        run = self._in_flight
        if run is None:
            self.log.warning(
                "Task killed before this try recorded an aiXplain run, so there is no "
                "request_id to report. The aiXplain API cannot cancel a run"
            )
            return
        self.log.warning(
            "Task killed while aiXplain run request_id=%s of agent %s was in flight. "
            "The aiXplain API cannot cancel a run, so it keeps running on the service "
            "and a retry of this task resumes it",
            run.request_id,
            run.agent_id,
        )

    # --- Steps shared by both modes.

    def _submit(
        self,
        context: Context,
        state: RunState,
        agent_id: str,
        request: RunRequest,
        deadline: float,
        earlier_attempts: list[dict[str, Any]] | None = None,
    ) -> StoredRun:
        with self.hook.get_client() as client:
            try:
                run = client.submit(
                    agent_id,
                    request=request,
                    timeout=max(deadline - time.time(), 1.0),
                    allow_duplicate_submit=self.allow_duplicate_submit,
                )
            except AixplainError as exc:
                self._fail(state, error_event(exc, agent_id, ""))
        stored = _stored_run(run, deadline, earlier_attempts)
        self._record_submit(context, state, stored)
        return stored

    def _record_submit(
        self, context: Context, state: RunState, stored: StoredRun
    ) -> None:
        state.save(stored)
        self._in_flight = stored
        context["ti"].xcom_push(key=REQUEST_ID_XCOM_KEY, value=stored.request_id)
        self.log.info(
            "aiXplain run in flight: agent=%s request_id=%s",
            stored.agent_id,
            stored.request_id,
        )

    def _defer(self, stored: StoredRun) -> None:
        expected = self.expected_output
        trigger = AixplainAgentRunTrigger(
            request_id=stored.request_id,
            agent_id=stored.agent_id,
            poll_url=stored.poll_url,
            deadline=stored.deadline,
            aixplain_conn_id=self.aixplain_conn_id,
            output_format=self.output_format,
            # NOTE: a pydantic model class cannot be serialized into the trigger, so
            # such output is validated on the worker in execute_complete only.
            expected_output=dict(expected) if isinstance(expected, Mapping) else None,
            progress=_progress_mode(self.progress),
        )
        self.defer(trigger=trigger, method_name="execute_complete")

    def _fetch_result(
        self, client: AgentClient, run: SubmittedRun, deadline: float
    ) -> AgentRunResult:
        # The run is terminal, so this is one poll that returns the output and
        # validates it against expected_output.
        return client.resume(
            run,
            output_format=self.output_format,  # type: ignore[arg-type]
            expected_output=self._expected_output(),
            timeout=max(deadline - time.time(), 30.0),
        )

    def _finish(
        self,
        context: Context,
        state: RunState,
        result: AgentRunResult,
        *,
        deferred: bool = False,
    ) -> Any:
        ti = context["ti"]
        stored = state.load()
        if stored is not None and stored.request_id == result.request_id:
            # Kept rather than deleted, so that a retry of this try returns the
            # output again instead of submitting a new run (see StoredRun).
            state.save(replace(stored, succeeded_max_tries=ti.max_tries))
        else:
            state.clear()
        ti.xcom_push(key=REQUEST_ID_XCOM_KEY, value=result.request_id)

        metadata = result.metadata()
        metadata["fallback_used"] = result.agent_id != self.agent_id
        if deferred and stored is not None and stored.request_id == result.request_id:
            # The result was fetched after the trigger saw the run end, so its own
            # attempt list covers only that fetch. Rebuild it from the stored runs.
            final = stored.attempt_record("success", None, time.time())
            metadata["attempts"] = [*stored.earlier_attempts, final]
        output = result.output
        size = output_size(output)
        if size > self.max_xcom_output_bytes:
            output = self._store_large_output(context, result, size, metadata)
        ti.xcom_push(key=METADATA_XCOM_KEY, value=metadata)

        self.log.info(
            "aiXplain run succeeded: agent=%s request_id=%s fallback_used=%s "
            "credits=%s run_time=%ss",
            result.agent_id,
            result.request_id,
            metadata["fallback_used"],
            result.used_credits,
            result.run_time,
        )
        return output

    def _store_large_output(
        self,
        context: Context,
        result: AgentRunResult,
        size: int,
        metadata: dict[str, Any],
    ) -> Any:
        base_path = self.output_storage_path or conf.get(
            "aixplain", "output_storage_path", fallback=None
        )
        if not base_path:
            self.log.warning(
                "The output of run %s is %d bytes, over max_xcom_output_bytes=%d, "
                "but no output_storage_path is set; returning it as an XCom",
                result.request_id,
                size,
                self.max_xcom_output_bytes,
            )
            return result.output
        path = store_output(result.output, base_path, context, result.request_id)
        self.log.info(
            "Stored the %d-byte output of run %s at %s", size, result.request_id, path
        )
        metadata["output_path"] = str(path)
        return str(path)

    def _fail(self, state: RunState, event: dict[str, Any]) -> Any:
        outcome = _outcome(event)
        if outcome in TERMINAL_OUTCOMES:
            # The run is over; a retry must submit a new one rather than resume it.
            state.clear()
        raise_for_event(event, self.allow_duplicate_submit)

    # --- Small helpers.

    def _build_request(self) -> RunRequest:
        fields: dict[str, Any] = {
            "variables": dict(self.variables or {}),
            "history": [dict(message) for message in self.history]
            if self.history is not None
            else None,
            "session_id": self.session_id,
            "execution_params": dict(self.execution_params or {}),
            "output_format": self.output_format,
            "expected_output": self._expected_output(),
        }
        try:
            return build_request(self.query, **fields)
        except AixplainError as exc:
            raise_for_event(error_event(exc, self.agent_id, ""), False)

    def _expected_output(self) -> dict[str, Any] | type[BaseModel] | None:
        expected = self.expected_output
        return dict(expected) if isinstance(expected, Mapping) else expected

    def _chain(self) -> list[str]:
        return [self.agent_id, *self.fallbacks]

    def _fallbacks_after(self, agent_id: str) -> list[str]:
        chain = self._chain()
        return chain[chain.index(agent_id) + 1 :] if agent_id in chain else []

    def _next_fallback(self, event: dict[str, Any]) -> str | None:
        if not may_fall_back(_outcome(event)):
            return None
        remaining = self._fallbacks_after(str(event.get("agent_id")))
        return remaining[0] if remaining else None

    def _run_of_event(
        self, event: dict[str, Any], stored: StoredRun | None
    ) -> SubmittedRun:
        if stored is not None and stored.request_id == event.get("request_id"):
            return stored.submitted_run()
        with self.hook.get_client() as client:
            return client.run_reference(
                str(event["request_id"]), agent_id=str(event["agent_id"])
            )


def _stored_run(
    run: SubmittedRun,
    deadline: float,
    earlier_attempts: list[dict[str, Any]] | None = None,
) -> StoredRun:
    return StoredRun(
        agent_id=run.agent_id,
        request_id=run.request_id,
        poll_url=run.poll_url,
        deadline=deadline,
        submitted_at=time.time(),
        earlier_attempts=list(earlier_attempts or []),
    )


def _attempts_so_far(
    stored: StoredRun | None, event: dict[str, Any]
) -> list[dict[str, Any]]:
    """Return the attempts before a fallback: earlier ones plus the failed run."""
    if stored is None or stored.request_id != event.get("request_id"):
        return []
    failed = stored.attempt_record(
        str(event.get("outcome")), event.get("message"), time.time()
    )
    return [*stored.earlier_attempts, failed]


def _outcome(event: dict[str, Any]) -> Outcome:
    try:
        return Outcome(event.get("outcome"))
    except ValueError:
        return Outcome.NOT_SENT


def _progress_mode(progress: str | ProgressOptions) -> str:
    return progress.mode if isinstance(progress, ProgressOptions) else progress
