"""Fixtures for core tests: both client drivers, pointed at a real sandbox over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from aixplain_agents import (
    AgentClient,
    AsyncAgentClient,
    CircuitBreaker,
    PollSchedule,
    RetryPolicy,
)
from aixplain_agents.sandbox import Sandbox

# Short waits so fault tests finish fast; the decisions are the same as the defaults'.
FAST_POLLS = PollSchedule(first_delay=0.05, factor=1.5, max_delay=0.2)
FAST_RETRIES = RetryPolicy(base_delay=0.02, max_delay=0.1)

Call = Callable[..., Any]


def client_options(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    """Return client keyword arguments for ``sandbox`` with fast test timings."""
    options: dict[str, Any] = {
        "api_key": sandbox.api_key,
        "base_url": sandbox.base_url,
        "poll_schedule": FAST_POLLS,
        "retry_policy": FAST_RETRIES,
        "circuit_breaker": CircuitBreaker(),
        "request_timeout": 5.0,
    }
    options.update(overrides)
    return options


@pytest.fixture(params=["sync", "async"])
def call_client(request: pytest.FixtureRequest) -> Call:
    """Call a client method through the sync or the async driver.

    ``call_client(sandbox, "run", *args, client={...}, **kwargs)`` builds a client for
    ``sandbox`` (extra constructor options in ``client``), calls the method and closes
    the client.
    """
    driver = request.param

    def call(
        sandbox: Sandbox, method: str, *args: Any, client: Any = None, **kwargs: Any
    ) -> Any:
        options = client_options(sandbox, **(client or {}))
        if driver == "sync":
            with AgentClient(**options) as sync_client:
                return getattr(sync_client, method)(*args, **kwargs)

        async def run_async() -> Any:
            async with AsyncAgentClient(**options) as async_client:
                return await getattr(async_client, method)(*args, **kwargs)

        return asyncio.run(run_async())

    return call
