"""aiXplain agents: the run-and-poll engine shared by the orchestrator integrations.

Submit an agent run once, poll it to a terminal state, retry only what is safe to
retry, fall back along a chain of agents, and validate structured output.
"""

from aixplain_agents._client import AgentClient, AsyncAgentClient, build_request
from aixplain_agents._config import DEFAULT_BASE_URL, ConnectionSettings, build_settings
from aixplain_agents._engine import next_fallback
from aixplain_agents._exceptions import (
    AixplainError,
    AmbiguousSubmitError,
    AuthenticationError,
    CircuitOpenError,
    ClientRequestError,
    ConfigurationError,
    HTTPStatusError,
    InvalidResponseError,
    OutputValidationError,
    RunFailedError,
    RunTimeoutError,
    ServiceRejectedError,
    TransportError,
)
from aixplain_agents._models import (
    AgentRunResult,
    AgentSpec,
    Attempt,
    ExecutionParams,
    RunCheck,
    RunRequest,
    SubmittedRun,
)
from aixplain_agents._outcome import Outcome
from aixplain_agents._policy import (
    CircuitBreaker,
    PollSchedule,
    RetryPolicy,
    may_fall_back,
)
from aixplain_agents._progress import ProgressOptions

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "AgentClient",
    "AgentRunResult",
    "AgentSpec",
    "AixplainError",
    "AmbiguousSubmitError",
    "AsyncAgentClient",
    "Attempt",
    "AuthenticationError",
    "CircuitBreaker",
    "CircuitOpenError",
    "ClientRequestError",
    "ConfigurationError",
    "ConnectionSettings",
    "ExecutionParams",
    "HTTPStatusError",
    "InvalidResponseError",
    "Outcome",
    "OutputValidationError",
    "PollSchedule",
    "ProgressOptions",
    "RetryPolicy",
    "RunCheck",
    "RunFailedError",
    "RunRequest",
    "RunTimeoutError",
    "ServiceRejectedError",
    "SubmittedRun",
    "TransportError",
    "build_request",
    "build_settings",
    "may_fall_back",
    "next_fallback",
]
