"""Retry, polling, deadline and fallback decisions: plain functions, small objects.

Nothing here does IO, so tests call it directly with fixed clocks and random sources.
"""

from __future__ import annotations

import enum
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from aixplain_agents._outcome import Outcome

Clock = Callable[[], float]


@dataclass(frozen=True)
class PollSchedule:
    """Delays between polls: prompt first poll, then jittered growth up to a cap.

    The n-th wait (n from 0) is ``min(first_delay * factor**n, max_delay)`` scaled by a
    factor drawn from ``[1 - jitter, 1 + jitter]``. The first poll goes out right after
    the submit, as the official SDK's does, so a run that is already done costs no wait.

    The defaults come from ``bench/poll_schedule.py``, compared with the official
    SDK's schedule (0.5 s, x1.1, cap 60 s). They were measured on the sandbox on a
    2-core machine, with 10 runs per duration. For runs of 2 s to 10 s they sent 0.56x
    to 0.80x the SDK's polls, and saw a run's end about 2 s after it (the SDK: under
    1 s). Computed
    for longer runs, they see any run's end within 10 s (the SDK: up to 60 s), at
    2.6x the SDK's polls for a 30-minute run. At the 10 s cap, 1,000 waiting runs
    send about 100 polls per second in total.
    """

    first_delay: float = 0.5
    factor: float = 1.5
    max_delay: float = 10.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.first_delay <= 0 or self.max_delay < self.first_delay:
            raise ValueError(
                f"poll schedule needs 0 < first_delay <= max_delay, got "
                f"first_delay={self.first_delay}, max_delay={self.max_delay}"
            )
        if self.factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError(
                f"poll schedule needs factor >= 1 and 0 <= jitter < 1, got "
                f"factor={self.factor}, jitter={self.jitter}"
            )

    def delay(self, poll_index: int, rng: random.Random) -> float:
        """Return the wait in seconds after poll number ``poll_index`` (from 0)."""
        nominal = min(self.first_delay * self.factor**poll_index, self.max_delay)
        return nominal * rng.uniform(1 - self.jitter, 1 + self.jitter)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for transient failures: full jitter over an exponential ceiling.

    ``max_submit_attempts`` bounds how often one run request is sent while the service
    refuses it (429/503) or cannot be reached; polls retry until the deadline.
    """

    base_delay: float = 0.5
    max_delay: float = 30.0
    max_submit_attempts: int = 6
    max_invalid_responses: int = 3

    def __post_init__(self) -> None:
        if self.base_delay <= 0 or self.max_delay < self.base_delay:
            raise ValueError(
                f"retry policy needs 0 < base_delay <= max_delay, got "
                f"base_delay={self.base_delay}, max_delay={self.max_delay}"
            )
        if self.max_submit_attempts < 1 or self.max_invalid_responses < 1:
            raise ValueError(
                "max_submit_attempts and max_invalid_responses must be >= 1"
            )

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Return the wait before retry number ``failures`` (from 1)."""
        ceiling = min(self.base_delay * 2 ** (failures - 1), self.max_delay)
        return rng.uniform(self.base_delay / 2, ceiling) if ceiling > 0 else 0.0

    def wait_before_retry(
        self, failures: int, retry_after: float | None, rng: random.Random
    ) -> float:
        """Return the wait before a retry, honouring the server's ``Retry-After``."""
        if retry_after is not None:
            return retry_after
        return self.backoff(failures, rng)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return a ``Retry-After`` header in seconds from now, or None if absent or bad.

    Accepts delta-seconds and HTTP dates (RFC 9110, section 10.2.3); negative values
    become 0.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


class SubmitAction(enum.Enum):
    """The action after a failed run request: resend it or stop."""

    RESEND = "resend"
    STOP = "stop"


# HTTP statuses on a run request and the outcome class each one means.
_REJECTED = frozenset({429, 503})
_AMBIGUOUS = frozenset({500, 502, 504})


def classify_submit_status(status_code: int) -> Outcome:
    """Return the outcome class of an HTTP error status on ``POST .../run``.

    429 and 503 mean the service did not take the request. 500, 502 and 504 leave open
    whether a run was created. Other statuses are the client's fault.
    """
    if status_code in _REJECTED:
        return Outcome.REJECTED
    if status_code in _AMBIGUOUS or status_code >= 500:
        return Outcome.AMBIGUOUS
    return Outcome.CLIENT_ERROR


def decide_submit_retry(
    outcome: Outcome, *, allow_duplicate_submit: bool
) -> SubmitAction:
    """Return whether a failed run request may be sent again.

    Resending is safe when nothing reached the service or the service reported that
    it took nothing. An ambiguous failure is resent only on the caller's explicit
    opt-in, because the first request may already have started a billable run.
    """
    if outcome in (Outcome.NOT_SENT, Outcome.REJECTED):
        return SubmitAction.RESEND
    if outcome is Outcome.AMBIGUOUS and allow_duplicate_submit:
        return SubmitAction.RESEND
    return SubmitAction.STOP


def is_transient_poll_status(status_code: int) -> bool:
    """Return whether a poll that returned ``status_code`` should simply be repeated."""
    return status_code in (408, 425, 429) or status_code >= 500


# Outcomes after which the next agent of the chain runs. Client errors, ambiguous
# submits and exhausted transport retries stop the chain: a bad key stays bad on every
# agent, and a possibly-created run must not be doubled by a fallback.
_FALLBACK_OUTCOMES = frozenset(
    {
        Outcome.REMOTE_FAILURE,
        Outcome.TIMEOUT,
        Outcome.INVALID_OUTPUT,
        Outcome.INVALID_RESPONSE,
        Outcome.CIRCUIT_OPEN,
    }
)


def may_fall_back(outcome: Outcome) -> bool:
    """Return whether the chain moves on to its next agent after ``outcome``."""
    return outcome in _FALLBACK_OUTCOMES


class Deadline:
    """A point in time on a monotonic clock, with the arithmetic the engine needs."""

    def __init__(self, seconds: float, clock: Clock = time.monotonic) -> None:
        if not seconds > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {seconds}")
        self._clock = clock
        self.seconds = seconds
        self.expires_at = clock() + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.expires_at - self._clock())

    def expired(self) -> bool:
        """Return whether no time is left."""
        return self.remaining() <= 0

    def sooner(self, seconds: float | None) -> Deadline:
        """Return the earlier of this deadline and one ``seconds`` from now."""
        if seconds is None or seconds >= self.remaining():
            return self
        return Deadline(seconds, self._clock)


def server_max_time(requested: int | None, remaining: float) -> int:
    """Return the ``maxTime`` to send: the request's, but never past the deadline.

    Whole seconds rounded down (at least 1), so the service gives up no later than the
    client stops waiting.
    """
    cap = max(1, int(remaining))
    return cap if requested is None else max(1, min(requested, cap))


@dataclass
class _BreakerState:
    consecutive_failures: int = 0
    opened_at: float | None = None


@dataclass
class CircuitBreaker:
    """Skips an agent for ``cooldown`` s after ``threshold`` remote failures in a row.

    State is per process and per key (the engine uses base URL plus agent id). After the
    cool-down one run is let through; its outcome closes or re-opens the circuit.
    """

    threshold: int = 5
    cooldown: float = 60.0
    clock: Clock = time.monotonic
    _states: dict[str, _BreakerState] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def is_open(self, key: str) -> bool:
        """Return whether runs of ``key`` should be skipped now."""
        with self._lock:
            state = self._states.get(key)
            if state is None or state.opened_at is None:
                return False
            if self.clock() - state.opened_at >= self.cooldown:
                state.opened_at = None  # half-open: let one run through
                state.consecutive_failures = self.threshold - 1
                return False
            return True

    def record_success(self, key: str) -> None:
        """Close the circuit of ``key``."""
        with self._lock:
            self._states.pop(key, None)

    def record_failure(self, key: str) -> bool:
        """Count a remote failure of ``key``; return True if this opened the circuit."""
        with self._lock:
            state = self._states.setdefault(key, _BreakerState())
            state.consecutive_failures += 1
            if state.opened_at is None and state.consecutive_failures >= self.threshold:
                state.opened_at = self.clock()
                return True
            return False


#: The breaker shared by every client in this process, unless one passes its own.
DEFAULT_BREAKER = CircuitBreaker()
