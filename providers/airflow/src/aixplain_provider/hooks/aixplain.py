"""Hook that turns an ``aixplain`` Airflow connection into aiXplain agent clients."""

from __future__ import annotations

import math
from typing import Any

from airflow.sdk import BaseHook, Connection
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

from aixplain_agents import (
    AgentClient,
    AixplainError,
    AsyncAgentClient,
    ConfigurationError,
    ConnectionSettings,
    RetryPolicy,
)

DEFAULT_CONN_ID = "aixplain_default"


class AixplainHook(BaseHook):
    """Build aiXplain agent clients from an Airflow connection.

    The connection stores the base URL in ``host`` (for example
    ``https://platform-api.aixplain.com``) and the API key in ``password``, which
    Airflow masks in task logs. Optional extras: ``request_timeout`` (seconds per HTTP
    request), ``allow_insecure_http`` (send the key over plain http to a non-loopback
    host) and ``retry_max_delay`` (seconds, the longest backoff between poll retries).

    :param aixplain_conn_id: id of the connection of type ``aixplain``.
    """

    conn_name_attr = "aixplain_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "aixplain"
    hook_name = "aiXplain"

    def __init__(self, aixplain_conn_id: str = DEFAULT_CONN_ID) -> None:
        super().__init__()
        self.aixplain_conn_id = aixplain_conn_id

    def get_settings(self) -> ConnectionSettings:
        """Return the connection's base URL and key as validated core settings."""
        return settings_from_connection(self.get_connection(self.aixplain_conn_id))

    async def aget_settings(self) -> ConnectionSettings:
        """Return the settings through the async connection lookup, for triggers."""
        connection = await self.aget_connection(self.aixplain_conn_id)
        return settings_from_connection(connection)

    def get_conn(self) -> AgentClient:
        """Return a blocking client; the caller closes it (it is a context manager)."""
        return self.get_client()

    def get_client(self) -> AgentClient:
        """Return a blocking :class:`AgentClient` for this connection.

        A missing or invalid connection raises ``AirflowFailException``, because a
        retry would read the same connection again.
        """
        try:
            connection = self.get_connection(self.aixplain_conn_id)
            settings = settings_from_connection(connection)
            retry_policy = retry_policy_from_connection(connection)
        except AirflowNotFoundException:
            raise AirflowFailException(
                f"connection {self.aixplain_conn_id!r} is not defined; create it "
                "(type aixplain) or set aixplain_conn_id; not retried"
            ) from None
        except ConfigurationError as exc:
            raise AirflowFailException(f"{exc.message}; not retried") from None
        return AgentClient(settings=settings, retry_policy=retry_policy)

    async def get_async_client(self) -> AsyncAgentClient:
        """Return the event loop's shared :class:`AsyncAgentClient` for this connection.

        Every trigger of a triggerer that uses the same connection shares one
        connection pool. The connection lookup does not block the loop, and
        ``async with`` on the client leaves the shared pool open.
        """
        try:
            connection = await self.aget_connection(self.aixplain_conn_id)
        except AirflowNotFoundException:
            raise ConfigurationError(
                f"connection {self.aixplain_conn_id!r} is not defined; create it "
                "(type aixplain) or set aixplain_conn_id"
            ) from None
        return AsyncAgentClient.shared(
            settings_from_connection(connection),
            retry_policy=retry_policy_from_connection(connection),
        )

    def test_connection(self) -> tuple[bool, str]:
        """Check the key with one cheap authenticated call to the service."""
        try:
            with self.get_client() as client:
                client.get_agent(TEST_AGENT_ID)
        except AixplainError as exc:
            if getattr(exc, "status_code", None) == 404:
                # The key was accepted; only the probe agent does not exist.
                return True, "Connection successfully tested"
            return False, exc.one_line()
        except AirflowFailException as exc:
            return False, str(exc)
        return True, "Connection successfully tested"


# A probe agent id for test_connection: a 404 still proves that the key was accepted.
# NOTE: checked against the sandbox only, which checks the key before the agent id.
TEST_AGENT_ID = "connection-test"


def base_url_from_connection(connection: Connection) -> str:
    """Return the base URL of a connection: ``host`` with its scheme, plus ``port``."""
    host = (connection.host or "").strip()
    if not host:
        raise ConfigurationError(
            f"connection {connection.conn_id!r} has no host; set it to the aiXplain "
            "base URL, for example https://platform-api.aixplain.com"
        )
    if "://" not in host:
        host = f"https://{host}"
    if connection.port and host.count(":") < 2:
        host = f"{host.rstrip('/')}:{connection.port}"
    return host


def settings_from_connection(connection: Connection) -> ConnectionSettings:
    """Validate a connection into core settings; never puts the key in a message."""
    if not connection.password:
        raise ConfigurationError(
            f"connection {connection.conn_id!r} has no API key; put it in the "
            "password field"
        )
    extra = connection.extra_dejson
    options: dict[str, Any] = {}
    if "request_timeout" in extra:
        options["request_timeout"] = _extra_seconds(connection, "request_timeout")
    if "allow_insecure_http" in extra:
        options["allow_insecure_http"] = _as_bool(extra["allow_insecure_http"])
    # from_env only reads the environment for arguments that are None.
    return ConnectionSettings.from_env(
        api_key=connection.password,
        base_url=base_url_from_connection(connection),
        **options,
    )


def retry_policy_from_connection(connection: Connection) -> RetryPolicy:
    """Return the retry policy, with ``retry_max_delay`` from the extras if set."""
    extra = connection.extra_dejson
    if "retry_max_delay" not in extra:
        return RetryPolicy()
    max_delay = _extra_seconds(connection, "retry_max_delay")
    base_delay = min(RetryPolicy.base_delay, max_delay)
    return RetryPolicy(base_delay=base_delay, max_delay=max_delay)


def _extra_seconds(connection: Connection, name: str) -> float:
    """Return the extra ``name`` as a positive, finite number of seconds."""
    value = connection.extra_dejson[name]
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not (math.isfinite(seconds) and seconds > 0):
        raise ConfigurationError(
            f"connection {connection.conn_id!r}: extra {name} must be a number of "
            f"seconds > 0, got {value!r}"
        )
    return seconds


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
