"""The credentials block: where the aiXplain service is and the key that opens it."""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, field_validator

from aixplain_agents import (
    DEFAULT_BASE_URL,
    AgentClient,
    AsyncAgentClient,
    ConnectionSettings,
)
from prefect_aixplain.logging import redact_secret


class AixplainCredentials(Block):
    """The API key and base URL used to run aiXplain agents.

    Save the block once, then pass its *name* to flows and load it inside them. A
    block passed as a flow parameter is stored with the key masked, so a deployment
    run would receive ``'**********'`` instead of the key.

    Examples:
        Save the block, then run an agent with a client it builds:

        ```python
        from prefect_aixplain import AixplainCredentials

        AixplainCredentials(api_key="...").save("aixplain", overwrite=True)

        credentials = AixplainCredentials.load("aixplain")
        with credentials.get_client() as client:
            result = client.run("echo", "hello")
        print(result.request_id)
        ```
    """

    _block_type_name = "aiXplain Credentials"
    _block_type_slug = "aixplain-credentials"
    _description = "API key and base URL of the aiXplain agent service."
    _documentation_url = "https://docs.aixplain.com/"  # type: ignore[assignment]

    api_key: SecretStr = Field(
        default=...,
        title="API key",
        description="The aiXplain API key, sent in the x-api-key header.",
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        title="Base URL",
        description=(
            "Origin of the aiXplain API. Plain http is accepted only for loopback "
            "hosts such as a local sandbox."
        ),
    )
    request_timeout: float = Field(
        default=30.0,
        gt=0,
        title="Request timeout",
        description="Timeout of one HTTP request to the service, in seconds.",
    )

    @field_validator("api_key")
    @classmethod
    def _redact_key_in_run_logs(cls, value: SecretStr) -> SecretStr:
        # Registered as soon as a block exists, so that a flow which logs the key
        # before its first agent run is redacted too. A masked placeholder loaded
        # from a flow parameter is not a key and is skipped.
        secret = value.get_secret_value()
        if secret.strip("*"):
            redact_secret(secret)
        return value

    def get_settings(self) -> ConnectionSettings:
        """Return the core connection settings.

        Raises:
            ConfigurationError: the key or the base URL is invalid.
        """
        return ConnectionSettings.from_env(
            api_key=self.api_key,
            base_url=self.base_url,
            request_timeout=self.request_timeout,
        )

    def get_client(self, **options: Any) -> AgentClient:
        """Return a blocking client; close it, or use it as a context manager.

        Args:
            **options: passed to :class:`aixplain_agents.AgentClient`, for example
                ``poll_schedule`` or ``retry_policy``.
        """
        return AgentClient(settings=self.get_settings(), **options)

    def get_async_client(self, **options: Any) -> AsyncAgentClient:
        """Return an asyncio client; one client can serve many concurrent runs.

        Args:
            **options: passed to :class:`aixplain_agents.AsyncAgentClient`.
        """
        return AsyncAgentClient(settings=self.get_settings(), **options)
