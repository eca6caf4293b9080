"""Prefect integration for aiXplain agents: credentials block, tasks, flows, artifacts.

Examples:
    ```python
    from prefect import flow
    from prefect_aixplain import AixplainCredentials, run_agent

    AixplainCredentials(api_key="...").save("aixplain", overwrite=True)

    @flow
    def hello() -> str:
        return run_agent("aixplain", "echo", "hello").request_id
    ```
"""

from prefect_aixplain.artifacts import artifact_key
from prefect_aixplain.credentials import AixplainCredentials
from prefect_aixplain.exceptions import ConcurrencyLimitNotFoundError
from prefect_aixplain.tasks import (
    retry_condition_fn,
    run_agent,
    submit_agent_run,
    wait_for_agent_run,
)

__all__ = [
    "AixplainCredentials",
    "ConcurrencyLimitNotFoundError",
    "artifact_key",
    "retry_condition_fn",
    "run_agent",
    "submit_agent_run",
    "wait_for_agent_run",
]
