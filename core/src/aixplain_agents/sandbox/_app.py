"""The ASGI application: protocol routes, key check, fault injection, request log."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from ._bodies import (
    agent_body,
    error_body,
    legacy_agent_body,
    poll_body,
    submit_body,
)
from ._faults import remove_path, set_path
from ._responses import (
    OUTCOME_KEY,
    RAW_SEND_KEY,
    ClosedConnection,
    HeldResponse,
    malformed_json,
)
from ._scenario import AgentSpec, FaultSpec, Scenario
from ._store import AgentState, Run, SandboxState, Session

logger = logging.getLogger(__name__)

_DEFAULT_FAULT_MESSAGES = {
    400: "Invalid request.",
    401: "Invalid or expired API key.",
    403: "The API key has no access to this agent.",
    404: "Resource not found.",
    429: "Rate limit exceeded. Retry later.",
    500: "Internal server error.",
    502: "Bad gateway: the upstream model did not answer.",
    503: "Service temporarily unavailable.",
    504: "Gateway timeout: the upstream model timed out.",
}


class SandboxApp:
    """The sandbox server as an ASGI application.

    It wraps a Starlette router with a layer that logs each request (never its
    headers) and gives fault responses access to the raw connection.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.state = SandboxState(scenario)
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._router = Starlette(
            routes=[
                Route("/v2/agents/{agent_id}", self.get_agent, methods=["GET"]),
                Route("/v2/agents/{agent_id}/run", self.submit, methods=["POST"]),
                Route("/sdk/agents/{agent_id}", self.get_legacy_agent, methods=["GET"]),
                Route("/sdk/agents/{agent_id}/run", self.submit, methods=["POST"]),
                Route("/sdk/agents/{request_id}/result", self.poll, methods=["GET"]),
                Route("/v1/sessions", self.create_session, methods=["POST"]),
                Route(
                    "/v1/sessions/{session_id}",
                    self.session,
                    methods=["GET", "PUT"],
                ),
                Route(
                    "/v1/sessions/{session_id}/messages",
                    self.add_message,
                    methods=["POST"],
                ),
                Route("/sandbox/stats", self.stats, methods=["GET"]),
                Route("/sandbox/requests", self.requests, methods=["GET"]),
                Route("/sandbox/reset", self.reset, methods=["POST"]),
            ],
            exception_handlers={HTTPException: self._http_error},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            self._loop = asyncio.get_running_loop()
            await self._router(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        if self._loop is None:
            self._loop = asyncio.get_running_loop()

        scope[RAW_SEND_KEY] = send
        started = time.perf_counter()
        status: list[int] = []

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self._router(scope, receive, send_and_record)
        finally:
            if not scope["path"].startswith("/sandbox/"):
                self._log_request(scope, status[0] if status else None, started)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the app runs on, once the server has started."""
        return self._loop

    def request_stop(self) -> None:
        """Release withheld responses so that a server shutdown does not wait."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopping.set)

    # Agents and runs.

    async def get_agent(self, request: Request) -> Response:
        """Serve `GET /v2/agents/{agent_id}`."""
        return self._describe_agent(request, agent_body)

    async def get_legacy_agent(self, request: Request) -> Response:
        """Serve the legacy `GET /sdk/agents/{agent_id}`."""
        return self._describe_agent(request, legacy_agent_body)

    def _describe_agent(
        self, request: Request, body: Callable[[str, AgentSpec], dict[str, Any]]
    ) -> Response:
        rejected = self._check_api_key(request)
        if rejected is not None:
            return rejected
        agent_id = request.path_params["agent_id"]
        agent = self.state.agents.get(agent_id)
        if agent is None:
            return _agent_not_found(agent_id)
        return JSONResponse(body(agent_id, agent.spec))

    async def submit(self, request: Request) -> Response:
        """Serve `POST /v2/agents/{agent_id}/run` and the legacy `/sdk/...` one."""
        agent_id = request.path_params["agent_id"]
        agent = self.state.agents.get(agent_id)
        rejected = self._check_api_key(request)
        if rejected is not None:
            if agent is not None:
                agent.submits_rejected += 1
            return rejected
        if agent is None:
            return _agent_not_found(agent_id)

        payload = await _json_object(request)
        if payload is None:
            agent.submits_rejected += 1
            return _error(400, "The request body must be a JSON object.")

        params = payload.get("executionParams")
        params = params if isinstance(params, dict) else {}
        query = payload.get("query")
        session_id = payload.get("sessionId")
        run, fault = self._accept(
            agent,
            query=query,
            params=params,
            session_id=session_id if isinstance(session_id, str) else None,
        )
        if run is None:
            return self._rejection(fault)

        body = submit_body(run.request_id, _poll_url(request, run.request_id))
        return self._respond(body, fault, request_id=run.request_id)

    async def poll(self, request: Request) -> Response:
        """Serve `GET /sdk/agents/{request_id}/result`."""
        rejected = self._check_api_key(request)
        if rejected is not None:
            return rejected
        request_id = request.path_params["request_id"]
        run = self.state.runs.get(request_id)
        if run is None:
            return _error(404, f"Request {request_id!r} not found.")

        agent = self.state.agents[run.agent_id]
        run.polls += 1
        agent.polls_served += 1
        index = agent.plan.draw("poll", run.polls, run.query)
        fault = None if index is None else agent.plan.faults[index]
        if fault is not None:
            logger.info(
                "Injecting %s into poll %d of request %s",
                fault.kind,
                run.polls,
                request_id,
            )
        if fault is not None and fault.kind == "http_status":
            return self._rejection(fault)

        body = poll_body(run, agent, time.monotonic())
        if body["completed"]:
            logger.debug(
                "Request %s of agent %s ended with %s",
                request_id,
                run.agent_id,
                body["status"],
            )
        return self._respond(body, fault, request_id=request_id)

    # Sessions.

    async def create_session(self, request: Request) -> Response:
        """Serve `POST /v1/sessions`."""
        rejected = self._check_api_key(request)
        if rejected is not None:
            return rejected
        payload = await _json_object(request)
        if payload is None:
            return _error(400, "The request body must be a JSON object.")
        agent_id = payload.get("agentId")
        if not isinstance(agent_id, str) or agent_id not in self.state.agents:
            return _agent_not_found(str(agent_id))

        now = _now_iso()
        session = Session(
            session_id=f"sess-{uuid.uuid4().hex[:12]}",
            agent_id=agent_id,
            name=payload.get("name"),
            user_id="sandbox-user",
            created_at=now,
            execution_config=payload.get("executionConfig"),
        )
        self.state.sessions[session.session_id] = session
        return JSONResponse(session.to_json(), status_code=201)

    async def session(self, request: Request) -> Response:
        """Serve `GET` and `PUT /v1/sessions/{session_id}`."""
        rejected = self._check_api_key(request)
        if rejected is not None:
            return rejected
        session_id = request.path_params["session_id"]
        session = self.state.sessions.get(session_id)
        if session is None:
            return _error(404, f"Session {session_id!r} not found.")

        if request.method == "PUT":
            payload = await _json_object(request)
            if payload is None:
                return _error(400, "The request body must be a JSON object.")
            if "name" in payload:
                session.name = payload["name"]
            if "executionConfig" in payload:
                session.execution_config = payload["executionConfig"]
            session.updated_at = _now_iso()
        return JSONResponse(session.to_json())

    async def add_message(self, request: Request) -> Response:
        """Serve `POST /v1/sessions/{session_id}/messages`.

        A user message starts a run of the session's agent.
        """
        rejected = self._check_api_key(request)
        if rejected is not None:
            return rejected
        session_id = request.path_params["session_id"]
        session = self.state.sessions.get(session_id)
        if session is None:
            return _error(404, f"Session {session_id!r} not found.")
        payload = await _json_object(request)
        if payload is None or not isinstance(payload.get("content", ""), str):
            return _error(400, "The body must be a JSON object with a string content.")

        session.message_count += 1
        session.updated_at = _now_iso()
        role = payload.get("role", "user")
        message: dict[str, Any] = {
            "id": f"msg-{uuid.uuid4().hex[:12]}",
            "sessionId": session_id,
            "userId": session.user_id,
            "agentId": session.agent_id,
            "role": role,
            "content": payload.get("content", ""),
            "sequence": session.message_count,
            "requestId": None,
            "createdAt": session.updated_at,
        }
        if role != "user":
            return JSONResponse(message, status_code=201)

        config = session.execution_config or {}
        params = config.get("executionParams") if isinstance(config, dict) else None
        run, fault = self._accept(
            self.state.agents[session.agent_id],
            query={"input": message["content"]},
            params=params if isinstance(params, dict) else {},
            session_id=session_id,
        )
        if run is None:
            return self._rejection(fault)
        session.run_status = "running"
        message["requestId"] = run.request_id
        return self._respond(message, fault, request_id=run.request_id, status=201)

    # Control endpoints. They need no API key.

    async def stats(self, request: Request) -> Response:
        """Serve `GET /sandbox/stats`."""
        return JSONResponse(self.state.stats())

    async def requests(self, request: Request) -> Response:
        """Serve `GET /sandbox/requests?limit=N`."""
        raw_limit = request.query_params.get("limit")
        limit = None
        if raw_limit is not None:
            try:
                limit = int(raw_limit)
            except ValueError:
                return _error(400, f"limit must be an integer, got {raw_limit!r}.")
        return JSONResponse({"requests": self.state.recent_requests(limit)})

    async def reset(self, request: Request) -> Response:
        """Serve `POST /sandbox/reset`: forget runs, sessions and counters."""
        self.state.reset()
        logger.info("Sandbox state reset")
        return JSONResponse({"reset": True})

    # Helpers.

    def _accept(
        self,
        agent: AgentState,
        *,
        query: Any,
        params: dict[str, Any],
        session_id: str | None,
    ) -> tuple[Run | None, FaultSpec | None]:
        """Count a submit, draw its faults and create the run unless it is rejected."""
        agent.submits += 1
        plan = agent.plan
        index = plan.draw("submit", agent.submits, query)
        fault = None if index is None else plan.faults[index]
        if fault is not None and fault.kind in ("http_status", "connection_reset"):
            agent.submits_rejected += 1
            logger.info(
                "Rejecting submit %d of agent %s with %s",
                agent.submits,
                agent.agent_id,
                fault.kind,
            )
            return None, fault

        output_format = params.get("outputFormat")
        max_time = params.get("maxTime")
        run = Run(
            request_id=self.state.new_request_id(agent.agent_id),
            agent_id=agent.agent_id,
            query=query,
            expected_output=params.get("expectedOutput"),
            output_format=output_format if isinstance(output_format, str) else None,
            duration=agent.draw_duration(),
            outcome=plan.draw("run", agent.submits, query),
            session_id=session_id,
            max_time=max_time if isinstance(max_time, int) and max_time > 0 else None,
        )
        self.state.runs[run.request_id] = run
        agent.runs_accepted += 1
        outcome = agent.outcome_fault(run)
        logger.info(
            "Accepted run %s of agent %s (%.2f s%s%s)",
            run.request_id,
            agent.agent_id,
            run.duration,
            f", outcome {outcome.kind}" if outcome is not None else "",
            f", submit fault {fault.kind}" if fault is not None else "",
        )
        return run, fault

    def _rejection(self, fault: FaultSpec | None) -> Response:
        if fault is not None and fault.kind == "connection_reset":
            return ClosedConnection(reset=True)
        if fault is None or not isinstance(fault.status, int):
            return _error(500, "Internal server error.")

        headers = {}
        retry_after = fault.retry_after
        if retry_after is None and fault.status == 429:
            retry_after = 1
        if retry_after is not None:
            headers["Retry-After"] = str(math.ceil(retry_after))
        message = fault.message or _DEFAULT_FAULT_MESSAGES[fault.status]
        return JSONResponse(
            error_body(fault.status, message, fault.supplier_error),
            status_code=fault.status,
            headers=headers,
        )

    def _respond(
        self,
        body: dict[str, Any],
        fault: FaultSpec | None,
        *,
        request_id: str,
        status: int = 200,
    ) -> Response:
        """Send `body`, changed or withheld as the transport fault `fault` specifies."""
        if fault is None:
            return JSONResponse(body, status_code=status)
        if fault.kind == "connection_reset":
            return ClosedConnection(reset=True)
        if fault.kind == "response_dropped":
            return ClosedConnection(reset=False)
        if fault.kind == "withhold":
            return HeldResponse(
                JSONResponse(body, status_code=status),
                seconds=fault.seconds,
                stopping=self._stopping,
            )
        if fault.kind == "malformed_json":
            return malformed_json(body)
        if fault.kind == "missing_fields":
            for path in fault.fields or []:
                remove_path(body, path)
        elif fault.kind == "wrong_type":
            for path, value in (fault.values or {}).items():
                set_path(body, path, value)
        elif fault.kind == "foreign_poll_url" and fault.url:
            body["data"] = fault.url.replace("{request_id}", request_id)
        return JSONResponse(body, status_code=status)

    def _check_api_key(self, request: Request) -> Response | None:
        key = request.headers.get("x-api-key")
        if not key:
            return _error(401, "Missing API key. Send it in the x-api-key header.")
        accepted = self.state.scenario.api_keys
        if accepted and not any(
            hmac.compare_digest(key.encode(), known.encode()) for known in accepted
        ):
            return _error(401, "Invalid API key.")
        return None

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return _error(status, f"No route for {request.method} {request.url.path}.")

    def _log_request(self, scope: Scope, status: int | None, started: float) -> None:
        entry: dict[str, Any] = {
            "time": _now_iso(),
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        outcome = scope.get(OUTCOME_KEY)
        if outcome is not None:
            entry["outcome"] = outcome
        self.state.request_log.append(entry)


def _poll_url(request: Request, request_id: str) -> str:
    host = request.headers.get("host")
    if not host:
        server = request.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return (
        f"{request.url.scheme}://{host}/sdk/agents/{quote(request_id, safe='')}/result"
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def _json_object(request: Request) -> dict[str, Any] | None:
    # NaN and Infinity are refused like any other invalid JSON: stored in a run,
    # they would make every later poll of it fail to serialize.
    try:
        payload = json.loads(
            await request.body() or b"{}", parse_constant=_reject_constant
        )
    except (ValueError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status)


def _agent_not_found(agent_id: str) -> JSONResponse:
    return _error(HTTPStatus.NOT_FOUND, f"Agent {agent_id!r} not found.")


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
