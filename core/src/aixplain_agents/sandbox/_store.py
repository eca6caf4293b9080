"""The sandbox's in-memory state: agents, runs, sessions, counters, request log."""

from __future__ import annotations

import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ._faults import FaultPlan
from ._scenario import (
    AgentSpec,
    FaultSpec,
    NormalDuration,
    Scenario,
    UniformDuration,
)

REQUEST_LOG_SIZE = 1000


class Run:
    """One accepted run. Each poll derives steps and output from these fields."""

    # Slots keep a run near 200 bytes plus its query, so 10,000 runs fit easily.
    __slots__ = (
        "agent_id",
        "created",
        "duration",
        "expected_output",
        "max_time",
        "outcome",
        "output_format",
        "polls",
        "query",
        "request_id",
        "session_id",
    )

    def __init__(
        self,
        *,
        request_id: str,
        agent_id: str,
        query: Any,
        expected_output: Any,
        output_format: str | None,
        duration: float,
        outcome: int | None,
        session_id: str | None,
        max_time: int | None = None,
    ) -> None:
        self.request_id = request_id
        self.agent_id = agent_id
        self.query = query
        self.expected_output = expected_output
        self.output_format = output_format
        self.duration = duration
        self.outcome = outcome
        self.session_id = session_id
        # The request's executionParams.maxTime in seconds: like the service, the
        # sandbox stops a run that takes longer and reports it FAILED at that time.
        self.max_time = max_time
        self.created = time.monotonic()
        self.polls = 0

    def exceeds_max_time(self, never_completes: bool) -> bool:
        """Return whether the sandbox stops the run at its maxTime.

        A run with the never_completes fault models a hung service, so it ignores
        maxTime too.
        """
        if self.max_time is None or never_completes:
            return False
        return self.duration > self.max_time

    @property
    def effective_session_id(self) -> str:
        """The run's session id, derived from the request id outside a session."""
        if self.session_id is not None:
            return self.session_id
        return "sess-" + self.request_id.rsplit("__", 1)[-1]


@dataclass
class AgentState:
    """One scripted agent with its counters and seeded random streams."""

    agent_id: str
    spec: AgentSpec
    plan: FaultPlan
    durations: random.Random
    submits: int = 0
    runs_accepted: int = 0
    submits_rejected: int = 0
    polls_served: int = 0

    def draw_duration(self) -> float:
        """Draw the duration in seconds of a new run."""
        duration = self.spec.duration
        if isinstance(duration, UniformDuration):
            return self.durations.uniform(duration.low, duration.high)
        if isinstance(duration, NormalDuration):
            value = max(
                duration.min, self.durations.gauss(duration.mean, duration.stddev)
            )
            return value if duration.max is None else min(value, duration.max)
        return float(duration)

    def outcome_fault(self, run: Run) -> FaultSpec | None:
        """Return the fault drawn when `run` was created, if any."""
        return None if run.outcome is None else self.plan.faults[run.outcome]

    def run_status(self, run: Run, now: float) -> str:
        """Return the status of `run` at monotonic time `now`."""
        fault = self.outcome_fault(run)
        never_completes = fault is not None and fault.kind == "never_completes"
        elapsed = now - run.created
        if run.exceeds_max_time(never_completes):
            assert run.max_time is not None
            return "IN_PROGRESS" if elapsed < run.max_time else "FAILED"
        if never_completes:
            return "IN_PROGRESS"
        if elapsed < run.duration:
            return "IN_PROGRESS"
        if fault is not None and fault.kind == "terminal":
            return str(fault.status)
        return "SUCCESS"


@dataclass
class Session:
    """A conversation thread of the `/v1/sessions` API."""

    session_id: str
    agent_id: str
    name: str | None
    user_id: str
    created_at: str
    execution_config: dict[str, Any] | None = None
    message_count: int = 0
    run_status: str = "idle"
    updated_at: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the session as the API sends it."""
        return {
            "id": self.session_id,
            "agentId": self.agent_id,
            "userId": self.user_id,
            "name": self.name,
            "status": "active",
            "runStatus": self.run_status,
            "messageCount": self.message_count,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at or self.created_at,
            "executionConfig": self.execution_config,
        }


@dataclass
class SandboxState:
    """Everything the server remembers between requests.

    The state is changed only on the server's event loop thread.
    """

    scenario: Scenario
    agents: dict[str, AgentState] = field(default_factory=dict)
    # NOTE: runs are kept until reset(), so a long-lived server grows by about
    # 0.6 KB per run (measured by bench/sandbox_polls.py).
    runs: dict[str, Run] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    request_log: deque[dict[str, Any]] = field(
        default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE)
    )

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget runs, sessions, counters and the log, and re-seed every stream."""
        seed = self.scenario.seed
        self.agents = {
            agent_id: AgentState(
                agent_id=agent_id,
                spec=spec,
                plan=FaultPlan(seed, agent_id, spec.faults),
                durations=random.Random(f"{seed}:{agent_id}:duration"),
            )
            for agent_id, spec in self.scenario.agents.items()
        }
        self.runs.clear()
        self.sessions.clear()
        self.request_log.clear()

    def new_request_id(self, agent_id: str) -> str:
        """Return a new unique request id of the form `{agent_id}__{12 hex digits}`."""
        return f"{agent_id}__{uuid.uuid4().hex[:12]}"

    def stats(self) -> dict[str, Any]:
        """Return the counters that GET /sandbox/stats sends."""
        now = time.monotonic()
        agents = {
            agent_id: {
                "runs_accepted": agent.runs_accepted,
                "submits_rejected": agent.submits_rejected,
                "polls_served": agent.polls_served,
            }
            for agent_id, agent in self.agents.items()
        }
        requests = {
            request_id: {
                "agent_id": run.agent_id,
                "polls": run.polls,
                "status": self.agents[run.agent_id].run_status(run, now),
                "max_time": run.max_time,
            }
            for request_id, run in self.runs.items()
        }
        return {"agents": agents, "requests": requests}

    def recent_requests(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Return the most recent logged requests, oldest first."""
        entries = list(self.request_log)
        if limit is not None:
            entries = entries[-limit:] if limit > 0 else []
        return entries
