"""The scenario file: which agents the sandbox serves and how each one behaves."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from aixplain_agents._exceptions import shorten
from aixplain_agents._ids import check_id

# Fault kinds that change the HTTP exchange of one submit or one poll.
TRANSPORT_KINDS = frozenset(
    {
        "http_status",
        "connection_reset",
        "response_dropped",
        "withhold",
        "malformed_json",
        "missing_fields",
        "wrong_type",
        "foreign_poll_url",
    }
)
# Fault kinds that decide how a run ends. They are drawn once, when the run is created.
OUTCOME_KINDS = frozenset(
    {
        "terminal",
        "success_with_error",
        "never_completes",
        "schema_violation",
        "huge_output",
    }
)
FAULT_STATUSES = (400, 401, 403, 404, 429, 500, 502, 503, 504)
TEMPLATE_FIELDS = frozenset(
    {"query", "variables", "agent_id", "request_id", "session_id"}
)
MAX_HUGE_OUTPUT_BYTES = 256 * 1024 * 1024


class ScenarioError(ValueError):
    """A scenario is invalid. The message names the file, the field and the problem."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class UniformDuration(_Model):
    """A run duration drawn uniformly from `[low, high]` seconds."""

    distribution: Literal["uniform"]
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _check_bounds(self) -> UniformDuration:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be >= low ({self.low})")
        return self


class NormalDuration(_Model):
    """A run duration drawn from a normal distribution, clipped to `[min, max]`."""

    distribution: Literal["normal"]
    mean: float = Field(ge=0)
    stddev: float = Field(ge=0)
    min: float = Field(default=0.0, ge=0)
    max: float | None = Field(default=None, ge=0)


def _duration_tag(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("distribution", "missing"))
    if isinstance(value, (UniformDuration, NormalDuration)):
        return value.distribution
    return "fixed"


Duration = Annotated[
    Union[  # noqa: UP007
        Annotated[float, Field(ge=0), Tag("fixed")],
        Annotated[UniformDuration, Tag("uniform")],
        Annotated[NormalDuration, Tag("normal")],
    ],
    Discriminator(
        _duration_tag,
        custom_error_type="invalid_duration",
        custom_error_message=(
            "must be a number of seconds or a mapping with distribution: "
            "uniform or normal"
        ),
    ),
]


class StepSpec(_Model):
    """One intermediate step that a run reports while it works."""

    action: str = "reason"
    thought: str = "Working on the request."
    tool: str | None = None
    output: str | None = None


def _steps_tag(value: Any) -> str:
    return "list" if isinstance(value, list) else "count"


Steps = Annotated[
    Union[  # noqa: UP007
        Annotated[int, Field(ge=0, le=100), Tag("count")],
        Annotated[list[StepSpec], Tag("list")],
    ],
    Discriminator(_steps_tag),
]


class TextOutput(_Model):
    """A fixed text output."""

    kind: Literal["text"]
    text: str


class TemplateOutput(_Model):
    """A text output built with `str.format` from the query and its variables."""

    kind: Literal["template"]
    template: str

    @model_validator(mode="after")
    def _check_fields(self) -> TemplateOutput:
        check_template(self.template)
        return self


class JsonOutput(_Model):
    """A JSON output generated to fit the request's `expectedOutput`."""

    kind: Literal["json"]
    # Field values that replace generated ones, by top-level field name.
    values: dict[str, Any] = Field(default_factory=dict)
    # Used when neither the request nor the agent gives an expectedOutput.
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    # Send the output as a JSON-encoded string instead of an object.
    as_string: bool = False


Output = Annotated[
    Union[TextOutput, TemplateOutput, JsonOutput],  # noqa: UP007
    Field(discriminator="kind"),
]


class FaultSpec(_Model):
    """One scripted fault, fired when all of its conditions hold."""

    kind: Literal[
        "http_status",
        "connection_reset",
        "response_dropped",
        "withhold",
        "malformed_json",
        "missing_fields",
        "wrong_type",
        "foreign_poll_url",
        "terminal",
        "success_with_error",
        "never_completes",
        "schema_violation",
        "huge_output",
    ]
    on: Literal["submit", "poll", "run"] | None = None

    # Conditions. A fault with none of them fires on every event.
    times: int | None = Field(default=None, ge=1)
    probability: float | None = Field(default=None, ge=0, le=1)
    at: list[int] | None = None
    query_matches: str | None = None

    # Parameters, each used by the kinds named beside it.
    status: int | str | None = None  # HTTP code (http_status) or run status (terminal)
    retry_after: int | None = Field(default=None, ge=0)  # http_status, in seconds
    message: str | None = None  # http_status, terminal, success_with_error
    supplier_error: str | None = None  # http_status, terminal
    seconds: float = Field(default=300.0, ge=0)  # withhold
    fields: list[str] | None = None  # missing_fields: dotted paths to remove
    values: dict[str, Any] | None = None  # wrong_type: dotted path -> value
    url: str | None = None  # foreign_poll_url, may contain {request_id}
    size_bytes: int | None = Field(default=None, ge=1, le=MAX_HUGE_OUTPUT_BYTES)

    @model_validator(mode="after")
    def _check_kind(self) -> FaultSpec:
        _check_fault(self)
        return self

    @property
    def phase(self) -> str:
        """The event the fault is drawn on: submit, poll or run."""
        if self.on is not None:
            return self.on
        return "run" if self.kind in OUTCOME_KINDS else "submit"


def _check_fault(fault: FaultSpec) -> None:
    if fault.kind in OUTCOME_KINDS and fault.on not in (None, "run"):
        raise ValueError(f"kind {fault.kind!r} decides how a run ends; use on: run")
    if fault.kind in TRANSPORT_KINDS and fault.on not in ("submit", "poll"):
        raise ValueError(f"kind {fault.kind!r} needs on: submit or on: poll")
    if fault.kind == "foreign_poll_url" and fault.on != "submit":
        raise ValueError("kind 'foreign_poll_url' only applies with on: submit")
    if fault.at is not None and any(n < 1 for n in fault.at):
        raise ValueError(f"at: event numbers start at 1, got {fault.at}")
    if fault.query_matches is not None:
        try:
            re.compile(fault.query_matches)
        except re.error as exc:
            raise ValueError(f"query_matches: invalid regex: {exc}") from None

    if fault.kind == "http_status" and fault.status not in FAULT_STATUSES:
        allowed = ", ".join(map(str, FAULT_STATUSES))
        raise ValueError(f"status must be one of {allowed}, got {fault.status!r}")
    if fault.kind == "terminal" and fault.status not in ("FAILED", "ERROR", "ABORTED"):
        raise ValueError(
            f"status must be FAILED, ERROR or ABORTED, got {fault.status!r}"
        )
    if fault.kind == "missing_fields" and not fault.fields:
        raise ValueError("kind 'missing_fields' needs a non-empty fields list")
    if fault.kind == "wrong_type" and not fault.values:
        raise ValueError("kind 'wrong_type' needs a non-empty values mapping")
    if fault.kind == "foreign_poll_url" and not fault.url:
        raise ValueError("kind 'foreign_poll_url' needs url")
    if fault.kind == "huge_output" and fault.size_bytes is None:
        raise ValueError("kind 'huge_output' needs size_bytes")


class AgentSpec(_Model):
    """An agent's description for GET and the behaviour of its runs."""

    name: str | None = None
    description: str = "A scripted sandbox agent."
    instructions: str = "Answer the request."
    output_format: Literal["text", "markdown", "json"] = "text"
    expected_output: dict[str, Any] | str | None = None
    max_iterations: int = Field(default=5, ge=1)
    model: str = "sandbox-llm"

    duration: Duration = 0.5
    steps: Steps = 2
    output: Output = Field(
        default_factory=lambda: TemplateOutput(kind="template", template="{query}")
    )
    credits: float = Field(default=0.001, ge=0)
    faults: list[FaultSpec] = Field(default_factory=list)

    @property
    def step_specs(self) -> list[StepSpec]:
        """The agent's steps, with `steps: N` expanded to N default steps."""
        if isinstance(self.steps, int):
            return [StepSpec() for _ in range(self.steps)]
        return self.steps


class Scenario(_Model):
    """A set of scripted agents and the API keys the sandbox accepts."""

    version: Literal[1] = 1
    seed: int = 0
    # Accepted values of the x-api-key header. Empty means any non-empty key.
    api_keys: list[str] = Field(default_factory=list)
    agents: dict[str, AgentSpec]

    @field_validator("agents")
    @classmethod
    def _check_agent_ids(cls, agents: dict[str, AgentSpec]) -> dict[str, AgentSpec]:
        # The same check as the client's, so every scenario agent can be called.
        for agent_id in agents:
            check_id(agent_id, "agent id")
        return agents

    @field_validator("api_keys")
    @classmethod
    def _check_api_keys(cls, keys: list[str]) -> list[str]:
        for index, key in enumerate(keys):
            if not key or not key.isascii() or any(c.isspace() for c in key):
                raise ValueError(
                    f"api_keys[{index}] is empty or contains whitespace or non-ASCII "
                    "characters, which no client can send in a header"
                )
        return keys

    def __repr__(self) -> str:
        # The accepted keys are secrets of the user's test setup.
        return f"Scenario(agents={sorted(self.agents)}, seed={self.seed})"

    __str__ = __repr__


def check_template(template: str) -> None:
    """Raise ValueError if `template` names a field other than TEMPLATE_FIELDS."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"template: {exc}") from None

    for _, field_name, _, _ in parsed:
        if field_name is None:
            continue
        root = re.split(r"[.\[]", field_name, maxsplit=1)[0]
        if root not in TEMPLATE_FIELDS:
            allowed = ", ".join(sorted(TEMPLATE_FIELDS))
            raise ValueError(
                f"template: unknown field {{{field_name}}}; use one of {allowed}"
            )


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate `data` (a decoded YAML or JSON document) as a scenario."""
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{source}: the document must be a mapping, got {type(data).__name__}"
        )
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_errors(source, exc)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (`.json`, else YAML).

    Raises:
        ScenarioError: the file cannot be read or decoded, or a field is invalid.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the file: {exc.strerror}") from None

    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioError(f"{path.name}: invalid JSON: {exc}") from None
    else:
        import yaml

        try:
            data = yaml.load(text, Loader=_yaml_loader())
        except yaml.YAMLError as exc:
            raise ScenarioError(f"{path.name}: invalid YAML: {exc}") from None

    return parse_scenario(data, source=path.name)


def _yaml_loader() -> Any:
    """Return a safe YAML loader that reads only true and false as booleans.

    YAML 1.1 also reads on, off, yes and no as booleans, which would turn the
    fault field `on:` into the key True.
    """
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    bool_tag = "tag:yaml.org,2002:bool"
    Loader.yaml_implicit_resolvers = {
        first: [(tag, regex) for tag, regex in resolvers if tag != bool_tag]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        bool_tag,
        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )
    return Loader


# Bounds on what a validation error repeats back, so a pathological file (a YAML
# alias bomb, say) cannot produce megabytes of error text.
MAX_ERRORS_SHOWN = 10
MAX_INPUT_SHOWN = 80


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = []
    errors = exc.errors(include_url=False)
    for error in errors[:MAX_ERRORS_SHOWN]:
        location = ".".join(str(part) for part in _readable_location(error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        detail = (
            f"{source}: {location}: {message}" if location else f"{source}: {message}"
        )
        if "input" in error and error["type"] not in ("missing", "value_error"):
            detail += f", got {shorten(repr(error['input']), MAX_INPUT_SHOWN)}"
        lines.append(detail)
    if len(errors) > MAX_ERRORS_SHOWN:
        lines.append(f"{source}: ... and {len(errors) - MAX_ERRORS_SHOWN} more errors")
    return "\n".join(lines)


# pydantic puts the tag of the chosen union member after the field name in the path.
_UNION_TAGS = {
    "duration": {"fixed", "uniform", "normal"},
    "steps": {"count", "list"},
    "output": {"text", "template", "json"},
    "expected_output": {"dict[str,any]", "str"},
}


def _readable_location(location: tuple[int | str, ...]) -> list[int | str]:
    readable: list[int | str] = []
    for part in location:
        previous = readable[-1] if readable else None
        if isinstance(previous, str) and part in _UNION_TAGS.get(previous, ()):
            continue
        readable.append(part)
    return readable
