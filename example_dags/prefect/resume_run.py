"""Resume an aiXplain agent run by its request id: poll it, never submit it again.

Use it when a run was started elsewhere (a script, another flow run that crashed)
and only its ``requestId`` is known.

    AIXPLAIN_BASE_URL=http://127.0.0.1:PORT AIXPLAIN_API_KEY=sandbox-key \\
        python example_dags/prefect/resume_run.py REQUEST_ID
"""

from __future__ import annotations

import os
import sys
from typing import Any

from prefect import flow

from prefect_aixplain import AixplainCredentials, wait_for_agent_run


@flow(name="resume-agent-run")
async def resume_agent_run(
    request_id: str,
    credentials_block_name: str = "aixplain",
    agent_id: str | None = None,
    output_format: str | None = None,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """Wait for the run ``request_id`` to end and return its metadata.

    Args:
        request_id: the ``requestId`` the service returned when the run started.
        credentials_block_name: name of a saved ``AixplainCredentials`` block.
        agent_id: the run's agent, for logs and the artifact key; guessed from the
            request id when left out.
        output_format: "json" to parse the output; "text" or "markdown" keep it.
        timeout: deadline for the polls, in seconds.
    """
    result = await wait_for_agent_run(
        credentials_block_name,
        request_id,
        agent_id=agent_id,
        output_format=output_format,
        timeout=timeout,
        artifact_key="resumed-run",
    )
    return {**result.metadata(), "output": result.output}


if __name__ == "__main__":
    import asyncio

    AixplainCredentials(
        api_key=os.environ["AIXPLAIN_API_KEY"],
        base_url=os.environ["AIXPLAIN_BASE_URL"],
    ).save("aixplain", overwrite=True)
    print(asyncio.run(resume_agent_run(sys.argv[1])))
