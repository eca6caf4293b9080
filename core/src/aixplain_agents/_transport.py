"""Drivers that perform a flow's actions over httpx, one sync and one async.

The API key is added here and only here, and only to URLs on the configured origin.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from aixplain_agents._config import ConnectionSettings, origin_of
from aixplain_agents._engine import Flow, HttpCall, HttpFailure, HttpReply, Reply, Sleep
from aixplain_agents._models import SubmittedRun
from aixplain_agents._outcome import Outcome

T = TypeVar("T")
OnSubmit = Callable[[SubmittedRun], Any]
AsyncOnSubmit = Callable[[SubmittedRun], Awaitable[Any] | Any]

# Failures where the request cannot have reached the service.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
)

# Connection pool bounds: enough for thousands of runs that each poll every few seconds.
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=50)


def _headers(settings: ConnectionSettings, call: HttpCall) -> dict[str, str]:
    headers = {"accept": "application/json", **call.headers}
    if origin_of(call.url) == settings.origin:
        headers["x-api-key"] = settings.api_key.get_secret_value()
    return headers


def _timeout(call: HttpCall) -> httpx.Timeout:
    return httpx.Timeout(call.timeout, connect=min(10.0, call.timeout))


def _reply(response: httpx.Response) -> HttpReply:
    headers = {name.lower(): value for name, value in response.headers.items()}
    return HttpReply(response.status_code, headers, response.content)


def _failure(exc: httpx.TransportError) -> HttpFailure:
    outcome = Outcome.NOT_SENT if isinstance(exc, _NOT_SENT) else Outcome.AMBIGUOUS
    detail = str(exc) or "no detail"
    return HttpFailure(outcome, f"{type(exc).__name__}: {detail}")


def drive(
    flow: Flow[T],
    http: httpx.Client,
    settings: ConnectionSettings,
    on_submit: OnSubmit | None = None,
) -> T:
    """Run ``flow`` to its end with blocking IO and return its value."""
    reply: Reply = None
    try:
        while True:
            try:
                action = flow.send(reply)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            reply = None
            if isinstance(action, Sleep):
                time.sleep(max(0.0, action.seconds))
            elif isinstance(action, HttpCall):
                try:
                    response = http.request(
                        action.method,
                        action.url,
                        json=action.json,
                        headers=_headers(settings, action),
                        timeout=_timeout(action),
                    )
                    reply = _reply(response)
                except httpx.TransportError as exc:
                    reply = _failure(exc)
            elif on_submit is not None:
                on_submit(action.run)
    finally:
        flow.close()


async def adrive(
    flow: Flow[T],
    http: httpx.AsyncClient,
    settings: ConnectionSettings,
    slots: asyncio.Semaphore,
    on_submit: AsyncOnSubmit | None = None,
) -> T:
    """Run ``flow`` to its end on the running event loop and return its value.

    ``slots`` caps the requests in flight at the pool size: httpx's pool slows down
    sharply when thousands of requests queue inside it (measured here: 2,000 POSTs
    over 20 connections took 23 s unbounded and 7 s behind a semaphore).
    """
    reply: Reply = None
    try:
        while True:
            try:
                action = flow.send(reply)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            reply = None
            if isinstance(action, Sleep):
                await asyncio.sleep(max(0.0, action.seconds))
            elif isinstance(action, HttpCall):
                try:
                    async with slots:
                        response = await http.request(
                            action.method,
                            action.url,
                            json=action.json,
                            headers=_headers(settings, action),
                            timeout=_timeout(action),
                        )
                    reply = _reply(response)
                except httpx.TransportError as exc:
                    reply = _failure(exc)
            elif on_submit is not None:
                outcome = on_submit(action.run)
                if inspect.isawaitable(outcome):
                    await outcome
    finally:
        flow.close()
