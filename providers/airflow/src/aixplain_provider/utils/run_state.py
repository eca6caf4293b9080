"""The submitted run of a task, kept in the task state store so retries resume it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from aixplain_agents import SubmittedRun

STATE_KEY = "aixplain_run"


class _WarningLogger(Protocol):
    def warning(self, event: Any, *args: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class StoredRun:
    """The run a task is waiting on, and the Unix time its overall deadline ends.

    ``succeeded_max_tries`` is set once the task returned the run's output: it is the
    task instance's ``max_tries`` at that moment. Clearing a task raises
    ``max_tries``, because Airflow 3.3 sets it to the try number plus the retries. A
    later try with the same value is therefore a retry of a try whose success Airflow
    did not record, and a different value means a user cleared the task.
    """

    agent_id: str
    request_id: str
    poll_url: str
    deadline: float
    succeeded_max_tries: int | None = None
    #: Unix time of the submit, for the attempt record of this run.
    submitted_at: float = 0.0
    #: Attempts of earlier agents of the chain in this try, as ``Attempt`` dumps. A
    #: deferred task falls back across several trigger rounds, so they are kept here.
    earlier_attempts: list[dict[str, Any]] = field(default_factory=list)

    def attempt_record(
        self, outcome: str, reason: str | None, ended_at: float
    ) -> dict[str, Any]:
        """Return this run's attempt as the core's ``Attempt`` dumps it to JSON."""
        started = datetime.fromtimestamp(self.submitted_at, timezone.utc)
        return {
            "agent_id": self.agent_id,
            "request_id": self.request_id,
            "outcome": outcome,
            "reason": reason,
            "started_at": started.isoformat().replace("+00:00", "Z"),
            "duration": max(0.0, ended_at - self.submitted_at),
            "possible_duplicate": False,
        }

    def submitted_run(self) -> SubmittedRun:
        """Return the core's handle for this run, to resume polling it."""
        return SubmittedRun(
            agent_id=self.agent_id, request_id=self.request_id, poll_url=self.poll_url
        )


class RunState:
    """Read and write the task's :class:`StoredRun` in ``context["task_state_store"]``.

    The task state store (Airflow 3.3+) survives task retries and is also readable in
    ``execute_complete``. Without it, every method is a no-op and a retry submits a
    new run.

    :param context: the task's execution context.
    :param log: logger that receives the one warning about a missing store.
    """

    def __init__(self, context: Any, log: _WarningLogger) -> None:
        self._store = context.get("task_state_store")
        if self._store is None:
            log.warning(
                "The task state store is not available (it needs Airflow 3.3 or "
                "later), so a retry of this task submits a new aiXplain run"
            )

    @property
    def available(self) -> bool:
        """Whether the task state store exists in this Airflow version."""
        return self._store is not None

    def load(self) -> StoredRun | None:
        """Return the stored run, or None if there is none or it is unreadable."""
        if self._store is None:
            return None
        value = self._store.get(STATE_KEY)
        if not isinstance(value, dict):
            return None
        try:
            return StoredRun(**value)
        except TypeError:
            return None

    def save(self, run: StoredRun) -> None:
        """Store ``run``, replacing any earlier one."""
        if self._store is not None:
            self._store.set(STATE_KEY, asdict(run))

    def clear(self) -> None:
        """Forget the stored run, so the next try or a manual clear submits afresh."""
        if self._store is not None:
            self._store.delete(STATE_KEY)
