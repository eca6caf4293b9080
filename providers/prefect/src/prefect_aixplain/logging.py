"""Run-log plumbing: redact the API key and forward the core's log lines to Prefect.

Prefect redacts only its own API key from logs, so :func:`redact_secret` installs a
filter that replaces every registered aiXplain key with asterisks on the Prefect
run loggers and their handlers, including the handler that sends logs to the API.
"""

from __future__ import annotations

import logging
import threading

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

CORE_LOGGER = "aixplain_agents"
_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs", "prefect")
_MASK = "**********"
_lock = threading.Lock()


class SecretRedactingFilter(logging.Filter):
    """Replaces registered secrets in a record's formatted message with asterisks."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, secret: str) -> None:
        """Redact ``secret`` from every record that passes this filter from now on."""
        if secret:
            self._secrets.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self._secrets:
            redacted = redacted.replace(secret, _MASK)
        if redacted != message:
            record.msg, record.args = redacted, None
        # NOTE: the traceback text of record.exc_info is not redacted; the core
        # never puts the key into an exception message.
        return True


class RunLoggerForwarder(logging.Handler):
    """Sends records of the core's loggers to the current Prefect run logger.

    The run logger is looked up when each record is emitted, so concurrent tasks in
    one event loop each get their own lines. Outside a flow or task run the record
    goes to the root logger's handlers, as it would by propagation.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            run_logger = get_run_logger()
        except MissingContextError:
            logging.getLogger().handle(record)
            return
        # The run loggers carry the redacting filter, so the key is masked there.
        run_logger.log(record.levelno, "%s", record.getMessage())


_REDACTOR = SecretRedactingFilter()
_FORWARDER = RunLoggerForwarder()
_installed = False


def redact_secret(secret: str) -> None:
    """Redact ``secret`` from Prefect run logs and from forwarded core log lines."""
    install_log_routing()
    _REDACTOR.add(secret)


def install_log_routing() -> None:
    """Install the redacting filter and the core-to-run-logger forwarder, once.

    When the core logger is unconfigured (no level, no handlers), it is set to
    INFO and stops propagating, so submits, retries, fallbacks and terminal states
    reach the run log once, while poll lines (DEBUG unless progress is on) do not.
    A core logger configured by the application keeps its level and propagation.
    """
    global _installed
    with _lock:
        if _installed:
            return
        for name in _RUN_LOGGERS:
            logger = logging.getLogger(name)
            logger.addFilter(_REDACTOR)
            for handler in logger.handlers:
                handler.addFilter(_REDACTOR)

        core = logging.getLogger(CORE_LOGGER)
        if core.level == logging.NOTSET and not core.handlers:
            core.setLevel(logging.INFO)
            core.propagate = False
        core.addHandler(_FORWARDER)
        _installed = True
