"""The submit-once ledger: the run a task run submitted, kept across retries.

A task retry re-runs the whole task function, and a flow retry runs the flow
function again in the same flow run. Either way the run already submitted must be
resumed, not posted again, because a second post starts (and bills) a second run.
The ledger stores the submitted run in a Prefect ``Variable`` whose name is derived
from the flow run id, the task key and the task run's dynamic key, which stay the
same across both kinds of retry. The record contains ids and the poll URL, never a key.
"""

from __future__ import annotations

import hashlib
from typing import Any

from prefect.context import TaskRunContext
from prefect.variables import Variable

from aixplain_agents import SubmittedRun

_PREFIX = "aixplain_run_"


class SubmissionLedger:
    """The stored submission of one task, read and written through Prefect Variables.

    Outside a task run (a plain function call) the ledger is disabled and stores
    nothing.
    """

    def __init__(self, name: str | None) -> None:
        self.name = name

    @classmethod
    def for_current_task(cls, scope: str = "") -> SubmissionLedger:
        """Return the ledger of the current task run, or a disabled one outside it."""
        context = TaskRunContext.get()
        if context is None or context.task_run.flow_run_id is None:
            return cls(None)
        task_run = context.task_run
        identity = f"{task_run.flow_run_id}:{task_run.task_key}:{task_run.dynamic_key}"
        digest = hashlib.sha256(f"{identity}:{scope}".encode()).hexdigest()[:40]
        return cls(_PREFIX + digest)

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
        if self.name is not None:
            await Variable.aunset(self.name)
