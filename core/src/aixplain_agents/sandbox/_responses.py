"""Deliberately faulty responses: closed connections, held or malformed bodies."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

logger = logging.getLogger(__name__)

# Scope keys set by the sandbox's outer ASGI layer.
RAW_SEND_KEY = "aixplain_sandbox.raw_send"
OUTCOME_KEY = "aixplain_sandbox.outcome"


class ClosedConnection(Response):
    """Close the connection without sending any HTTP response.

    With `reset=True` the socket is closed with SO_LINGER 0, so the client gets a
    TCP reset. Otherwise the client gets an orderly close (EOF) and no response.
    """

    def __init__(self, *, reset: bool) -> None:
        super().__init__()
        self.reset = reset

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = _transport_of(scope.get(RAW_SEND_KEY))
        if transport is None:
            # NOTE: reaching the socket relies on uvicorn's RequestResponseCycle
            # (h11 and httptools) keeping its transport in `.transport`.
            raise RuntimeError("cannot reach the connection's transport to close it")

        if self.reset:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            transport.abort()
        else:
            transport.close()
        scope[OUTCOME_KEY] = "connection_reset" if self.reset else "response_dropped"

        # Wait until uvicorn has seen the close, so it does not send a 500 response.
        await wait_for_disconnect(receive, timeout=1.0, stopping=None)


class HeldResponse(Response):
    """Send `inner` only after `seconds`, unless the client disconnects first."""

    def __init__(
        self, inner: Response, *, seconds: float, stopping: asyncio.Event
    ) -> None:
        super().__init__()
        self.inner = inner
        self.seconds = seconds
        self.stopping = stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        disconnected = await wait_for_disconnect(
            receive, timeout=self.seconds, stopping=self.stopping
        )
        if disconnected:
            scope[OUTCOME_KEY] = "client_disconnected"
            return
        await self.inner(scope, receive, send)


def malformed_json(body: dict[str, Any]) -> Response:
    """Return a 200 response whose JSON body is cut off halfway."""
    text = json.dumps(body)
    return Response(
        content=text[: max(1, len(text) // 2)], media_type="application/json"
    )


async def wait_for_disconnect(
    receive: Receive, *, timeout: float, stopping: asyncio.Event | None
) -> bool:
    """Return True if the client disconnects within `timeout` seconds.

    Returns early (False) when `stopping` is set, so a server shutdown is not held
    up by a withheld response.
    """

    async def client_gone() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(client_gone())]
    if stopping is not None:
        waiters.append(asyncio.ensure_future(stopping.wait()))
    try:
        done, _ = await asyncio.wait(
            waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for waiter in waiters:
            waiter.cancel()
    return waiters[0] in done


def _transport_of(raw_send: Any) -> asyncio.Transport | None:
    cycle = getattr(raw_send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    return transport if isinstance(transport, asyncio.Transport) else None
