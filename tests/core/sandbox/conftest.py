"""Fixtures for the sandbox tests: sandboxes started from scenario files."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from aixplain_agents.sandbox import Sandbox


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox_from_file(
    tmp_path: Path, aixplain_sandbox_factory: Callable[..., Sandbox]
) -> Callable[[dict[str, Any]], Sandbox]:
    """Write a scenario dict to a YAML file and start a sandbox from that file."""
    counter = itertools.count()

    def start(scenario: dict[str, Any]) -> Sandbox:
        path = tmp_path / f"scenario-{next(counter)}.yaml"
        path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
        return aixplain_sandbox_factory(path)

    return start


@pytest.fixture
def client_for() -> Iterator[Callable[[Sandbox], httpx.Client]]:
    """Open a raw httpx client that sends the sandbox's API key."""
    clients: list[httpx.Client] = []

    def open_client(sandbox: Sandbox, timeout: float = 5.0) -> httpx.Client:
        client = httpx.Client(
            base_url=sandbox.base_url,
            headers={"x-api-key": sandbox.api_key},
            timeout=timeout,
        )
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()
