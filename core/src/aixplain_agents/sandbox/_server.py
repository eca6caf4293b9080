"""Running the sandbox: in a background thread for tests, or blocking for the CLI."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TypeVar

import uvicorn

from ._app import SandboxApp
from ._default import default_scenario
from ._scenario import Scenario, load_scenario, parse_scenario

logger = logging.getLogger(__name__)

DEFAULT_API_KEY = "sandbox-key"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
_T = TypeVar("_T")

ScenarioSource = Scenario | str | Path | Mapping[str, Any] | None


def resolve_scenario(source: ScenarioSource) -> Scenario:
    """Return `source` as a Scenario: None is the default, str and Path are files."""
    if source is None:
        return default_scenario()
    if isinstance(source, Scenario):
        return source
    if isinstance(source, (str, Path)):
        return load_scenario(source)
    return parse_scenario(dict(source))


class _Server(uvicorn.Server):
    """A uvicorn server that reports when it listens and stops quietly on signals."""

    def __init__(
        self,
        config: uvicorn.Config,
        app: SandboxApp,
        on_started: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self._app = app
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self._on_started is not None:
            self._on_started()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Unlike uvicorn's handler, this one does not re-raise the signal after
        # shutdown, so serve() returns normally on SIGINT and SIGTERM.
        self._app.request_stop()
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True


def _config(app: SandboxApp) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        lifespan="on",
        log_config=None,
        access_log=False,
        # Withheld responses are released on shutdown. This bounds any other request.
        timeout_graceful_shutdown=2,
    )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted connections, which
    # avoids a 40 ms delayed-ACK stall per response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(
    host: str,
    port: int,
    scenario: str | Path | None,
    ready: Callable[[str], None],
) -> None:
    """Serve the sandbox until SIGINT or SIGTERM, calling `ready(base_url)` on start.

    Raises:
        ScenarioError: the scenario file is invalid.
        OSError: the address cannot be bound.
    """
    resolved = resolve_scenario(scenario)
    app = SandboxApp(resolved)
    sock = _bind(host, port)
    base_url = _base_url(sock)

    server = _Server(_config(app), app, on_started=lambda: ready(base_url))
    logger.info("Sandbox serving %d agents on %s", len(resolved.agents), base_url)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    logger.info("Sandbox on %s stopped", base_url)


class Sandbox:
    """A sandbox server on a free loopback port, run in a background thread.

    Examples:
        >>> with Sandbox() as sandbox:  # doctest: +SKIP
        ...     httpx.get(f"{sandbox.base_url}/v2/agents/echo",
        ...               headers={"x-api-key": sandbox.api_key})
    """

    def __init__(
        self,
        scenario: ScenarioSource = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.scenario = resolve_scenario(scenario)
        self._host = host
        self._port = port
        self._app: SandboxApp | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        """The server's origin, e.g. "http://127.0.0.1:54321"."""
        if self._base_url is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._base_url

    @property
    def api_key(self) -> str:
        """An API key the sandbox accepts: the scenario's first, else "sandbox-key"."""
        return self.scenario.api_keys[0] if self.scenario.api_keys else DEFAULT_API_KEY

    def start(self) -> Sandbox:
        """Start the server and wait until it listens."""
        if self._thread is not None:
            raise RuntimeError("the sandbox is already running")
        app = SandboxApp(self.scenario)
        sock = _bind(self._host, self._port)
        started = threading.Event()
        server = _Server(_config(app), app, on_started=started.set)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name="aixplain-sandbox",
            daemon=True,
        )
        thread.start()

        if not started.wait(_START_TIMEOUT) or not thread.is_alive():
            server.should_exit = True
            thread.join(_STOP_TIMEOUT)
            sock.close()
            raise RuntimeError(f"the sandbox did not start within {_START_TIMEOUT} s")

        self._app, self._server, self._thread = app, server, thread
        self._base_url = _base_url(sock)
        logger.info("Sandbox started on %s", self._base_url)
        return self

    def stop(self) -> None:
        """Stop the server and wait (a bounded time) for its thread to end."""
        if self._thread is None or self._server is None or self._app is None:
            return
        self._app.request_stop()
        self._server.should_exit = True
        self._thread.join(_STOP_TIMEOUT)
        if self._thread.is_alive():
            logger.warning(
                "Sandbox on %s did not stop in time; forcing", self._base_url
            )
            self._server.force_exit = True
            self._thread.join(_STOP_TIMEOUT)
        logger.info("Sandbox on %s stopped", self._base_url)
        self._app = self._server = self._thread = None
        self._base_url = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        """Return the counters that GET /sandbox/stats sends."""
        return self._on_loop(lambda app: app.state.stats())

    def requests(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Return recent requests (method, path, status, timing), oldest first."""
        return self._on_loop(lambda app: app.state.recent_requests(limit))

    def reset(self) -> None:
        """Forget runs, sessions, counters and the request log."""
        self._on_loop(lambda app: app.state.reset())

    def _on_loop(self, function: Callable[[SandboxApp], _T]) -> _T:
        # The state belongs to the server's event loop, so read it there.
        app = self._app
        loop = app.loop if app is not None else None
        if app is None or loop is None:
            raise RuntimeError("the sandbox is not running; call start() first")

        async def call() -> _T:
            return function(app)

        return asyncio.run_coroutine_threadsafe(call(), loop).result(_STOP_TIMEOUT)
