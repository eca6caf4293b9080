"""Prefect global concurrency limits around agent runs."""

from __future__ import annotations

import uuid

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

from aixplain_agents import AgentRunResult
from prefect_aixplain import ConcurrencyLimitNotFoundError, run_agent


def test_strict_missing_limit_raises(credentials_name: str) -> None:
    @flow
    def limited() -> AgentRunResult:
        return run_agent(
            credentials_name,
            "echo",
            "hi",
            concurrency_limit=f"missing-{uuid.uuid4().hex[:6]}",
            strict_limits=True,
        )

    with pytest.raises(ConcurrencyLimitNotFoundError, match="does not exist"):
        limited()


def test_lenient_missing_limit_runs(credentials_name: str) -> None:
    @flow
    def limited() -> AgentRunResult:
        return run_agent(
            credentials_name, "echo", "hi", concurrency_limit="missing-lenient"
        )

    assert limited().status == "SUCCESS"


def test_existing_limit_runs(credentials_name: str) -> None:
    name = f"agents-{uuid.uuid4().hex[:6]}"
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=1)
        )

    @flow
    def limited() -> AgentRunResult:
        return run_agent(
            credentials_name, "echo", "hi", concurrency_limit=name, strict_limits=True
        )

    assert limited().status == "SUCCESS"
