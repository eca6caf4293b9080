"""The exception tree: catch at the level you can act on.

Every error carries the agent id and the request id when they are known, and
``attempts``: what the engine tried before giving up. No message ever contains the
API key or a request header.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from aixplain_agents._outcome import Outcome

if TYPE_CHECKING:
    from aixplain_agents._models import Attempt


def shorten(text: str, limit: int = 60) -> str:
    """Return ``text`` cut to ``limit`` characters, for quoting a value in a message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class AixplainError(Exception):
    """Base class of every error this package raises."""

    failure_class: ClassVar[str] = "error"
    #: The outcome class that retry and fallback decisions act on.
    outcome: ClassVar[Outcome] = Outcome.CLIENT_ERROR

    def __init__(
        self,
        message: str,
        *,
        agent_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.agent_id = agent_id
        self.request_id = request_id
        self.attempts: list[Attempt] = []

    def one_line(self) -> str:
        """Return the failure class, message, agent and request id on one line."""
        where = [f"agent={self.agent_id}" if self.agent_id else None]
        where.append(f"request_id={self.request_id}" if self.request_id else None)
        known = " ".join(part for part in where if part)
        text = " ".join(self.message.split())
        return f"{self.failure_class}: {text}" + (f" ({known})" if known else "")


# --- Configuration: the caller's input is wrong; nothing was sent.


class ConfigurationError(AixplainError, ValueError):
    """A setting or argument is invalid; the message names the value and the fix."""

    failure_class = "configuration_error"


# --- Transport: the request did not complete.


class TransportError(AixplainError):
    """The service could not be reached, and retries ran out or the deadline passed."""

    failure_class = "not_sent"
    outcome = Outcome.NOT_SENT


class AmbiguousSubmitError(TransportError):
    """The run request may have reached the service, so the run may exist.

    The engine does not resend it by default, because a resend could start (and bill)
    a second run. Pass ``allow_duplicate_submit=True`` to resend anyway.
    """

    failure_class = "ambiguous"
    outcome = Outcome.AMBIGUOUS


# --- The service returned an HTTP error status.


class HTTPStatusError(AixplainError):
    """The service returned an error status."""

    failure_class = "http_error"

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error: str | None = None,
        supplier_error: str | None = None,
        agent_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, agent_id=agent_id, request_id=request_id)
        self.status_code = status_code
        self.error = error
        self.supplier_error = supplier_error


class ClientRequestError(HTTPStatusError):
    """The service rejected the request as invalid (4xx); retrying cannot help."""

    failure_class = "client_error"


class AuthenticationError(ClientRequestError):
    """The service rejected the API key (401)."""

    failure_class = "authentication_error"


class ServiceRejectedError(HTTPStatusError):
    """The service kept refusing the request (429 or 503) until retries ran out."""

    failure_class = "rejected"
    outcome = Outcome.REJECTED


# --- The run itself did not give a usable result.


class RunFailedError(AixplainError):
    """The run ended in a terminal state other than a clean SUCCESS."""

    failure_class = "remote_failure"
    outcome = Outcome.REMOTE_FAILURE

    def __init__(
        self,
        message: str,
        *,
        status: str,
        error_message: str | None = None,
        supplier_error: str | None = None,
        agent_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, agent_id=agent_id, request_id=request_id)
        self.status = status
        self.error_message = error_message
        self.supplier_error = supplier_error


class RunTimeoutError(AixplainError):
    """The deadline passed before the run reached a terminal state.

    It does not subclass the builtin ``TimeoutError`` on purpose: Prefect 3.9 marks a
    flow that raises one as TimedOut and skips its retries.
    """

    failure_class = "timeout"
    outcome = Outcome.TIMEOUT


class InvalidResponseError(AixplainError):
    """A response body does not follow the aiXplain agent protocol."""

    failure_class = "invalid_response"
    outcome = Outcome.INVALID_RESPONSE


class OutputValidationError(AixplainError):
    """The run succeeded but its output does not match ``expected_output``."""

    failure_class = "invalid_output"
    outcome = Outcome.INVALID_OUTPUT

    def __init__(
        self,
        message: str,
        *,
        problem: str,
        sample: str,
        agent_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, agent_id=agent_id, request_id=request_id)
        self.problem = problem
        self.sample = sample


class CircuitOpenError(AixplainError):
    """Every agent in the chain was skipped because its circuit breaker is open."""

    failure_class = "circuit_open"
    outcome = Outcome.CIRCUIT_OPEN
