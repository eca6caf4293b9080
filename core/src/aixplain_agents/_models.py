"""Typed request, agent-chain and result models."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)

from aixplain_agents._ids import check_id
from aixplain_agents._outcome import Outcome
from aixplain_agents._output import check_json_safe, check_type_spec

OutputFormat = Literal["text", "markdown", "json"]


class ExecutionParams(BaseModel):
    """Per-run limits and output settings sent as ``executionParams``.

    ``expected_output`` is either a dict of field types in the form the aiXplain docs
    use (``{"summary": "string", "risk": "low|medium|high", "actions": ["string"]}``)
    or a pydantic model class. ``max_time`` is in seconds; the engine lowers it to the
    time left on the client's deadline.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    output_format: OutputFormat | None = None
    expected_output: dict[str, Any] | type[BaseModel] | None = None
    max_tokens: PositiveInt | None = None
    max_iterations: PositiveInt | None = None
    max_time: PositiveInt | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_to_json(cls, data: Any) -> Any:
        # An expected output only makes sense for JSON output, so imply it.
        if isinstance(data, dict) and data.get("expected_output") is not None:
            data.setdefault("output_format", "json")
            if data["output_format"] is None:
                data["output_format"] = "json"
        return data

    @model_validator(mode="after")
    def _check_expected_output(self) -> ExecutionParams:
        expected = self.expected_output
        if expected is None:
            return self
        if self.output_format != "json":
            raise ValueError(
                f"expected_output needs output_format='json', got "
                f"output_format={self.output_format!r}"
            )
        if isinstance(expected, dict):
            check_type_spec(expected)
            check_json_safe(expected, "expected_output")
        return self

    def merged_with(self, override: ExecutionParams | None) -> ExecutionParams:
        """Return these params with every field that ``override`` sets replaced."""
        if override is None:
            return self
        changes = override.model_dump(exclude_unset=True)
        return self.model_copy(update=changes)


class RunRequest(BaseModel):
    """The request of one agent run: query, variables, history and execution params."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str | dict[str, Any]
    variables: dict[str, Any] = Field(default_factory=dict)
    history: list[dict[str, Any]] | None = None
    session_id: str | None = None
    execution_params: ExecutionParams = Field(default_factory=ExecutionParams)
    run_response_generation: bool = False

    @field_validator("query")
    @classmethod
    def _check_query(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        if isinstance(value, str) and not value.strip():
            raise ValueError("query is empty; pass the text the agent should work on")
        return value

    @model_validator(mode="after")
    def _check_json_safe(self) -> RunRequest:
        check_json_safe(self.query, "query")
        check_json_safe(self.variables, "variables")
        check_json_safe(self.history, "history")
        return self

    @field_validator("session_id")
    @classmethod
    def _check_session_id(cls, value: str | None) -> str | None:
        return None if value is None else check_id(value, "session id")


class AgentSpec(BaseModel):
    """One agent of a fallback chain, with optional overrides for its runs.

    ``timeout`` bounds this agent's run in seconds; when it passes, the chain moves on
    to the next agent while the overall deadline still has time.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    agent_id: str
    execution_params: ExecutionParams | None = None
    timeout: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @field_validator("agent_id")
    @classmethod
    def _check_agent_id(cls, value: str) -> str:
        return check_id(value, "agent id")

    @classmethod
    def coerce(cls, value: str | AgentSpec | Mapping[str, Any]) -> AgentSpec:
        """Accept an agent id, a spec, or a mapping of spec fields."""
        if isinstance(value, AgentSpec):
            return value
        if isinstance(value, str):
            return cls(agent_id=value)
        return cls.model_validate(dict(value))


class Attempt(BaseModel):
    """One try on one agent: what was sent, what came back, how long it took."""

    model_config = ConfigDict(frozen=True)

    agent_id: str
    request_id: str | None
    outcome: Outcome
    reason: str | None = None
    started_at: datetime
    duration: float
    possible_duplicate: bool = False


class SubmittedRun(BaseModel):
    """A run the service accepted: enough to resume polling it from anywhere."""

    model_config = ConfigDict(frozen=True)

    agent_id: str
    request_id: str
    poll_url: str
    possible_duplicate: bool = False


class RunCheck(BaseModel):
    """The state of a run seen by one poll, for sensors that must not block.

    ``status`` is ``UNKNOWN`` when the poll failed in a way worth repeating (a
    transport error, 429 or 5xx, or a malformed body), and ``reason`` gives the cause.
    """

    model_config = ConfigDict(frozen=True)

    agent_id: str
    request_id: str
    status: str
    finished: bool
    succeeded: bool
    steps: int = 0
    reason: str | None = None


class AgentRunResult(BaseModel):
    """The terminal result of a run, after fallbacks and output validation.

    ``output`` is JSON-compatible: the parsed and validated object when a JSON output
    was requested, else the text. With a pydantic ``expected_output``,
    ``output_model`` contains the model instance too.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    request_id: str
    agent_id: str
    status: str
    completed: bool
    output: Any
    output_model: BaseModel | None = Field(default=None, exclude=True, repr=False)
    steps: list[Any] = Field(default_factory=list, repr=False)
    used_credits: float = 0.0
    run_time: float = 0.0
    session_id: str | None = None
    error_message: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    possible_duplicate: bool = False

    @property
    def fallback_used(self) -> bool:
        """Whether the result came from an agent other than the first one tried."""
        return bool(self.attempts) and self.attempts[0].agent_id != self.agent_id

    def metadata(self) -> dict[str, Any]:
        """Return the run's metadata as JSON-safe values, for XComs and artifacts."""
        return {
            "request_id": self.request_id,
            "agent_id": self.agent_id,
            "status": self.status,
            "fallback_used": self.fallback_used,
            "used_credits": self.used_credits,
            "run_time": self.run_time,
            "session_id": self.session_id,
            "possible_duplicate": self.possible_duplicate,
            "attempts": [a.model_dump(mode="json") for a in self.attempts],
        }
