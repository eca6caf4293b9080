"""Pytest fixtures that run a sandbox server for each test.

Registered as the `aixplain_sandbox` pytest plugin. Examples:

    def test_triage(aixplain_sandbox):
        client = MyClient(aixplain_sandbox.base_url, aixplain_sandbox.api_key)

    def test_rate_limit(aixplain_sandbox_factory):
        sandbox = aixplain_sandbox_factory({"agents": {"a": {"faults": [...]}}})
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._server import Sandbox


@pytest.fixture
def aixplain_sandbox() -> Iterator[Sandbox]:
    """Start a sandbox with the default scenario, and stop it after the test."""
    from ._server import Sandbox

    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def aixplain_sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    """A function that starts a sandbox for a scenario (dict, path or Scenario).

    Every sandbox it starts is stopped after the test.
    """
    from ._server import Sandbox

    started: list[Sandbox] = []

    def start(scenario: Any = None, **kwargs: Any) -> Sandbox:
        sandbox = Sandbox(scenario, **kwargs).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in reversed(started):
        sandbox.stop()
