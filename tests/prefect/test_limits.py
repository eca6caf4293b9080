"""Prefect global concurrency limits and rate limits around agent runs."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

from aixplain_agents import AgentRunResult
from aixplain_agents.sandbox import Sandbox
from prefect_aixplain import ConcurrencyLimitNotFoundError, run_agent
from prefect_aixplain.flows import fan_out

from .conftest import read_logs, scenario

# A rate limit of one slot that decays at 2 slots per second lets one run start
# every 0.5 s at most.
DECAY_PER_SECOND = 2.0
START_GAP = 1 / DECAY_PER_SECOND
# Slack for the time between Prefect granting a slot and the run's attempt starting.
CLOCK_SLACK = 0.1
SLOW_ECHO = {
    "output_format": "text",
    "duration": 1.0,
    "steps": 1,
    "output": {"kind": "template", "template": "{query}"},
    "credits": 0.0,
}


def create_limit(limit: int, slot_decay_per_second: float = 0.0) -> str:
    """Create a global concurrency limit with a fresh name and return the name."""
    name = f"agents-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(
                name=name, limit=limit, slot_decay_per_second=slot_decay_per_second
            )
        )
    return name


def peak_overlap(results: list[AgentRunResult]) -> int:
    """Return the max number of runs in flight at once, from their attempts."""
    events: list[tuple[datetime, int]] = []
    for result in results:
        for attempt in result.attempts:
            end = attempt.started_at + timedelta(seconds=attempt.duration)
            events += [(attempt.started_at, 1), (end, -1)]

    # At equal times the end sorts first, so back-to-back runs do not overlap.
    running = peak = 0
    for _, change in sorted(events):
        running += change
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize(
    ("limit_kind", "create_command"),
    [
        pytest.param("concurrency_limit", "--limit 5`", id="concurrency"),
        pytest.param("rate_limit", "--slot-decay-per-second 1`", id="rate"),
    ],
)
def test_strict_missing_limit_raises(
    credentials_name: str, limit_kind: str, create_command: str
) -> None:
    name = f"missing-{uuid.uuid4().hex[:6]}"

    @flow
    def limited() -> AgentRunResult:
        return run_agent(
            credentials_name, "echo", "hi", strict_limits=True, **{limit_kind: name}
        )

    with pytest.raises(ConcurrencyLimitNotFoundError) as raised:
        limited()

    assert f"limit {name!r} does not exist" in str(raised.value)
    assert create_command in str(raised.value)
    assert "strict_limits=False" in str(raised.value)


def test_strict_missing_limit_not_retried(credentials_name: str) -> None:
    retried = run_agent.with_options(retries=2, retry_delay_seconds=0)

    @flow
    def limited() -> AgentRunResult:
        return retried(
            credentials_name,
            "echo",
            "hi",
            concurrency_limit=f"missing-{uuid.uuid4().hex[:6]}",
            strict_limits=True,
        )

    state = limited(return_state=True)
    messages = [log.message for log in read_logs(state.state_details.flow_run_id)]

    assert state.is_failed()
    assert not [message for message in messages if "Retry 1/2" in message]


@pytest.mark.parametrize("limit_kind", ["concurrency_limit", "rate_limit"])
def test_lenient_missing_limit_runs(credentials_name: str, limit_kind: str) -> None:
    @flow
    def limited() -> AgentRunResult:
        return run_agent(credentials_name, "echo", "hi", **{limit_kind: "missing"})

    assert limited().status == "SUCCESS"


def test_existing_limit_runs(credentials_name: str) -> None:
    name = create_limit(1)

    @flow
    def limited() -> AgentRunResult:
        return run_agent(
            credentials_name, "echo", "hi", concurrency_limit=name, strict_limits=True
        )

    assert limited().status == "SUCCESS"


@pytest.mark.anyio
async def test_rate_limit_spaces_run_starts(credentials_name: str) -> None:
    name = create_limit(1, slot_decay_per_second=DECAY_PER_SECOND)

    @flow
    async def burst() -> list[AgentRunResult]:
        runs = [
            run_agent(
                credentials_name, "echo", f"hi {n}", rate_limit=name, strict_limits=True
            )
            for n in range(4)
        ]
        return list(await asyncio.gather(*runs))

    results = await burst()
    starts = sorted(result.attempts[0].started_at for result in results)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]

    assert len(gaps) == 3
    for gap in gaps:
        assert gap >= START_GAP - CLOCK_SLACK, f"runs started {gap:.3f} s apart"


@pytest.fixture
def slow_sandbox(aixplain_sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """A sandbox whose ``slow-echo`` agent returns its query after 1 s."""
    return aixplain_sandbox_factory(scenario(**{"slow-echo": SLOW_ECHO}))


@pytest.fixture
def slow_credentials_name(
    slow_sandbox: Sandbox, save_credentials: Callable[[Sandbox], str]
) -> str:
    """The name of a saved block that points at ``slow_sandbox``."""
    return save_credentials(slow_sandbox)


@pytest.mark.anyio
async def test_concurrency_limit_bounds_peak_runs(
    slow_sandbox: Sandbox, slow_credentials_name: str
) -> None:
    name = create_limit(2)
    queries = [f"note {n}" for n in range(6)]

    @flow
    async def bounded() -> list[AgentRunResult]:
        async def one(query: str) -> AgentRunResult:
            return await run_agent(
                slow_credentials_name,
                "slow-echo",
                query,
                concurrency_limit=name,
                strict_limits=True,
            )

        return await fan_out(one, queries, max_concurrency=len(queries))

    results = await bounded()
    peak = peak_overlap(results)

    assert [result.output for result in results] == queries
    assert peak <= 2
    assert peak == 2, "the limit let only one run through at a time"
    assert slow_sandbox.stats()["agents"]["slow-echo"]["runs_accepted"] == len(queries)
