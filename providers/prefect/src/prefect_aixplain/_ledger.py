"""The submit-once ledger: the run a task run submitted, kept across retries.

A task retry re-runs the whole task function, and a flow retry runs the flow
function again in the same flow run. Either way the run already submitted must be
resumed, not posted again, because a second post starts (and bills) a second run.
The ledger stores the submitted run in a Prefect ``Variable``. The record contains
ids and the poll URL, never a key.

The variable's name must be the same on every try. Prefect 3.9 gives each task call
a random dynamic key and a new task run id on a flow retry. The name is therefore
built from the flow run id, the task key, a fingerprint of the task's inputs, and
the call's position among calls with the same inputs in that try of the flow run.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from typing import Any
from uuid import UUID

from prefect.context import FlowRunContext, TaskRunContext
from prefect.variables import Variable

from aixplain_agents import SubmittedRun

_PREFIX = "aixplain_run_"
_lock = threading.Lock()
# Calls seen per (flow run, flow run try, task key, inputs), and the position given
# to each task run, so that a task retry keeps its position.
# NOTE: the call counts grow by one entry per distinct call and flow run try in a
# long-lived process. Only positions are dropped, when a task run clears its record.
_calls: Counter[tuple[str, int]] = Counter()
_positions: dict[UUID, int] = {}


class SubmissionLedger:
    """The stored submission of one task run, kept in a Prefect Variable.

    Outside a task run (a plain function call) the ledger is disabled and stores
    nothing.
    """

    def __init__(self, name: str | None, task_run_id: UUID | None = None) -> None:
        self.name = name
        self._task_run_id = task_run_id

    @classmethod
    def for_current_task(cls, fingerprint: str) -> SubmissionLedger:
        """Return the ledger of the current task run, or a disabled one outside it.

        Args:
            fingerprint: text that identifies the task's inputs, such as the agent
                chain and the request; it never needs to contain a secret.
        """
        task_context = TaskRunContext.get()
        flow_context = FlowRunContext.get()
        if task_context is None or task_context.task_run.flow_run_id is None:
            return cls(None)
        task_run = task_context.task_run
        flow_try = 0
        if flow_context is not None and flow_context.flow_run is not None:
            flow_try = flow_context.flow_run.run_count

        call = f"{task_run.flow_run_id}:{task_run.task_key}:{fingerprint}"
        with _lock:
            position = _positions.get(task_run.id)
            if position is None:
                position = _calls[(call, flow_try)]
                _calls[(call, flow_try)] += 1
                _positions[task_run.id] = position

        digest = hashlib.sha256(f"{call}:{position}".encode()).hexdigest()[:40]
        return cls(_PREFIX + digest, task_run.id)

    async def aget(self) -> SubmittedRun | None:
        """Return the stored submission, if an earlier try of this task made one."""
        if self.name is None:
            return None
        value: Any = await Variable.aget(self.name, default=None)
        if not isinstance(value, dict):
            return None
        return SubmittedRun.model_validate(value)

    async def arecord(self, run: SubmittedRun) -> None:
        """Store ``run`` so that a retry resumes it; called right after each submit."""
        if self.name is None:
            return
        await Variable.aset(self.name, run.model_dump(mode="json"), overwrite=True)

    async def aclear(self) -> None:
        """Forget the stored submission, so the next try submits a new run."""
        if self.name is None:
            return
        await Variable.aunset(self.name)
        with _lock:
            _positions.pop(self._task_run_id, None)  # type: ignore[arg-type]
