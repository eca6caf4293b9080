"""Prefect global concurrency limits and rate limits applied around agent runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

from prefect.concurrency.asyncio import (
    ConcurrencySlotAcquisitionError,
    concurrency,
    rate_limit,
)

from prefect_aixplain.exceptions import ConcurrencyLimitNotFoundError


@dataclass(frozen=True)
class RunLimits:
    """Names of the Prefect global concurrency limits that gate agent runs.

    ``concurrency_limit`` occupies one slot for the whole run (submit, polls and
    fallbacks), so it bounds the runs in flight. ``rate_limit`` takes one slot
    before the run starts, so it bounds how many runs start per second; that limit
    needs a slot decay. A missing limit is skipped with a warning from Prefect,
    unless ``strict`` is set.
    """

    concurrency_limit: str | None = None
    rate_limit: str | None = None
    strict: bool = False
    timeout_seconds: float | None = None


@asynccontextmanager
async def limited(limits: RunLimits) -> AsyncIterator[None]:
    """Wait for the rate limit, then hold a concurrency slot for the body.

    Raises:
        ConcurrencyLimitNotFoundError: ``strict`` is set and a limit does not exist.
        AcquireConcurrencySlotTimeoutError: no slot came free within
            ``timeout_seconds``.
    """
    if limits.rate_limit is not None:
        with _raise_if_missing(limits, limits.rate_limit, "--slot-decay-per-second 1"):
            await rate_limit(
                limits.rate_limit,
                timeout_seconds=limits.timeout_seconds,
                strict=limits.strict,
            )

    if limits.concurrency_limit is None:
        yield
        return
    with _raise_if_missing(limits, limits.concurrency_limit):
        async with concurrency(
            limits.concurrency_limit,
            timeout_seconds=limits.timeout_seconds,
            strict=limits.strict,
        ):
            yield


@contextmanager
def _raise_if_missing(
    limits: RunLimits, name: str, create_options: str = ""
) -> Iterator[None]:
    """Turn Prefect's error for a missing strict limit into one that names the fix."""
    try:
        yield
    except ConcurrencySlotAcquisitionError as exc:
        # NOTE: Prefect 3.9 raises this class for other acquisition failures too,
        # so only its message text identifies a missing limit.
        if not (limits.strict and "must be created" in str(exc)):
            raise
        command = f"prefect gcl create {name} --limit 5 {create_options}".strip()
        raise ConcurrencyLimitNotFoundError(
            f"global concurrency limit {name!r} does not exist. Create it, for "
            f"example with `{command}`, or pass strict_limits=False to run without it"
        ) from exc
