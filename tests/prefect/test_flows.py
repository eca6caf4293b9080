"""Agent chains, the bounded fan-out helper, and the incident-triage example flow."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from prefect.artifacts import Artifact

from aixplain_agents.sandbox import Sandbox
from prefect_aixplain import artifact_key
from prefect_aixplain.flows import AgentStage, fan_out, run_agent_chain

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags" / "prefect"


def load_example(name: str = "incident_triage") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("parts", "key"),
    [
        pytest.param(("INC-1042", "root_cause"), "inc-1042-root-cause", id="mixed"),
        pytest.param(("", "Triage"), "triage", id="empty-part"),
        pytest.param(("a  b", "--c--"), "a-b-c", id="runs-of-dashes"),
    ],
)
def test_artifact_key_normalizes(parts: tuple[str, ...], key: str) -> None:
    assert artifact_key(*parts) == key


def test_artifact_key_without_letters_raises() -> None:
    with pytest.raises(ValueError, match="no letter or digit"):
        artifact_key("--", "!")


@pytest.mark.anyio
async def test_fan_out_keeps_input_order() -> None:
    async def slow_echo(value: int) -> int:
        await asyncio.sleep(0.01 * (5 - value))
        return value

    assert await fan_out(slow_echo, range(5), max_concurrency=2) == [0, 1, 2, 3, 4]


@pytest.mark.anyio
async def test_fan_out_bounds_concurrency() -> None:
    running = 0
    peak = 0

    async def track(value: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return value

    await fan_out(track, range(10), max_concurrency=3)

    assert peak == 3


@pytest.mark.anyio
async def test_fan_out_raises_first_failure_after_all() -> None:
    finished: list[int] = []

    async def fail_odd(value: int) -> int:
        await asyncio.sleep(0.01 * value)
        finished.append(value)
        if value % 2:
            raise ValueError(f"item {value}")
        return value

    with pytest.raises(ValueError, match="item 1"):
        await fan_out(fail_odd, range(4), max_concurrency=4)
    assert sorted(finished) == [0, 1, 2, 3]


@pytest.mark.anyio
async def test_fan_out_rejects_zero_concurrency() -> None:
    async def identity(value: int) -> int:
        return value

    with pytest.raises(ValueError, match="max_concurrency"):
        await fan_out(identity, [1], max_concurrency=0)


def test_stage_render_passes_previous_as_json() -> None:
    stage = AgentStage(name="s", agent_id="a", query="{title}: {previous}")

    assert stage.render({"title": "T"}, {"risk": "low"}) == 'T: {"risk": "low"}'


@pytest.mark.anyio
async def test_run_agent_chain_feeds_previous_output(credentials_name: str) -> None:
    stages = [
        AgentStage(name="first", agent_id="echo", query="{word}"),
        AgentStage(name="second", agent_id="echo", query="got {previous}"),
    ]

    results = await run_agent_chain(
        credentials_name, stages, {"word": "ping"}, key_prefix="chain"
    )

    assert [result.output for result in results] == ["ping", 'got "ping"']
    assert await Artifact.aget("chain-second") is not None


@pytest.mark.anyio
async def test_run_agent_chain_sends_stage_variables(credentials_name: str) -> None:
    stages = [
        AgentStage(
            name="update",
            agent_id="status-page",
            query="{title}",
            variables={"next_update": 30},
        )
    ]

    results = await run_agent_chain(credentials_name, stages, {"title": "Outage"})

    assert "Next update in 30 minutes" in results[0].output


@pytest.mark.anyio
async def test_incident_triage_records_every_stage(
    sandbox: Sandbox, credentials_name: str
) -> None:
    example = load_example()
    incidents = example.load_incidents()
    stages = example.load_stages()

    summary = await example.incident_triage(credentials_name)

    assert sorted(summary) == sorted(incident["id"] for incident in incidents)
    for incident in incidents:
        runs = summary[incident["id"]]
        assert [run["status"] for run in runs] == ["SUCCESS"] * len(stages)
        for stage, run in zip(stages, runs, strict=True):
            artifact = await Artifact.aget(artifact_key(incident["id"], stage.name))
            assert artifact is not None
            row = json.loads(str(artifact.data))[0]
            assert row["request_id"] == run["request_id"]
    fallbacks = [runs[0]["agent_id"] for runs in summary.values()]
    assert "triage-secondary" in fallbacks
    assert sandbox.stats()["agents"]["triage-secondary"]["runs_accepted"] >= 1


@pytest.mark.anyio
async def test_fan_out_example_runs_each_query_once(
    sandbox: Sandbox, credentials_name: str
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    async with get_client() as client:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name="fan-out-test", limit=3)
        )
    example = load_example("fan_out")
    queries = [f"note {number}" for number in range(12)]

    request_ids = await example.agent_fan_out(
        queries, credentials_name, max_concurrency=6, concurrency_limit="fan-out-test"
    )

    assert len(set(request_ids)) == len(queries)
    assert sandbox.stats()["agents"]["echo"]["runs_accepted"] == len(queries)


@pytest.mark.anyio
async def test_resume_example_polls_without_submitting(
    sandbox: Sandbox, credentials_name: str
) -> None:
    from prefect_aixplain import AixplainCredentials

    block = await AixplainCredentials.aload(credentials_name)
    async with block.get_async_client() as client:
        submitted = await client.submit("echo", "resume me")
    example = load_example("resume_run")

    summary = await example.resume_agent_run(submitted.request_id, credentials_name)

    assert summary["request_id"] == submitted.request_id
    assert summary["output"] == "resume me"
    assert sandbox.stats()["agents"]["echo"]["runs_accepted"] == 1
