"""A task that runs from sync and async flows alike."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from prefect import Task
from prefect.context import FlowRunContext, TaskRunContext
from prefect.utilities.asyncutils import run_coro_as_sync


def _in_async_context() -> bool:
    """Return whether the caller can await: an async flow or task, or a running loop."""
    context = TaskRunContext.get() or FlowRunContext.get()
    if context is not None:
        parent = getattr(context, "task", None) or getattr(context, "flow", None)
        return bool(getattr(parent, "isasync", True))
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class SyncCompatibleTask(Task):  # type: ignore[type-arg]
    """An async task that returns its result directly when called from sync code.

    Calling a plain async task from a sync flow returns an unawaited coroutine. This
    task runs that coroutine to completion instead, so ``run_agent(...)`` works in a
    sync flow and ``await run_agent(...)`` in an async one. ``submit`` and ``map``
    behave as for any task.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        outcome = super().__call__(*args, **kwargs)
        if asyncio.iscoroutine(outcome) and not _in_async_context():
            return run_coro_as_sync(outcome)
        return outcome

    def with_options(self, **options: Any) -> SyncCompatibleTask:
        """Return a copy with changed options that stays callable from sync code."""
        copy = super().with_options(**options)
        # Task.with_options always builds a plain Task. This class adds no state,
        # so switching the copy's class back is safe.
        copy.__class__ = SyncCompatibleTask
        return copy  # type: ignore[return-value]


def sync_compatible_task(
    **options: Any,
) -> Callable[[Callable[..., Any]], SyncCompatibleTask]:
    """Decorate an async function as a :class:`SyncCompatibleTask` with ``options``."""

    def decorate(fn: Callable[..., Any]) -> SyncCompatibleTask:
        return SyncCompatibleTask(fn=fn, **options)

    return decorate
