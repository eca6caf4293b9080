"""One event loop and one async client tracking thousands of runs at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aixplain_agents import AsyncAgentClient, PollSchedule
from aixplain_agents.sandbox import Sandbox

RUNS = 2000


def test_async_client_tracks_2000_concurrent_runs(
    aixplain_sandbox_factory: Callable[..., Sandbox],
) -> None:
    sandbox = aixplain_sandbox_factory({"agents": {"a": {"duration": 1.0, "steps": 1}}})

    async def run_all() -> list[str]:
        async with AsyncAgentClient(
            api_key=sandbox.api_key,
            base_url=sandbox.base_url,
            poll_schedule=PollSchedule(first_delay=0.5, max_delay=2.0),
        ) as client:
            results = await asyncio.gather(
                *(client.run("a", f"query {n}", timeout=300) for n in range(RUNS))
            )
        return [result.request_id for result in results]

    request_ids = asyncio.run(run_all())
    stats = sandbox.stats()
    assert len(set(request_ids)) == RUNS
    assert stats["agents"]["a"]["runs_accepted"] == RUNS
    assert all(stats["requests"][rid]["status"] == "SUCCESS" for rid in request_ids)
