"""Prefect global concurrency limits and rate limits applied around agent runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
    try:
        if limits.rate_limit is not None:
            await rate_limit(
                limits.rate_limit,
                timeout_seconds=limits.timeout_seconds,
                strict=limits.strict,
            )
        if limits.concurrency_limit is None:
            yield
            return
        async with concurrency(
            limits.concurrency_limit,
            timeout_seconds=limits.timeout_seconds,
            strict=limits.strict,
        ):
            yield
    except ConcurrencySlotAcquisitionError as exc:
        if limits.strict and "must be created" in str(exc):
            names = [n for n in (limits.concurrency_limit, limits.rate_limit) if n]
            raise ConcurrencyLimitNotFoundError(
                f"global concurrency limit {' or '.join(map(repr, names))} does not "
                "exist; create it, for example with `prefect gcl create NAME "
                "--limit 5`, or pass strict=False to run without it"
            ) from exc
        raise
