"""The outcome classes of an attempt: the failure taxonomy every decision uses."""

from __future__ import annotations

import enum


class Outcome(str, enum.Enum):
    """The outcome class of one attempt on one agent; retries and fallbacks use it."""

    SUCCESS = "success"
    NOT_SENT = "not_sent"
    REJECTED = "rejected"
    AMBIGUOUS = "ambiguous"
    CLIENT_ERROR = "client_error"
    REMOTE_FAILURE = "remote_failure"
    TIMEOUT = "timeout"
    INVALID_RESPONSE = "invalid_response"
    INVALID_OUTPUT = "invalid_output"
    CIRCUIT_OPEN = "circuit_open"
