"""Tasks that run aiXplain agents: submit and wait, submit only, and wait only.

Each task polls inside one task run; transient HTTP faults are retried by the core
and never surface as task retries. A task retry or a flow retry resumes the run
that an earlier try submitted instead of posting it again (see ``_ledger``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from prefect import Task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.logging import get_run_logger

from aixplain_agents import (
    AgentRunResult,
    AixplainError,
    AsyncAgentClient,
    ClientRequestError,
    ConfigurationError,
    OutputValidationError,
    RunFailedError,
    RunRequest,
    SubmittedRun,
    build_request,
)
from prefect_aixplain._dispatch import sync_compatible_task
from prefect_aixplain._ledger import SubmissionLedger
from prefect_aixplain.artifacts import (
    acreate_run_artifacts,
    error_row,
    result_row,
)
from prefect_aixplain.artifacts import artifact_key as build_artifact_key
from prefect_aixplain.credentials import AixplainCredentials
from prefect_aixplain.exceptions import ConcurrencyLimitNotFoundError
from prefect_aixplain.limits import RunLimits, limited
from prefect_aixplain.logging import redact_secret

CredentialsRef = AixplainCredentials | str

# Errors that a retry of the same task cannot fix, because the request, the key or a
# setting is invalid, or a limit named with strict_limits does not exist.
NOT_RETRYABLE = (ClientRequestError, ConfigurationError, ConcurrencyLimitNotFoundError)
# Errors after which the submitted run is over, so a retry must submit a new one.
_RUN_ENDED = (RunFailedError, OutputValidationError, *NOT_RETRYABLE)


def retry_condition_fn(task: Task[..., Any], task_run: TaskRun, state: State) -> bool:
    """Return False for errors a retry cannot fix, True for the others.

    A retry cannot fix a rejected key or request, an invalid setting, or a missing
    limit named with ``strict_limits``. Pass it as ``retry_condition_fn`` to tasks
    that call the core directly; the tasks of this module already use it.
    """
    error = state.data
    return not isinstance(error, NOT_RETRYABLE)


async def load_credentials(credentials: CredentialsRef) -> AixplainCredentials:
    """Return the block, loading it by name when given a string."""
    block: AixplainCredentials
    if isinstance(credentials, str):
        try:
            block = await AixplainCredentials.aload(credentials)
        except ValueError as exc:
            # Not retryable: a retry would look up the same missing block.
            raise ConfigurationError(
                f"cannot load the aiXplain credentials block {credentials!r}: {exc}; "
                f"save one first with AixplainCredentials(...).save({credentials!r})"
            ) from None
    else:
        block = credentials
    redact_secret(block.api_key.get_secret_value())
    return block


def _request(query: str | Mapping[str, Any], options: dict[str, Any]) -> RunRequest:
    fields = {name: value for name, value in options.items() if value is not None}
    return build_request(query, **fields)


async def _run_or_resume(
    client: AsyncAgentClient,
    ledger: SubmissionLedger,
    chain: list[str],
    request: RunRequest,
    *,
    timeout: float | None,
    progress: str,
) -> AgentRunResult:
    stored = await ledger.aget()
    if stored is None:
        return await client.run(
            chain,
            request=request,
            timeout=timeout,
            progress=progress,  # type: ignore[arg-type]
            on_submit=ledger.arecord,
        )

    get_run_logger().info(
        "Resuming agent=%s request_id=%s submitted by an earlier try",
        stored.agent_id,
        stored.request_id,
    )
    position = chain.index(stored.agent_id) if stored.agent_id in chain else 0
    params = request.execution_params
    return await client.resume(
        stored,
        fallbacks=chain[position + 1 :],
        request=request,
        output_format=params.output_format,
        expected_output=params.expected_output,
        timeout=timeout,
        progress=progress,  # type: ignore[arg-type]
        on_submit=ledger.arecord,
    )


@sync_compatible_task(
    name="run_agent",
    task_run_name="run-agent-{agent_id}",
    cache_policy=NO_CACHE,
    retry_condition_fn=retry_condition_fn,
)
async def run_agent(
    credentials: CredentialsRef,
    agent_id: str,
    query: str | Mapping[str, Any],
    *,
    fallbacks: Sequence[str] = (),
    output_format: str | None = None,
    expected_output: dict[str, Any] | None = None,
    variables: dict[str, Any] | None = None,
    session_id: str | None = None,
    history: list[dict[str, Any]] | None = None,
    max_tokens: int | None = None,
    max_iterations: int | None = None,
    max_time: int | None = None,
    timeout: float | None = None,
    progress: str = "off",
    artifact_key: str | None = None,
    concurrency_limit: str | None = None,
    rate_limit: str | None = None,
    strict_limits: bool = False,
) -> AgentRunResult:
    """Run an aiXplain agent, falling back along ``fallbacks``, and record it.

    Submits the run once and polls it to a terminal state inside this task run.
    Creates a table artifact with the request id, the agent that returned the
    result, the fallback steps, the status, the credits and the run time, plus a
    link artifact to the run's result. A retry of this task, or of its flow,
    resumes the run an earlier try submitted instead of starting a second one.

    Args:
        credentials: an :class:`AixplainCredentials` block or the name of a saved one.
        agent_id: the agent to run first.
        query: the text, or an object, the agent works on.
        fallbacks: agent ids tried in order when a run fails, times out or returns
            invalid output.
        output_format: "text", "markdown" or "json"; "json" parses the output.
        expected_output: the JSON shape to ask for and validate, such as
            ``{"summary": "string", "risk": "low|medium|high"}``.
        variables: values for the agent's prompt variables.
        session_id: continue this aiXplain session.
        history: earlier messages of the conversation.
        max_tokens: limit on generated tokens, sent as ``maxTokens``.
        max_iterations: limit on the agent's reasoning steps.
        max_time: limit on the run's duration on the service, in seconds.
        timeout: overall deadline in seconds for submits, polls and fallbacks
            (default 300).
        progress: "off" (submits, fallbacks and the end only), "status" (each state
            change) or "logs" (each new step), logged to the run logger.
        artifact_key: the key of the table artifact; default ``aixplain-<agent>``.
            Keep it stable per stage so the Prefect UI shows the stage's history.
        concurrency_limit: a Prefect global concurrency limit held for the whole run.
        rate_limit: a Prefect global concurrency limit with slot decay, taken once
            before the run starts.
        strict_limits: raise when a named limit does not exist instead of
            running without it.

    Returns:
        The result of the agent that succeeded; ``metadata()`` gives its JSON-safe
        metadata.

    Raises:
        AixplainError: the run failed. The subclass names the failure class, and
            ``attempts`` lists each agent tried.
        ConcurrencyLimitNotFoundError: ``strict_limits`` is set and a limit does
            not exist.

    Examples:
        Run an agent with a fallback from a sync flow; ``await`` it in an async flow:

        ```python
        from prefect import flow
        from prefect_aixplain import run_agent

        @flow
        def triage(report: str) -> str:
            result = run_agent(
                "aixplain",
                "triage-primary",
                report,
                fallbacks=["triage-secondary"],
                output_format="json",
                expected_output={"summary": "string", "risk": "low|medium|high"},
                artifact_key="triage",
            )
            return result.request_id
        ```
    """
    block = await load_credentials(credentials)
    request = _request(
        query,
        {
            "output_format": output_format,
            "expected_output": expected_output,
            "variables": variables,
            "session_id": session_id,
            "history": history,
            "max_tokens": max_tokens,
            "max_iterations": max_iterations,
            "max_time": max_time,
        },
    )
    chain = [agent_id, *fallbacks]
    key = build_artifact_key(artifact_key or f"aixplain-{agent_id}")
    ledger = SubmissionLedger.for_current_task(
        json.dumps([chain, request.model_dump(mode="json"), key], sort_keys=True)
    )
    limits = RunLimits(concurrency_limit, rate_limit, strict_limits)

    async with limited(limits), block.get_async_client() as client:
        try:
            result = await _run_or_resume(
                client, ledger, chain, request, timeout=timeout, progress=progress
            )
        except AixplainError as exc:
            if isinstance(exc, _RUN_ENDED):
                await ledger.aclear()
            await acreate_run_artifacts(error_row(exc), key)
            get_run_logger().error("Agent run failed: %s", exc.one_line())
            raise
        await ledger.aclear()
        poll_url = client.run_reference(result.request_id).poll_url

    await acreate_run_artifacts(result_row(result), key, poll_url=poll_url)
    get_run_logger().info(
        "Agent run %s: agent=%s request_id=%s fallback_used=%s credits=%s",
        result.status,
        result.agent_id,
        result.request_id,
        result.fallback_used,
        result.used_credits,
    )
    return result


@sync_compatible_task(
    name="submit_agent_run",
    task_run_name="submit-agent-run-{agent_id}",
    persist_result=True,
    retry_condition_fn=retry_condition_fn,
)
async def submit_agent_run(
    credentials: CredentialsRef,
    agent_id: str,
    query: str | Mapping[str, Any],
    *,
    output_format: str | None = None,
    expected_output: dict[str, Any] | None = None,
    variables: dict[str, Any] | None = None,
    session_id: str | None = None,
    history: list[dict[str, Any]] | None = None,
    max_tokens: int | None = None,
    max_iterations: int | None = None,
    max_time: int | None = None,
    timeout: float | None = None,
) -> str:
    """Start a run of an aiXplain agent and return its request id without waiting.

    The result is persisted and cached per flow run and inputs, so a flow retry
    gets the request id of the run already submitted instead of posting again.
    Wait for the run with :func:`wait_for_agent_run`.

    Args:
        credentials: an :class:`AixplainCredentials` block or the name of a saved one.
        agent_id: the agent to run.
        query: the text, or an object, the agent works on.
        output_format: "text", "markdown" or "json".
        expected_output: the JSON shape to ask for.
        variables: values for the agent's prompt variables.
        session_id: continue this aiXplain session.
        history: earlier messages of the conversation.
        max_tokens: limit on generated tokens.
        max_iterations: limit on the agent's reasoning steps.
        max_time: limit on the run's duration on the service, in seconds.
        timeout: deadline in seconds for the submission, retries included.

    Returns:
        The run's request id.

    Examples:
        ```python
        from prefect import flow
        from prefect_aixplain import submit_agent_run, wait_for_agent_run

        @flow
        def start_then_wait() -> str:
            request_id = submit_agent_run("aixplain", "echo", "hello")
            return wait_for_agent_run("aixplain", request_id, agent_id="echo").output
        ```
    """
    block = await load_credentials(credentials)
    request = _request(
        query,
        {
            "output_format": output_format,
            "expected_output": expected_output,
            "variables": variables,
            "session_id": session_id,
            "history": history,
            "max_tokens": max_tokens,
            "max_iterations": max_iterations,
            "max_time": max_time,
        },
    )
    async with block.get_async_client() as client:
        submitted: SubmittedRun = await client.submit(
            agent_id, request=request, timeout=timeout
        )
    get_run_logger().info(
        "Submitted agent=%s request_id=%s", submitted.agent_id, submitted.request_id
    )
    return submitted.request_id


@sync_compatible_task(
    name="wait_for_agent_run",
    task_run_name="wait-for-agent-run-{request_id}",
    cache_policy=NO_CACHE,
    retry_condition_fn=retry_condition_fn,
)
async def wait_for_agent_run(
    credentials: CredentialsRef,
    request_id: str,
    *,
    agent_id: str | None = None,
    output_format: str | None = None,
    expected_output: dict[str, Any] | None = None,
    timeout: float | None = None,
    progress: str = "off",
    artifact_key: str | None = None,
) -> AgentRunResult:
    """Poll an existing run to its end and record it; never submit a new run.

    Use it to resume a run started elsewhere, for example by
    :func:`submit_agent_run` or by a flow run that crashed.

    Args:
        credentials: an :class:`AixplainCredentials` block or the name of a saved one.
        request_id: the ``requestId`` the service returned for the run.
        agent_id: the agent of the run, shown in logs and artifacts; guessed from
            the request id when left out.
        output_format: "json" parses the output; "text" and "markdown" keep it.
        expected_output: the JSON shape to validate the output against.
        timeout: deadline in seconds for the polls (default 300).
        progress: "off", "status" or "logs"; see :func:`run_agent`.
        artifact_key: the key of the table artifact; default ``aixplain-<agent>``.

    Returns:
        The run's result.

    Raises:
        AixplainError: the run failed, timed out or returned invalid output.

    Examples:
        ```python
        from prefect import flow
        from prefect_aixplain import wait_for_agent_run

        @flow
        def resume(request_id: str) -> str:
            return wait_for_agent_run("aixplain", request_id).status
        ```
    """
    block = await load_credentials(credentials)
    async with block.get_async_client() as client:
        run = client.run_reference(request_id, agent_id=agent_id)
        key = build_artifact_key(artifact_key or f"aixplain-{run.agent_id}")
        get_run_logger().info(
            "Waiting for agent=%s request_id=%s", run.agent_id, run.request_id
        )
        try:
            result = await client.resume(
                run,
                output_format=output_format,  # type: ignore[arg-type]
                expected_output=expected_output,
                timeout=timeout,
                progress=progress,  # type: ignore[arg-type]
            )
        except AixplainError as exc:
            await acreate_run_artifacts(error_row(exc), key)
            get_run_logger().error("Agent run failed: %s", exc.one_line())
            raise

    await acreate_run_artifacts(result_row(result), key, poll_url=run.poll_url)
    get_run_logger().info(
        "Agent run %s: agent=%s request_id=%s credits=%s",
        result.status,
        result.agent_id,
        result.request_id,
        result.used_credits,
    )
    return result
