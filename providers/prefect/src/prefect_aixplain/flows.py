"""Flows and helpers that run several agents: ordered chains and bounded fan-outs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from prefect import flow
from pydantic import BaseModel, ConfigDict, Field

from aixplain_agents import AgentRunResult
from prefect_aixplain.artifacts import artifact_key
from prefect_aixplain.tasks import run_agent

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


class AgentStage(BaseModel):
    """One stage of an agent chain: an agent, its fallbacks and a query template.

    ``query`` is formatted with ``str.format`` from the chain's inputs plus
    ``previous``: the JSON of the previous stage's output (``null`` for the first).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(description="Stage name; part of the artifact key.")
    agent_id: str = Field(description="The agent to run first.")
    fallbacks: list[str] = Field(default_factory=list)
    query: str = Field(description="Query template, e.g. 'Triage {title}'.")
    output_format: Literal["text", "markdown", "json"] | None = None
    expected_output: dict[str, Any] | None = None
    variables: dict[str, Any] | None = Field(
        default=None, description="Values for the agent's prompt variables."
    )
    timeout: float | None = Field(default=None, gt=0)

    def render(self, inputs: Mapping[str, Any], previous: Any) -> str:
        """Return the query for this stage.

        Raises:
            KeyError: the template names a field missing from ``inputs``.
        """
        return self.query.format(**inputs, previous=json.dumps(previous))


async def arun_stages(
    credentials: str,
    stages: Sequence[AgentStage],
    inputs: Mapping[str, Any],
    *,
    key_prefix: str = "",
) -> list[AgentRunResult]:
    """Run ``stages`` in order, each as one :func:`run_agent` task; stop at a failure.

    Each stage's artifact key is ``<key_prefix>-<stage name>``, made valid.
    Call it from an async flow; to run several chains at once, gather the calls.

    Returns:
        One result per stage, in stage order.
    """
    results: list[AgentRunResult] = []
    previous: Any = None
    for stage in stages:
        result = await run_agent(
            credentials,
            stage.agent_id,
            stage.render(inputs, previous),
            fallbacks=stage.fallbacks,
            output_format=stage.output_format,
            expected_output=stage.expected_output,
            variables=stage.variables,
            timeout=stage.timeout,
            artifact_key=artifact_key(key_prefix, stage.name),
        )
        results.append(result)
        previous = result.output
    return results


@flow(name="run-agent-chain")
async def run_agent_chain(
    credentials_block_name: str,
    stages: list[AgentStage],
    inputs: dict[str, Any] | None = None,
    key_prefix: str = "",
) -> list[AgentRunResult]:
    """Run agents in order, feeding each stage the previous stage's output.

    Args:
        credentials_block_name: name of a saved :class:`AixplainCredentials` block.
            The flow takes the name, not the block, because a block parameter is
            stored with its key masked and a deployment run would lose the key.
        stages: the stages, in order; each has its own fallback chain.
        inputs: fields for the query templates.
        key_prefix: prefix of each stage's artifact key.

    Returns:
        One result per stage, in stage order.

    Examples:
        ```python
        from prefect_aixplain.flows import AgentStage, run_agent_chain

        stages = [
            AgentStage(name="triage", agent_id="triage-primary",
                       fallbacks=["triage-secondary"], query="Triage: {report}"),
            AgentStage(name="status-page", agent_id="status-page",
                       query="Write an update from {previous}"),
        ]
        results = run_agent_chain("aixplain", stages, {"report": "Disk full"})
        ```
    """
    return await arun_stages(
        credentials_block_name, stages, inputs or {}, key_prefix=key_prefix
    )


async def fan_out(
    function: Callable[[_Item], Awaitable[_Result]],
    items: Iterable[_Item],
    *,
    max_concurrency: int = 10,
) -> list[_Result]:
    """Call ``function`` on every item, at most ``max_concurrency`` at once.

    Returns the results in input order. When calls fail, every call still runs to
    its end, then the exception of the first failed item (in input order) is raised.

    This bounds concurrency within one flow run. To bound agent runs across flow
    runs, pass ``concurrency_limit`` to :func:`run_agent`.

    Examples:
        ```python
        results = await fan_out(
            lambda text: run_agent("aixplain", "echo", text), texts,
            max_concurrency=20,
        )
        ```

    Raises:
        ValueError: ``max_concurrency`` is less than 1.
    """
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
    semaphore = asyncio.Semaphore(max_concurrency)

    async def call(item: _Item) -> _Result:
        async with semaphore:
            return await function(item)

    outcomes = await asyncio.gather(
        *(call(item) for item in items), return_exceptions=True
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes  # type: ignore[return-value]
