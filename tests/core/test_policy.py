"""Decision functions of the engine, called without a server."""

from __future__ import annotations

import random

import pytest

from aixplain_agents._outcome import Outcome
from aixplain_agents._policy import (
    CircuitBreaker,
    Deadline,
    PollSchedule,
    RetryPolicy,
    SubmitAction,
    classify_submit_status,
    decide_submit_retry,
    is_transient_poll_status,
    may_fall_back,
    parse_retry_after,
    server_max_time,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (429, Outcome.REJECTED),
        (503, Outcome.REJECTED),
        (500, Outcome.AMBIGUOUS),
        (502, Outcome.AMBIGUOUS),
        (504, Outcome.AMBIGUOUS),
        (507, Outcome.AMBIGUOUS),
        (400, Outcome.CLIENT_ERROR),
        (401, Outcome.CLIENT_ERROR),
        (403, Outcome.CLIENT_ERROR),
        (404, Outcome.CLIENT_ERROR),
        (422, Outcome.CLIENT_ERROR),
    ],
)
def test_classify_submit_status_table(status: int, outcome: Outcome) -> None:
    assert classify_submit_status(status) is outcome


@pytest.mark.parametrize(
    ("outcome", "allow_duplicate", "action"),
    [
        (Outcome.NOT_SENT, False, SubmitAction.RESEND),
        (Outcome.REJECTED, False, SubmitAction.RESEND),
        (Outcome.AMBIGUOUS, False, SubmitAction.STOP),
        (Outcome.AMBIGUOUS, True, SubmitAction.RESEND),
        (Outcome.CLIENT_ERROR, True, SubmitAction.STOP),
        (Outcome.REMOTE_FAILURE, True, SubmitAction.STOP),
    ],
)
def test_decide_submit_retry_table(
    outcome: Outcome, allow_duplicate: bool, action: SubmitAction
) -> None:
    assert (
        decide_submit_retry(outcome, allow_duplicate_submit=allow_duplicate) is action
    )


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        *[(status, True) for status in (408, 429, 500, 502, 503, 504)],
        *[(status, False) for status in (400, 401, 403, 404)],
    ],
)
def test_poll_status_transient_table(status: int, transient: bool) -> None:
    assert is_transient_poll_status(status) is transient


@pytest.mark.parametrize(
    ("outcome", "falls_back"),
    [
        (Outcome.REMOTE_FAILURE, True),
        (Outcome.TIMEOUT, True),
        (Outcome.INVALID_OUTPUT, True),
        (Outcome.INVALID_RESPONSE, True),
        (Outcome.CIRCUIT_OPEN, True),
        (Outcome.CLIENT_ERROR, False),
        (Outcome.AMBIGUOUS, False),
        (Outcome.NOT_SENT, False),
        (Outcome.REJECTED, False),
        (Outcome.SUCCESS, False),
    ],
)
def test_may_fall_back_table(outcome: Outcome, falls_back: bool) -> None:
    assert may_fall_back(outcome) is falls_back


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("1", 1.0),
        ("120", 120.0),
        ("soon", None),
        ("Thu, 01 Jan 1970 00:00:10 GMT", 5.0),
        ("Thu, 01 Jan 1970 00:00:01 GMT", 0.0),
    ],
)
def test_parse_retry_after_table(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=5.0) == seconds


def test_poll_schedule_first_wait_is_short() -> None:
    schedule = PollSchedule(first_delay=0.5, factor=2, max_delay=4, jitter=0)
    assert schedule.delay(0, random.Random(1)) == 0.5


def test_poll_schedule_grows_to_cap() -> None:
    schedule = PollSchedule(first_delay=0.5, factor=2, max_delay=4, jitter=0)
    waits = [schedule.delay(n, random.Random(1)) for n in range(6)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_poll_schedule_jitter_stays_in_band() -> None:
    schedule = PollSchedule(first_delay=1, factor=1, max_delay=1, jitter=0.2)
    rng = random.Random(7)
    waits = [schedule.delay(0, rng) for _ in range(500)]
    assert min(waits) >= 0.8
    assert max(waits) <= 1.2
    assert len(set(waits)) > 100


@pytest.mark.parametrize(
    "kwargs",
    [
        {"first_delay": 0},
        {"first_delay": 2, "max_delay": 1},
        {"factor": 0.5},
        {"jitter": 1.0},
    ],
)
def test_poll_schedule_rejects_invalid_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="poll schedule needs"):
        PollSchedule(**kwargs)


def test_retry_policy_backoff_is_bounded_by_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4)
    rng = random.Random(3)
    waits = [policy.backoff(n, rng) for n in range(1, 20)]
    assert all(0.25 <= wait <= 4 for wait in waits)


def test_retry_policy_prefers_retry_after() -> None:
    policy = RetryPolicy()
    assert policy.wait_before_retry(3, 1.0, random.Random(0)) == 1.0


def test_deadline_counts_down_with_clock() -> None:
    clock = FakeClock()
    deadline = Deadline(10, clock)
    clock.now += 4
    assert deadline.remaining() == pytest.approx(6)
    assert not deadline.expired()


def test_deadline_expires() -> None:
    clock = FakeClock()
    deadline = Deadline(10, clock)
    clock.now += 11
    assert deadline.remaining() == 0
    assert deadline.expired()


def test_deadline_sooner_takes_the_earlier() -> None:
    clock = FakeClock()
    deadline = Deadline(10, clock)
    assert deadline.sooner(3).remaining() == pytest.approx(3)
    assert deadline.sooner(30) is deadline
    assert deadline.sooner(None) is deadline


def test_deadline_rejects_non_positive() -> None:
    with pytest.raises(ValueError, match="timeout must be > 0"):
        Deadline(0)


@pytest.mark.parametrize(
    ("requested", "remaining", "sent"),
    [
        (None, 5.0, 5),
        (None, 4.9, 4),
        (300, 5.0, 5),
        (3, 5.0, 3),
        (None, 0.3, 1),
    ],
)
def test_server_max_time_never_exceeds_deadline(
    requested: int | None, remaining: float, sent: int
) -> None:
    assert server_max_time(requested, remaining) == sent


def test_circuit_breaker_opens_after_threshold() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=2, cooldown=30, clock=clock)
    assert breaker.record_failure("a") is False
    assert breaker.record_failure("a") is True
    assert breaker.is_open("a")
    assert not breaker.is_open("b")


def test_circuit_breaker_success_resets_count() -> None:
    breaker = CircuitBreaker(threshold=2, cooldown=30, clock=FakeClock())
    breaker.record_failure("a")
    breaker.record_success("a")
    breaker.record_failure("a")
    assert not breaker.is_open("a")


def test_circuit_breaker_half_opens_after_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=2, cooldown=30, clock=clock)
    breaker.record_failure("a")
    breaker.record_failure("a")
    clock.now += 31
    assert not breaker.is_open("a")
    assert breaker.record_failure("a") is True
    assert breaker.is_open("a")
