"""Deciding which scripted fault, if any, fires on a submit, a poll or a new run."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from typing import Any

from ._scenario import FaultSpec


class FaultPlan:
    """The faults of one agent with their firing counts and seeded random streams.

    A fault fires only when all of its conditions hold. `query_matches` is a regex
    searched in the query text. `at` lists event numbers: the agent's submit number
    for submit and run faults, the request's poll number for poll faults. `times`
    caps the number of firings. `probability` is drawn from a stream seeded by the
    scenario seed, the agent id and the fault's position. The first fault in file
    order that fires wins.
    """

    def __init__(self, seed: int, agent_id: str, faults: Sequence[FaultSpec]) -> None:
        self._faults = list(faults)
        self._patterns = [
            re.compile(f.query_matches) if f.query_matches is not None else None
            for f in self._faults
        ]
        self._random = [
            random.Random(f"{seed}:{agent_id}:{index}")
            for index in range(len(self._faults))
        ]
        self._fired = [0] * len(self._faults)

    @property
    def faults(self) -> list[FaultSpec]:
        """The agent's faults in file order."""
        return self._faults

    def draw(self, phase: str, event_number: int, query: Any) -> int | None:
        """Return the index of the fault that fires on this event, or None."""
        text: str | None = None
        for index, fault in enumerate(self._faults):
            if fault.phase != phase:
                continue
            if self._patterns[index] is not None and text is None:
                text = query_text(query)
            if not self._conditions_hold(index, event_number, text or ""):
                continue
            self._fired[index] += 1
            return index
        return None

    def _conditions_hold(self, index: int, event_number: int, query_text: str) -> bool:
        fault = self._faults[index]
        pattern = self._patterns[index]
        if pattern is not None and pattern.search(query_text) is None:
            return False
        if fault.at is not None and event_number not in fault.at:
            return False
        if fault.times is not None and self._fired[index] >= fault.times:
            return False
        if fault.probability is not None:
            # Drawn only when the other conditions hold, so the stream depends
            # only on the sequence of matching events.
            return self._random[index].random() < fault.probability
        return True


def query_text(query: Any) -> str:
    """Return the text that `query_matches` is searched in.

    A query object `{"input": text, ...variables}` gives its input followed by the
    variables as JSON. Any other value gives its JSON encoding.
    """
    if isinstance(query, dict):
        text = query.get("input")
        rest = {key: value for key, value in query.items() if key != "input"}
        parts = [text if isinstance(text, str) else json.dumps(text)]
        if rest:
            parts.append(json.dumps(rest, sort_keys=True, default=str))
        return "\n".join(parts)
    if isinstance(query, str):
        return query
    return json.dumps(query, sort_keys=True, default=str)


def remove_path(body: dict[str, Any], dotted: str) -> None:
    """Remove the value at `dotted` (e.g. "data.output") from `body` if present."""
    *parents, last = dotted.split(".")
    target: Any = body
    for key in parents:
        if not isinstance(target, dict) or key not in target:
            return
        target = target[key]
    if isinstance(target, dict):
        target.pop(last, None)


def set_path(body: dict[str, Any], dotted: str, value: Any) -> None:
    """Set the value at `dotted` in `body`, creating missing parent objects."""
    *parents, last = dotted.split(".")
    target: Any = body
    for key in parents:
        child = target.get(key) if isinstance(target, dict) else None
        if not isinstance(child, dict):
            child = {}
            target[key] = child
        target = child
    target[last] = value
