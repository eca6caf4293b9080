"""Fixtures for the Prefect tests: a throwaway Prefect API and sandbox-backed blocks.

Prefect reads its settings when first imported, so the environment is set here,
before any test module imports it.
"""

from __future__ import annotations

import copy
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

_HOME = Path(tempfile.mkdtemp(prefix="prefect-tests-"))
os.environ.update(
    PREFECT_HOME=str(_HOME),
    PREFECT_PROFILES_PATH=str(_HOME / "profiles.toml"),
    DO_NOT_TRACK="1",
    PREFECT_SERVER_ANALYTICS_ENABLED="false",
    PREFECT_SERVER_UI_ENABLED="false",
)
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_API_KEY", None)

import pytest  # noqa: E402
from prefect.client.orchestration import get_client  # noqa: E402
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId  # noqa: E402
from prefect.client.schemas.objects import Log  # noqa: E402
from prefect.logging.handlers import APILogHandler  # noqa: E402
from prefect.settings import (  # noqa: E402
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

from aixplain_agents.sandbox import Sandbox  # noqa: E402
from aixplain_agents.sandbox._default import DEFAULT_SCENARIO  # noqa: E402
from prefect_aixplain import AixplainCredentials  # noqa: E402

# A key long and unusual enough that finding it in a log or artifact is no accident.
SECRET_KEY = "sk-test-7f3a9c2e51d84b06a1"


@pytest.fixture(scope="session", autouse=True)
def prefect_api() -> Iterator[None]:
    """A temporary Prefect API on 127.0.0.1 for the whole session."""
    # The flow heartbeat thread adds about a second to each sync flow's exit.
    with (
        prefect_test_harness(server_startup_timeout=60),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def scenario(**agents: dict[str, Any]) -> dict[str, Any]:
    """Return the default scenario with ``SECRET_KEY`` and extra or changed agents."""
    result = copy.deepcopy(DEFAULT_SCENARIO)
    result["api_keys"] = [SECRET_KEY]
    result["agents"].update(agents)
    return result


def read_logs(flow_run_id: object) -> list[Log]:
    """Flush the API log handler, then read the flow run's logs from the API."""
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        return client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )


@pytest.fixture
def sandbox(aixplain_sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """A sandbox with the default agents that accepts only ``SECRET_KEY``."""
    return aixplain_sandbox_factory(scenario())


@pytest.fixture
def save_credentials() -> Callable[[Sandbox], str]:
    """A function that saves a block for a sandbox and returns the block's name."""

    def save(target: Sandbox, api_key: str | None = None) -> str:
        name = f"sandbox-{uuid.uuid4().hex[:12]}"
        AixplainCredentials(
            api_key=api_key or target.api_key, base_url=target.base_url
        ).save(name)
        return name

    return save


@pytest.fixture
def credentials_name(
    sandbox: Sandbox, save_credentials: Callable[[Sandbox], str]
) -> str:
    """The name of a saved block that points at ``sandbox``."""
    return save_credentials(sandbox)
