"""Progress lines for a run, emitted through ``logging`` so orchestrators show them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

ProgressMode = Literal["off", "status", "logs"]
_TRUNCATE_AT = 120


@dataclass(frozen=True)
class ProgressOptions:
    """How much of a run's progress to log.

    ``mode``: "off" (only retries, fallbacks and the end at INFO), "status" (one line
    per state change) or "logs" (one line per new step). ``verbosity``: 1 step lines,
    2 adds task, action and thought, 3 adds input, output and error. Long values are
    cut to 120 characters unless ``truncate`` is False.
    """

    mode: ProgressMode = "off"
    verbosity: int = 1
    truncate: bool = True
    #: Where progress lines go; None means the engine's own logger.
    logger: logging.Logger | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("off", "status", "logs"):
            raise ValueError(
                f"progress mode {self.mode!r} is invalid; use 'off', 'status' or 'logs'"
            )
        if self.verbosity not in (1, 2, 3):
            raise ValueError(
                f"progress verbosity must be 1, 2 or 3, got {self.verbosity}"
            )


class ProgressReporter:
    """Turns successive poll states of one run into log lines."""

    def __init__(
        self,
        options: ProgressOptions,
        logger: logging.Logger,
        agent_id: str,
        request_id: str,
    ) -> None:
        self._options = options
        self._logger = logger
        self._prefix = f"agent={agent_id} request_id={request_id}"
        self._steps_seen = 0
        self._last_status: str | None = None

    def on_poll(self, status: str, steps: list[Any]) -> None:
        """Log what changed since the previous poll."""
        mode = self._options.mode
        if mode == "status" and status != self._last_status:
            self._logger.info("%s status=%s steps=%d", self._prefix, status, len(steps))
        elif mode == "logs":
            for index in range(self._steps_seen, len(steps)):
                self._logger.info(
                    "%s %s", self._prefix, self._describe(index, steps[index])
                )
        else:
            self._logger.debug(
                "%s status=%s steps=%d", self._prefix, status, len(steps)
            )
        self._last_status = status
        self._steps_seen = max(self._steps_seen, len(steps))

    def _describe(self, index: int, step: Any) -> str:
        if not isinstance(step, dict):
            return f"step {index + 1}: {self._cut(str(step))}"
        unit: dict[str, Any] = (
            step["unit"] if isinstance(step.get("unit"), dict) else {}
        )
        unit_name = unit.get("name") or unit.get("id") or "?"
        parts = [f"step {index + 1}: {unit.get('type', 'unit')} {unit_name}"]
        verbosity = self._options.verbosity
        if verbosity >= 2:
            parts += self._fields(step, ("task", "action", "thought", "reason"))
        if verbosity >= 3:
            parts += self._fields(step, ("input", "output", "error", "error_message"))
        return " | ".join(parts)

    def _fields(self, step: dict[str, Any], names: tuple[str, ...]) -> list[str]:
        return [
            f"{name}={self._cut(str(step[name]))}" for name in names if step.get(name)
        ]

    def _cut(self, text: str) -> str:
        text = " ".join(text.split())
        if self._options.truncate and len(text) > _TRUNCATE_AT:
            return text[: _TRUNCATE_AT - 3] + "..."
        return text
