"""Run one agent over many inputs at once, bounded in the flow and across flows.

``fan_out`` bounds the runs in flight within this flow run. The optional Prefect
global concurrency limit bounds them across every flow run that names it; create
it first, for example ``prefect gcl create aixplain-agents --limit 10``.

Run it against a local sandbox:

    AIXPLAIN_BASE_URL=http://127.0.0.1:PORT AIXPLAIN_API_KEY=sandbox-key \\
        python example_dags/prefect/fan_out.py
"""

from __future__ import annotations

import os

from prefect import flow

from prefect_aixplain import AixplainCredentials, run_agent
from prefect_aixplain.flows import fan_out


@flow(name="agent-fan-out")
async def agent_fan_out(
    queries: list[str],
    credentials_block_name: str = "aixplain",
    agent_id: str = "echo",
    max_concurrency: int = 20,
    concurrency_limit: str | None = None,
) -> list[str]:
    """Run ``agent_id`` once per query and return the request ids in query order.

    Args:
        queries: the inputs, one agent run each.
        credentials_block_name: name of a saved ``AixplainCredentials`` block.
        agent_id: the agent to run.
        max_concurrency: runs in flight at once within this flow run.
        concurrency_limit: name of a Prefect global concurrency limit that bounds
            runs across flow runs; it must exist when given.
    """

    async def one(index_and_query: tuple[int, str]) -> str:
        index, query = index_and_query
        result = await run_agent(
            credentials_block_name,
            agent_id,
            query,
            artifact_key=f"fan-out-{index}",
            concurrency_limit=concurrency_limit,
            strict_limits=concurrency_limit is not None,
        )
        return result.request_id

    return await fan_out(one, enumerate(queries), max_concurrency=max_concurrency)


if __name__ == "__main__":
    import asyncio

    AixplainCredentials(
        api_key=os.environ["AIXPLAIN_API_KEY"],
        base_url=os.environ["AIXPLAIN_BASE_URL"],
    ).save("aixplain", overwrite=True)
    queries = [f"incident note {number}" for number in range(50)]
    print(asyncio.run(agent_fan_out(queries)))
