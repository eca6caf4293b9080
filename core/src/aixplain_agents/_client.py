"""The public clients: ``AgentClient`` (blocking) and ``AsyncAgentClient`` (asyncio)."""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from aixplain_agents import _protocol as wire
from aixplain_agents._config import ConnectionSettings, validation_message
from aixplain_agents._engine import (
    HttpCall,
    HttpReply,
    RunPlan,
    _client_error,
    check_flow,
    run_flow,
    submit_flow,
)
from aixplain_agents._exceptions import (
    ConfigurationError,
    InvalidResponseError,
    TransportError,
)
from aixplain_agents._ids import check_id
from aixplain_agents._models import (
    AgentRunResult,
    AgentSpec,
    ExecutionParams,
    OutputFormat,
    RunCheck,
    RunRequest,
    SubmittedRun,
)
from aixplain_agents._policy import (
    DEFAULT_BREAKER,
    CircuitBreaker,
    PollSchedule,
    RetryPolicy,
)
from aixplain_agents._progress import ProgressMode, ProgressOptions
from aixplain_agents._transport import (
    DEFAULT_LIMITS,
    AsyncOnSubmit,
    OnSubmit,
    adrive,
    drive,
)

AgentRef = str | AgentSpec | Mapping[str, Any]
DEFAULT_TIMEOUT = 300.0


class _ClientBase:
    """Settings and plan building shared by both clients."""

    def __init__(
        self,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        *,
        settings: ConnectionSettings | None = None,
        request_timeout: float = 30.0,
        allow_insecure_http: bool = False,
        poll_schedule: PollSchedule | None = None,
        retry_policy: RetryPolicy | None = None,
        circuit_breaker: CircuitBreaker | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings or ConnectionSettings.from_env(
            api_key,
            base_url,
            request_timeout=request_timeout,
            allow_insecure_http=allow_insecure_http,
        )
        self.poll_schedule = poll_schedule or PollSchedule()
        self.retry_policy = retry_policy or RetryPolicy()
        self.circuit_breaker = circuit_breaker or DEFAULT_BREAKER
        self._rng = rng or random.Random()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.base_url!r})"

    def _plan(
        self,
        *,
        timeout: float | None,
        chain: Sequence[AgentRef] = (),
        request: RunRequest | None = None,
        params: ExecutionParams | None = None,
        resume: SubmittedRun | None = None,
        progress: ProgressMode | ProgressOptions | None = None,
        allow_duplicate_submit: bool = False,
    ) -> RunPlan:
        if isinstance(progress, str) or progress is None:
            progress = ProgressOptions(mode=progress or "off")
        try:
            specs = tuple(AgentSpec.coerce(agent) for agent in chain)
        except ValidationError as exc:
            raise ConfigurationError(
                f"invalid agent in the chain: {_first_error(exc)}"
            ) from None
        if timeout is not None:
            check_timeout(timeout)
        return RunPlan(
            base_url=self.settings.base_url,
            request_timeout=self.settings.request_timeout,
            timeout=timeout or DEFAULT_TIMEOUT,
            chain=specs,
            request=request,
            params=params or ExecutionParams(),
            resume=resume,
            schedule=self.poll_schedule,
            retry=self.retry_policy,
            progress=progress,
            breaker=self.circuit_breaker,
            allow_duplicate_submit=allow_duplicate_submit,
            rng=self._rng,
        )

    def _run_plan(
        self,
        agent: AgentRef | Sequence[AgentRef],
        query: str | Mapping[str, Any] | None,
        *,
        fallbacks: Sequence[AgentRef],
        request: RunRequest | None,
        request_fields: dict[str, Any],
        timeout: float | None,
        progress: ProgressMode | ProgressOptions | None,
        allow_duplicate_submit: bool,
    ) -> RunPlan:
        chain = _as_chain(agent, fallbacks)
        run_request = request or build_request(query, **request_fields)
        return self._plan(
            timeout=timeout,
            chain=chain,
            request=run_request,
            progress=progress,
            allow_duplicate_submit=allow_duplicate_submit,
        )

    def _resume_plan(
        self,
        run: SubmittedRun | str,
        *,
        agent_id: str | None,
        fallbacks: Sequence[AgentRef],
        request: RunRequest | None,
        output_format: OutputFormat | None,
        expected_output: dict[str, Any] | type[BaseModel] | None,
        timeout: float | None,
        progress: ProgressMode | ProgressOptions | None,
    ) -> RunPlan:
        if isinstance(run, str):
            run = self.run_reference(run, agent_id=agent_id)
        params = ExecutionParams(
            output_format=output_format, expected_output=expected_output
        )
        if request is not None:
            params = request.execution_params.merged_with(
                ExecutionParams.model_validate(params.model_dump(exclude_none=True))
            )
        return self._plan(
            timeout=timeout,
            chain=[run.agent_id, *fallbacks] if fallbacks else (),
            request=request if fallbacks else None,
            params=params,
            resume=run,
            progress=progress,
        )

    def run_reference(
        self, request_id: str, *, agent_id: str | None = None
    ) -> SubmittedRun:
        """Return a handle to an existing run, for ``resume``; no request is sent."""
        poll_url = wire.result_url(self.settings.base_url, request_id)
        if agent_id is not None:
            check_id(agent_id, "agent id")
        return SubmittedRun(
            agent_id=agent_id or _agent_of(request_id),
            request_id=request_id,
            poll_url=poll_url,
        )

    def _http_options(self) -> dict[str, Any]:
        return {
            "limits": DEFAULT_LIMITS,
            "timeout": httpx.Timeout(self.settings.request_timeout),
            "follow_redirects": False,
        }


class AgentClient(_ClientBase):
    """Runs aiXplain agents with blocking IO.

    Examples:
        >>> client = AgentClient()  # reads AIXPLAIN_API_KEY and AIXPLAIN_BASE_URL
        >>> result = client.run("triage-primary", "Disk full on db-1",
        ...                     fallbacks=["triage-secondary"], timeout=120)
        >>> result.request_id, result.output
    """

    def __init__(
        self, *args: Any, http_client: httpx.Client | None = None, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(**self._http_options())

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool if this client created it."""
        if self._owns_http:
            self._http.close()

    def run(
        self,
        agent: AgentRef | Sequence[AgentRef],
        query: str | Mapping[str, Any] | None = None,
        *,
        fallbacks: Sequence[AgentRef] = (),
        request: RunRequest | None = None,
        timeout: float | None = None,
        progress: ProgressMode | ProgressOptions | None = None,
        on_submit: OnSubmit | None = None,
        allow_duplicate_submit: bool = False,
        **request_fields: Any,
    ) -> AgentRunResult:
        """Run ``agent`` (then each of ``fallbacks`` in order) until one succeeds.

        Args:
            agent: an agent id, an :class:`AgentSpec`, or a list of them (the chain).
            query: the text or object the agent works on.
            fallbacks: agents tried in order after a remote failure, a timeout of the
                agent's own ``timeout``, or invalid output.
            request: a full :class:`RunRequest`, instead of ``query`` and fields.
            timeout: overall deadline in seconds for submits, polls and fallbacks
                (default 300). ``maxTime`` sent to the service never exceeds it.
            progress: "status", "logs" or :class:`ProgressOptions`.
            on_submit: called with each :class:`SubmittedRun` before its first poll,
                so a caller can store the request id and resume after a crash.
            allow_duplicate_submit: resend a run request whose fate is unknown.
            **request_fields: ``variables``, ``history``, ``session_id``,
                ``execution_params``, ``output_format``, ``expected_output``,
                ``max_tokens``, ``max_iterations``, ``max_time``,
                ``run_response_generation``.

        Returns:
            The :class:`AgentRunResult` of the agent that succeeded.

        Raises:
            AixplainError: a subclass naming the failure class; ``.attempts`` lists
                every agent tried.
        """
        plan = self._run_plan(
            agent,
            query,
            fallbacks=fallbacks,
            request=request,
            request_fields=request_fields,
            timeout=timeout,
            progress=progress,
            allow_duplicate_submit=allow_duplicate_submit,
        )
        return drive(run_flow(plan), self._http, self.settings, on_submit)

    def submit(
        self,
        agent: AgentRef,
        query: str | Mapping[str, Any] | None = None,
        *,
        request: RunRequest | None = None,
        timeout: float | None = None,
        allow_duplicate_submit: bool = False,
        **request_fields: Any,
    ) -> SubmittedRun:
        """Start a run of ``agent`` and return its handle without waiting."""
        plan = self._run_plan(
            agent,
            query,
            fallbacks=(),
            request=request,
            request_fields=request_fields,
            timeout=timeout,
            progress=None,
            allow_duplicate_submit=allow_duplicate_submit,
        )
        return drive(submit_flow(plan), self._http, self.settings)

    def resume(
        self,
        run: SubmittedRun | str,
        *,
        agent_id: str | None = None,
        fallbacks: Sequence[AgentRef] = (),
        request: RunRequest | None = None,
        output_format: OutputFormat | None = None,
        expected_output: dict[str, Any] | type[BaseModel] | None = None,
        timeout: float | None = None,
        progress: ProgressMode | ProgressOptions | None = None,
        on_submit: OnSubmit | None = None,
    ) -> AgentRunResult:
        """Poll an existing run (handle or request id) to its end; never resubmit it.

        With ``fallbacks`` and ``request``, a failure of the resumed run moves on to
        the fallback agents as :meth:`run` would.
        """
        plan = self._resume_plan(
            run,
            agent_id=agent_id,
            fallbacks=fallbacks,
            request=request,
            output_format=output_format,
            expected_output=expected_output,
            timeout=timeout,
            progress=progress,
        )
        return drive(run_flow(plan), self._http, self.settings, on_submit)

    def check(
        self, run: SubmittedRun | str, *, agent_id: str | None = None
    ) -> RunCheck:
        """Poll a run once and return its state without waiting for the end.

        For sensors: a failed poll gives status ``UNKNOWN`` rather than an error;
        only a client error (4xx, such as an unknown request id) raises.
        """
        handle = (
            run
            if isinstance(run, SubmittedRun)
            else self.run_reference(run, agent_id=agent_id)
        )
        plan = self._plan(timeout=None, resume=handle)
        return drive(check_flow(plan, handle), self._http, self.settings)

    def get_agent(self, agent_id: str) -> dict[str, Any]:
        """Return the agent's description; a cheap authenticated call to test a key."""
        url = wire.agent_url(self.settings.base_url, agent_id)
        call = HttpCall("GET", url, timeout=self.settings.request_timeout)
        try:
            response = self._http.get(url, headers=_auth_headers(self.settings, call))
        except httpx.TransportError as exc:
            raise TransportError(
                f"could not reach {self.settings.base_url}: {exc}"
            ) from None
        return _agent_body(response, agent_id)


# Shared async clients per event loop, then per settings and options. An entry goes
# away with its loop.
# NOTE: a shared client's pool is not closed when its loop ends; its sockets close
# when the client is garbage-collected.
_SHARED_CLIENTS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[Any, ...], AsyncAgentClient]
] = weakref.WeakKeyDictionary()


class AsyncAgentClient(_ClientBase):
    """Runs aiXplain agents on asyncio; one client can track thousands of runs at once.

    The client owns one connection pool (``httpx.AsyncClient``, at most 100
    connections), so share it across concurrent ``run`` calls.

    Examples:
        >>> async with AsyncAgentClient() as client:
        ...     results = await asyncio.gather(
        ...         *(client.run("triage-primary", text) for text in incidents))
    """

    def __init__(
        self, *args: Any, http_client: httpx.AsyncClient | None = None, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(**self._http_options())
        self._slots = asyncio.Semaphore(DEFAULT_LIMITS.max_connections or 100)
        self._shared = False

    @classmethod
    def shared(cls, settings: ConnectionSettings, **options: Any) -> AsyncAgentClient:
        """Return the client of the running event loop for these settings and options.

        Code that many tasks run on one loop (Airflow triggers, for example) should
        take its client here, so they share one connection pool instead of opening
        one each. ``async with`` on a shared client does not close it; it lives as
        long as its event loop.
        """
        loop = asyncio.get_running_loop()
        clients = _SHARED_CLIENTS.setdefault(loop, {})
        key = (settings, tuple(sorted(options.items())))
        client = clients.get(key)
        if client is None or client._http.is_closed:
            client = cls(settings=settings, **options)
            client._shared = True
            clients[key] = client
        return client

    async def __aenter__(self) -> AsyncAgentClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._shared:
            await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool if this client created it."""
        if self._owns_http:
            await self._http.aclose()

    async def run(
        self,
        agent: AgentRef | Sequence[AgentRef],
        query: str | Mapping[str, Any] | None = None,
        *,
        fallbacks: Sequence[AgentRef] = (),
        request: RunRequest | None = None,
        timeout: float | None = None,
        progress: ProgressMode | ProgressOptions | None = None,
        on_submit: AsyncOnSubmit | None = None,
        allow_duplicate_submit: bool = False,
        **request_fields: Any,
    ) -> AgentRunResult:
        """Run ``agent`` with fallbacks; see :meth:`AgentClient.run`."""
        plan = self._run_plan(
            agent,
            query,
            fallbacks=fallbacks,
            request=request,
            request_fields=request_fields,
            timeout=timeout,
            progress=progress,
            allow_duplicate_submit=allow_duplicate_submit,
        )
        return await adrive(
            run_flow(plan), self._http, self.settings, self._slots, on_submit
        )

    async def submit(
        self,
        agent: AgentRef,
        query: str | Mapping[str, Any] | None = None,
        *,
        request: RunRequest | None = None,
        timeout: float | None = None,
        allow_duplicate_submit: bool = False,
        **request_fields: Any,
    ) -> SubmittedRun:
        """Start a run and return its handle; see :meth:`AgentClient.submit`."""
        plan = self._run_plan(
            agent,
            query,
            fallbacks=(),
            request=request,
            request_fields=request_fields,
            timeout=timeout,
            progress=None,
            allow_duplicate_submit=allow_duplicate_submit,
        )
        return await adrive(submit_flow(plan), self._http, self.settings, self._slots)

    async def resume(
        self,
        run: SubmittedRun | str,
        *,
        agent_id: str | None = None,
        fallbacks: Sequence[AgentRef] = (),
        request: RunRequest | None = None,
        output_format: OutputFormat | None = None,
        expected_output: dict[str, Any] | type[BaseModel] | None = None,
        timeout: float | None = None,
        progress: ProgressMode | ProgressOptions | None = None,
        on_submit: AsyncOnSubmit | None = None,
    ) -> AgentRunResult:
        """Poll an existing run to its end; see :meth:`AgentClient.resume`."""
        plan = self._resume_plan(
            run,
            agent_id=agent_id,
            fallbacks=fallbacks,
            request=request,
            output_format=output_format,
            expected_output=expected_output,
            timeout=timeout,
            progress=progress,
        )
        return await adrive(
            run_flow(plan), self._http, self.settings, self._slots, on_submit
        )

    async def check(
        self, run: SubmittedRun | str, *, agent_id: str | None = None
    ) -> RunCheck:
        """Poll a run once; see :meth:`AgentClient.check`."""
        handle = (
            run
            if isinstance(run, SubmittedRun)
            else self.run_reference(run, agent_id=agent_id)
        )
        plan = self._plan(timeout=None, resume=handle)
        return await adrive(
            check_flow(plan, handle), self._http, self.settings, self._slots
        )

    async def get_agent(self, agent_id: str) -> dict[str, Any]:
        """Return the agent's description; see :meth:`AgentClient.get_agent`."""
        url = wire.agent_url(self.settings.base_url, agent_id)
        call = HttpCall("GET", url, timeout=self.settings.request_timeout)
        try:
            response = await self._http.get(
                url, headers=_auth_headers(self.settings, call)
            )
        except httpx.TransportError as exc:
            raise TransportError(
                f"could not reach {self.settings.base_url}: {exc}"
            ) from None
        return _agent_body(response, agent_id)


# --- Helpers shared by both clients.


_REQUEST_FIELDS = {
    "variables",
    "history",
    "session_id",
    "execution_params",
    "run_response_generation",
}
_PARAM_FIELDS = {
    "output_format",
    "expected_output",
    "max_tokens",
    "max_iterations",
    "max_time",
}


def build_request(query: str | Mapping[str, Any] | None, **fields: Any) -> RunRequest:
    """Build a :class:`RunRequest` from a query and flat keyword fields.

    Raises ConfigurationError naming the field when a value is invalid or unknown.
    """
    unknown = set(fields) - _REQUEST_FIELDS - _PARAM_FIELDS
    if unknown:
        raise ConfigurationError(
            f"unknown run option(s) {sorted(unknown)}; valid options are "
            f"{sorted(_REQUEST_FIELDS | _PARAM_FIELDS)}"
        )
    if query is None:
        raise ConfigurationError(
            "query is missing; pass the text the agent should work on"
        )
    params_in = fields.pop("execution_params", None) or {}
    if isinstance(params_in, ExecutionParams):
        params_in = params_in.model_dump(exclude_unset=True)
    flat = {name: fields.pop(name) for name in list(fields) if name in _PARAM_FIELDS}
    try:
        params = ExecutionParams.model_validate({**params_in, **flat})
        query_value = dict(query) if isinstance(query, Mapping) else query
        return RunRequest(query=query_value, execution_params=params, **fields)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid run request: {_first_error(exc)}") from None


def _as_chain(
    agent: AgentRef | Sequence[AgentRef], fallbacks: Sequence[AgentRef]
) -> list[AgentRef]:
    if isinstance(agent, (str, AgentSpec, Mapping)):
        return [agent, *fallbacks]
    return [*agent, *fallbacks]


def _agent_of(request_id: str) -> str:
    """Guess the agent id from a request id of the form ``<agent>__<suffix>``."""
    head, separator, _ = request_id.partition("__")
    return head if separator and head else "unknown"


def _first_error(exc: ValidationError) -> str:
    return validation_message(exc.errors(include_url=False, include_input=False)[0])


# A week: longer than any agent run, short enough to keep deadline arithmetic finite.
MAX_TIMEOUT = 7 * 24 * 3600.0


def check_timeout(timeout: object) -> float:
    """Return ``timeout`` if it is a finite number of seconds in (0, a week]."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ConfigurationError(
            f"timeout must be a number of seconds, got {type(timeout).__name__} "
            f"{timeout!r}"
        )
    if not (0 < timeout <= MAX_TIMEOUT):
        raise ConfigurationError(
            f"timeout must be > 0 and at most {MAX_TIMEOUT:g} seconds (a week), "
            f"got {timeout}"
        )
    return float(timeout)


def _auth_headers(settings: ConnectionSettings, call: HttpCall) -> dict[str, str]:
    from aixplain_agents._transport import _headers

    return _headers(settings, call)


def _agent_body(response: httpx.Response, agent_id: str) -> dict[str, Any]:
    reply = HttpReply(response.status_code, dict(response.headers), response.content)
    if response.status_code >= 300:
        raise _client_error(reply, f"fetching agent {agent_id} failed", agent_id)
    body = wire.decode_json(response.content)
    if not isinstance(body, dict):
        raise InvalidResponseError(
            f"the description of agent {agent_id} is not a JSON object",
            agent_id=agent_id,
        )
    return body
