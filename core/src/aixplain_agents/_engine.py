"""The run-and-poll state machine, written once for the sync and the async driver.

Each flow is a generator: it yields the next action (an HTTP call, a sleep, or a
"submitted" notice) and receives the outcome of HTTP calls. The drivers in
``_transport.py`` perform the actions over httpx; all decisions happen here and in
``_policy.py``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar

from aixplain_agents import _protocol as wire
from aixplain_agents._exceptions import (
    AixplainError,
    AmbiguousSubmitError,
    AuthenticationError,
    CircuitOpenError,
    ClientRequestError,
    InvalidResponseError,
    OutputValidationError,
    RunFailedError,
    RunTimeoutError,
    ServiceRejectedError,
    TransportError,
)
from aixplain_agents._models import (
    AgentRunResult,
    AgentSpec,
    Attempt,
    ExecutionParams,
    RunCheck,
    RunRequest,
    SubmittedRun,
)
from aixplain_agents._outcome import Outcome
from aixplain_agents._output import (
    find_type_problem,
    output_sample,
    parse_json_output,
    validate_model,
)
from aixplain_agents._policy import (
    DEFAULT_BREAKER,
    CircuitBreaker,
    Clock,
    Deadline,
    PollSchedule,
    RetryPolicy,
    SubmitAction,
    classify_submit_status,
    decide_submit_retry,
    is_transient_poll_status,
    may_fall_back,
    parse_retry_after,
    server_max_time,
)
from aixplain_agents._progress import ProgressOptions, ProgressReporter

logger = logging.getLogger(__name__)
T = TypeVar("T")


# --- Actions a flow yields, and what the driver sends back.


@dataclass(frozen=True)
class HttpCall:
    """Send one request; the driver adds the API key on the base URL's origin only."""

    method: Literal["GET", "POST"]
    url: str
    timeout: float
    json: dict[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpReply:
    """An HTTP response of any status; header names are lowercase."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes


@dataclass(frozen=True)
class HttpFailure:
    """No HTTP response came; ``outcome`` is NOT_SENT or AMBIGUOUS."""

    outcome: Outcome
    description: str


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` before the next step."""

    seconds: float


@dataclass(frozen=True)
class Submitted:
    """The service accepted a run; the driver calls the caller's ``on_submit``."""

    run: SubmittedRun


Action = HttpCall | Sleep | Submitted
Reply = HttpReply | HttpFailure | None
Flow = Generator[Action, Reply, T]


@dataclass(frozen=True)
class RunPlan:
    """Everything a flow needs, fixed before the first request."""

    base_url: str
    request_timeout: float
    timeout: float
    chain: tuple[AgentSpec, ...] = ()
    request: RunRequest | None = None
    params: ExecutionParams = field(default_factory=ExecutionParams)
    resume: SubmittedRun | None = None
    schedule: PollSchedule = field(default_factory=PollSchedule)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    progress: ProgressOptions = field(default_factory=ProgressOptions)
    breaker: CircuitBreaker = field(default_factory=lambda: DEFAULT_BREAKER)
    allow_duplicate_submit: bool = False
    rng: random.Random = field(default_factory=random.Random)
    clock: Clock = time.monotonic

    def params_for(self, spec: AgentSpec | None) -> ExecutionParams:
        """Return the execution params of a run of ``spec``, overrides applied."""
        base = self.request.execution_params if self.request else self.params
        return base.merged_with(spec.execution_params if spec else None)


# --- Public flows.


def run_flow(plan: RunPlan) -> Flow[AgentRunResult]:
    """Run the chain (or resume ``plan.resume``) until one agent gives a valid result.

    A resumed run counts as the attempt of its agent. When it fails in a way that
    allows a fallback, the agents after it in the chain run next.
    """
    deadline = Deadline(plan.timeout, plan.clock)
    steps = _chain_steps(plan)
    attempts: list[Attempt] = []

    for position, (spec, resumed) in enumerate(steps):
        is_last = position == len(steps) - 1
        breaker_key = f"{plan.base_url} {spec.agent_id}"
        if resumed is None and plan.breaker.is_open(breaker_key):
            _record_skip(attempts, spec.agent_id)
            if is_last:
                error = CircuitOpenError(
                    f"agent {spec.agent_id} is skipped: its circuit breaker is open "
                    "after repeated failures, and no fallback agent is left",
                    agent_id=spec.agent_id,
                )
                error.attempts = attempts
                raise error
            continue

        started_at, started = datetime.now(timezone.utc), plan.clock()
        try:
            result = yield from _attempt(plan, spec, resumed, deadline)
        except AixplainError as error:
            outcome = error.outcome
            if outcome is Outcome.REMOTE_FAILURE:
                plan.breaker.record_failure(breaker_key)
            attempts.append(
                Attempt(
                    agent_id=spec.agent_id,
                    request_id=error.request_id,
                    outcome=outcome,
                    reason=error.message,
                    started_at=started_at,
                    duration=plan.clock() - started,
                )
            )
            if is_last or not may_fall_back(outcome) or deadline.expired():
                error.attempts = attempts
                raise
            next_agent = steps[position + 1][0].agent_id
            logger.warning(
                "falling back from agent=%s request_id=%s to agent=%s after %s: %s",
                spec.agent_id,
                error.request_id,
                next_agent,
                outcome.value,
                error.message,
            )
            continue

        plan.breaker.record_success(breaker_key)
        attempts.append(
            Attempt(
                agent_id=spec.agent_id,
                request_id=result.request_id,
                outcome=Outcome.SUCCESS,
                started_at=started_at,
                duration=plan.clock() - started,
                possible_duplicate=result.possible_duplicate,
            )
        )
        return result.model_copy(update={"attempts": attempts})

    raise ValueError("the agent chain is empty; pass at least one agent id")


def submit_flow(plan: RunPlan) -> Flow[SubmittedRun]:
    """Submit a run of the chain's first agent and return without polling."""
    if not plan.chain or plan.request is None:
        raise ValueError("submit needs an agent and a request")
    spec = plan.chain[0]
    deadline = Deadline(plan.timeout, plan.clock).sooner(spec.timeout)
    accepted = yield from _submit(plan, spec, deadline)
    if isinstance(accepted, wire.Finished):
        request_id = str(accepted.body.get("requestId") or "")
        return SubmittedRun(
            agent_id=spec.agent_id,
            request_id=request_id,
            poll_url=wire.result_url(plan.base_url, request_id),
        )
    yield Submitted(accepted)
    return accepted


def check_flow(plan: RunPlan, run: SubmittedRun) -> Flow[RunCheck]:
    """Poll ``run`` once and report its state; only a client error (4xx) raises."""
    reply = yield HttpCall("GET", run.poll_url, timeout=plan.request_timeout)
    assert reply is not None

    def unknown(reason: str) -> RunCheck:
        logger.info(
            "poll of agent=%s request_id=%s failed: %s",
            run.agent_id,
            run.request_id,
            reason,
        )
        return RunCheck(
            agent_id=run.agent_id,
            request_id=run.request_id,
            status="UNKNOWN",
            finished=False,
            succeeded=False,
            reason=reason,
        )

    if isinstance(reply, HttpFailure):
        return unknown(reply.description)
    if is_transient_poll_status(reply.status_code):
        return unknown(f"HTTP {reply.status_code}")
    if reply.status_code >= 300:
        raise _client_error(
            reply,
            f"polling request {run.request_id} of agent {run.agent_id} failed",
            run.agent_id,
            run.request_id,
        )

    state = wire.interpret_poll(wire.decode_json(reply.content))
    if isinstance(state, wire.Malformed):
        return unknown(f"invalid body: {state.problem}")
    if isinstance(state, wire.Running):
        status, finished, succeeded, steps = wire.IN_PROGRESS, False, False, state.steps
    else:
        status, finished, succeeded = state.status, True, state.succeeded
        steps = wire.as_dict(state.body.get("data")).get("steps") or []
    return RunCheck(
        agent_id=run.agent_id,
        request_id=run.request_id,
        status=status,
        finished=finished,
        succeeded=succeeded,
        steps=len(steps) if isinstance(steps, list) else 0,
        reason=None if succeeded or not finished else _finished_reason(state),
    )


def _finished_reason(state: wire.PollState) -> str | None:
    if isinstance(state, wire.Finished):
        return state.supplier_error or state.error_message
    return None


def next_fallback(chain: tuple[AgentSpec, ...], agent_id: str) -> AgentSpec | None:
    """Return the agent after ``agent_id`` in ``chain``, or None at its end."""
    ids = [spec.agent_id for spec in chain]
    if agent_id not in ids:
        return None
    position = ids.index(agent_id)
    return chain[position + 1] if position + 1 < len(chain) else None


# --- One attempt: submit (unless resumed), poll, check the result.


def _chain_steps(plan: RunPlan) -> list[tuple[AgentSpec, SubmittedRun | None]]:
    if plan.resume is None:
        if not plan.chain:
            raise ValueError("the agent chain is empty; pass at least one agent id")
        return [(spec, None) for spec in plan.chain]

    resumed = plan.resume
    ids = [spec.agent_id for spec in plan.chain]
    if resumed.agent_id in ids:
        position = ids.index(resumed.agent_id)
        first, rest = plan.chain[position], plan.chain[position + 1 :]
    else:
        first, rest = AgentSpec(agent_id=resumed.agent_id), ()
    return [(first, resumed)] + [(spec, None) for spec in rest]


def _attempt(
    plan: RunPlan,
    spec: AgentSpec,
    resumed: SubmittedRun | None,
    deadline: Deadline,
) -> Flow[AgentRunResult]:
    agent_deadline = deadline.sooner(spec.timeout)
    run = resumed
    if run is None:
        accepted = yield from _submit(plan, spec, agent_deadline)
        if isinstance(accepted, wire.Finished):
            request_id = str(accepted.body.get("requestId") or "")
            return _result(plan, spec, request_id, accepted, possible_duplicate=False)
        run = accepted
        yield Submitted(run)
    else:
        logger.info("resuming agent=%s request_id=%s", run.agent_id, run.request_id)

    finished = yield from _poll(plan, run, agent_deadline, overall=deadline)
    return _result(plan, spec, run.request_id, finished, run.possible_duplicate)


def _submit(
    plan: RunPlan, spec: AgentSpec, deadline: Deadline
) -> Flow[SubmittedRun | wire.Finished]:
    """Send the run request, resending only when no run can have been created."""
    assert plan.request is not None
    agent_id = spec.agent_id
    params = plan.params_for(spec)
    request = plan.request.model_copy(update={"execution_params": params})
    url = wire.run_url(plan.base_url, agent_id)
    failures = 0
    possible_duplicate = False

    while True:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise RunTimeoutError(
                f"the deadline of {deadline.seconds:g} s passed before agent "
                f"{agent_id} accepted the run",
                agent_id=agent_id,
            )
        body = wire.build_run_payload(
            agent_id, request, server_max_time(params.max_time, remaining)
        )
        reply = yield HttpCall(
            "POST",
            url,
            timeout=min(plan.request_timeout, remaining),
            json=body,
            headers=wire.run_headers(request),
        )
        assert reply is not None
        retry_after: float | None = None

        if isinstance(reply, HttpFailure):
            outcome, reason = reply.outcome, reply.description
        elif 200 <= reply.status_code < 300:
            return _accepted(plan, agent_id, reply, possible_duplicate)
        else:
            outcome = classify_submit_status(reply.status_code)
            message, _, _ = wire.error_details(reply.content)
            reason = f"HTTP {reply.status_code}" + (f": {message}" if message else "")
            if outcome is Outcome.CLIENT_ERROR:
                raise _client_error(
                    reply, f"agent {agent_id} rejected the run request", agent_id
                )
            retry_after = parse_retry_after(reply.headers.get("retry-after"))

        action = decide_submit_retry(
            outcome, allow_duplicate_submit=plan.allow_duplicate_submit
        )
        if action is SubmitAction.STOP:
            raise AmbiguousSubmitError(
                f"the run request to agent {agent_id} may have reached the service "
                f"({reason}), so a run may exist; it was not resent to avoid a "
                "duplicate billable run. Check the agent's runs, or pass "
                "allow_duplicate_submit=True to resend in such cases",
                agent_id=agent_id,
            )
        failures += 1
        possible_duplicate = possible_duplicate or outcome is Outcome.AMBIGUOUS
        wait = plan.retry.wait_before_retry(failures, retry_after, plan.rng)
        if failures >= plan.retry.max_submit_attempts or wait >= deadline.remaining():
            raise _submit_exhausted(url, agent_id, failures, reason, reply)

        logger.warning(
            "retrying run request agent=%s attempt=%d reason=%s (%s) in %.2f s",
            agent_id,
            failures + 1,
            outcome.value,
            reason,
            wait,
        )
        yield Sleep(wait)


def _accepted(
    plan: RunPlan, agent_id: str, reply: HttpReply, possible_duplicate: bool
) -> SubmittedRun | wire.Finished:
    decoded = wire.decode_json(reply.content)
    state = (
        decoded
        if isinstance(decoded, wire.Malformed)
        else wire.interpret_submit(decoded)
    )
    if isinstance(state, wire.Malformed):
        raise InvalidResponseError(
            f"the response to the run request of agent {agent_id} is invalid: "
            f"{state.problem}",
            agent_id=agent_id,
        )
    if isinstance(state, wire.Finished):
        logger.info("agent=%s returned a final result in the run response", agent_id)
        return state

    poll_url = wire.result_url(plan.base_url, state.request_id)
    if state.poll_url is not None:
        if wire.is_same_origin(state.poll_url, plan.base_url):
            poll_url = state.poll_url
        else:
            _warn_foreign_poll_url(plan.base_url)
    logger.info("submitted run agent=%s request_id=%s", agent_id, state.request_id)
    return SubmittedRun(
        agent_id=agent_id,
        request_id=state.request_id,
        poll_url=poll_url,
        possible_duplicate=possible_duplicate,
    )


_warned_origins: set[str] = set()


def _warn_foreign_poll_url(base_url: str) -> None:
    if base_url in _warned_origins:
        return
    _warned_origins.add(base_url)
    logger.warning(
        "the service named a poll URL outside %s; polling the run's result URL on "
        "the configured origin instead, so the API key goes nowhere else",
        base_url,
    )


def _poll(
    plan: RunPlan, run: SubmittedRun, deadline: Deadline, overall: Deadline
) -> Flow[wire.Finished]:
    """Poll until the run is terminal; re-poll transient failures, never resubmit."""
    reporter = ProgressReporter(
        plan.progress, plan.progress.logger or logger, run.agent_id, run.request_id
    )
    polls = transient_failures = invalid_bodies = 0

    while True:
        remaining = deadline.remaining()
        if remaining <= 0:
            scope = "overall" if overall.expired() else "agent"
            raise RunTimeoutError(
                f"run of agent {run.agent_id} did not finish within the {scope} "
                f"timeout of {deadline.seconds:g} s",
                agent_id=run.agent_id,
                request_id=run.request_id,
            )

        reply = yield HttpCall(
            "GET", run.poll_url, timeout=min(plan.request_timeout, remaining)
        )
        assert reply is not None
        retry_after: float | None = None

        if isinstance(reply, HttpFailure):
            reason = reply.description
        elif is_transient_poll_status(reply.status_code):
            reason = f"HTTP {reply.status_code}"
            retry_after = parse_retry_after(reply.headers.get("retry-after"))
        elif reply.status_code >= 300:
            raise _client_error(
                reply,
                f"polling request {run.request_id} of agent {run.agent_id} failed",
                run.agent_id,
                run.request_id,
            )
        else:
            state = wire.interpret_poll(wire.decode_json(reply.content))
            if isinstance(state, wire.Finished):
                # Steps that finished after the last IN_PROGRESS poll are only in
                # the terminal body, so report them before returning.
                final_steps = wire.as_dict(state.body.get("data")).get("steps")
                if isinstance(final_steps, list):
                    reporter.on_poll(state.status, final_steps)
                _log_finished(run, state, polls + 1)
                return state
            if isinstance(state, wire.Running):
                transient_failures = invalid_bodies = 0
                reporter.on_poll(wire.IN_PROGRESS, state.steps)
                yield Sleep(
                    min(plan.schedule.delay(polls, plan.rng), deadline.remaining())
                )
                polls += 1
                continue
            invalid_bodies += 1
            if invalid_bodies >= plan.retry.max_invalid_responses:
                raise InvalidResponseError(
                    f"poll of request {run.request_id} returned an invalid body "
                    f"{invalid_bodies} times in a row: {state.problem}",
                    agent_id=run.agent_id,
                    request_id=run.request_id,
                )
            reason = f"invalid body: {state.problem}"

        transient_failures += 1
        wait = plan.retry.wait_before_retry(transient_failures, retry_after, plan.rng)
        level = logging.WARNING if _worth_logging(transient_failures) else logging.DEBUG
        logger.log(
            level,
            "poll failed agent=%s request_id=%s attempt=%d reason=%s; "
            "re-polling in %.2f s",
            run.agent_id,
            run.request_id,
            transient_failures,
            reason,
            wait,
        )
        yield Sleep(min(wait, deadline.remaining()))


def _worth_logging(failures: int) -> bool:
    """Log the first three failures in a row, then every tenth, to keep logs short."""
    return failures <= 3 or failures % 10 == 0


def _log_finished(run: SubmittedRun, state: wire.Finished, polls: int) -> None:
    level = logging.INFO if state.succeeded else logging.WARNING
    logger.log(
        level,
        "run finished agent=%s request_id=%s status=%s polls=%d%s",
        run.agent_id,
        run.request_id,
        state.status,
        polls,
        f" error={state.error_message or state.supplier_error}"
        if not state.succeeded
        else "",
    )


# --- Turning a terminal state into a result or an error.


def _result(
    plan: RunPlan,
    spec: AgentSpec,
    request_id: str,
    finished: wire.Finished,
    possible_duplicate: bool,
) -> AgentRunResult:
    body = finished.body
    if not finished.succeeded:
        detail = finished.supplier_error or finished.error_message or "no error message"
        raise RunFailedError(
            f"run of agent {spec.agent_id} ended with status {finished.status}: "
            f"{detail}",
            status=finished.status,
            error_message=finished.error_message,
            supplier_error=finished.supplier_error,
            agent_id=spec.agent_id,
            request_id=request_id,
        )

    data = wire.as_dict(body.get("data"))
    params = plan.params_for(spec)
    output, model = _checked_output(
        data.get("output"), params, spec.agent_id, request_id
    )
    credits, run_time = wire.credits_and_run_time(body)
    steps = data.get("steps")
    return AgentRunResult(
        request_id=str(body.get("requestId") or request_id),
        agent_id=spec.agent_id,
        status=finished.status,
        completed=True,
        output=output,
        output_model=model,
        steps=steps if isinstance(steps, list) else [],
        used_credits=credits,
        run_time=run_time,
        session_id=wire.session_id_of(body),
        possible_duplicate=possible_duplicate,
    )


def _checked_output(
    output: Any, params: ExecutionParams, agent_id: str, request_id: str
) -> tuple[Any, Any]:
    """Parse and validate a JSON output; return (JSON value, model instance or None)."""
    if params.output_format != "json" and params.expected_output is None:
        return output, None

    def invalid(problem: str) -> OutputValidationError:
        sample = output_sample(output)
        return OutputValidationError(
            f"output of agent {agent_id} does not match the expected output: "
            f"{problem}; output starts with {sample!r}",
            problem=problem,
            sample=sample,
            agent_id=agent_id,
            request_id=request_id,
        )

    try:
        value = parse_json_output(output)
    except ValueError as exc:
        raise invalid(str(exc)) from None

    expected = params.expected_output
    if expected is None:
        return value, None
    if isinstance(expected, dict):
        problem = find_type_problem(value, expected)
        if problem:
            raise invalid(problem)
        return value, None
    model, problem = validate_model(value, expected)
    if problem:
        raise invalid(problem)
    return value, model


def _client_error(
    reply: HttpReply, context: str, agent_id: str, request_id: str | None = None
) -> ClientRequestError:
    message, error, supplier = wire.error_details(reply.content)
    status = reply.status_code
    kind = AuthenticationError if status == 401 else ClientRequestError
    hint = " (check the API key)" if status in (401, 403) else ""
    return kind(
        f"{context}: HTTP {status}" + (f": {message}" if message else "") + hint,
        status_code=status,
        error=error,
        supplier_error=supplier,
        agent_id=agent_id,
        request_id=request_id,
    )


def _submit_exhausted(
    url: str, agent_id: str, failures: int, reason: str, reply: Reply
) -> AixplainError:
    text = (
        f"run request to agent {agent_id} at {url} failed {failures} times; "
        f"last: {reason}"
    )
    if isinstance(reply, HttpReply):
        return ServiceRejectedError(
            text, status_code=reply.status_code, agent_id=agent_id
        )
    return TransportError(text, agent_id=agent_id)


def _record_skip(attempts: list[Attempt], agent_id: str) -> None:
    logger.warning("skipping agent=%s: circuit breaker open", agent_id)
    attempts.append(
        Attempt(
            agent_id=agent_id,
            request_id=None,
            outcome=Outcome.CIRCUIT_OPEN,
            reason="circuit breaker open",
            started_at=datetime.now(timezone.utc),
            duration=0.0,
        )
    )
