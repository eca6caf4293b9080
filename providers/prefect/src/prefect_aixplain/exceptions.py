"""Errors raised by the Prefect integration itself; run errors come from the core."""

from __future__ import annotations


class ConcurrencyLimitNotFoundError(RuntimeError):
    """A global concurrency limit named with ``strict=True`` does not exist."""
