"""Connection settings: where the service is and the key that opens it."""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from aixplain_agents._exceptions import ConfigurationError

DEFAULT_BASE_URL = "https://platform-api.aixplain.com"
API_KEY_ENV = "AIXPLAIN_API_KEY"
BASE_URL_ENV = "AIXPLAIN_BASE_URL"


def is_loopback_host(host: str) -> bool:
    """Return whether ``host`` names this machine (``localhost`` or a loopback IP)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> tuple[str, str, int]:
    """Return (scheme, host, port) of an absolute URL, filling in the default port."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


class ConnectionSettings(BaseModel):
    """The base URL of the aiXplain service and the API key sent to it.

    The key is a ``SecretStr``: it shows as ``'**********'`` in reprs and dumps, and is
    sent only to the origin of ``base_url``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr
    base_url: str = DEFAULT_BASE_URL
    allow_insecure_http: bool = False
    request_timeout: float = 30.0

    @field_validator("api_key")
    @classmethod
    def _check_api_key(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if not secret.strip():
            raise ValueError(
                f"the API key is empty: set {API_KEY_ENV} or pass api_key="
            )
        if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in secret):
            raise ValueError(
                "the API key contains whitespace or control characters; "
                "copy it again without surrounding spaces or newlines"
            )
        if not secret.isascii():
            raise ValueError(
                "the API key contains non-ASCII characters, which an HTTP header "
                "cannot carry; copy the key again from the aiXplain console"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        text = value.strip()
        parts = urlsplit(text)
        safe_url = _without_password(text)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"base URL {safe_url!r} is not an absolute http(s) URL; "
                f"use e.g. {DEFAULT_BASE_URL!r}"
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(
                f"base URL {safe_url!r} must not contain credentials, a query or a "
                "fragment; give only scheme, host, port and path"
            )
        try:
            parts.port  # noqa: B018 - raises ValueError for an invalid port
        except ValueError as exc:
            raise ValueError(
                f"base URL {safe_url!r} has an invalid port: {exc}"
            ) from None
        # Lower-case the scheme, so "HTTP://" gets the same plain-http check below.
        return (scheme + text[len(parts.scheme) :]).rstrip("/")

    @field_validator("request_timeout")
    @classmethod
    def _check_request_timeout(cls, value: float) -> float:
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(
                f"request_timeout must be a finite number > 0, got {value}"
            )
        return value

    def model_post_init(self, context: Any, /) -> None:
        host = urlsplit(self.base_url).hostname or ""
        insecure = self.base_url.startswith("http://")
        if insecure and not is_loopback_host(host) and not self.allow_insecure_http:
            raise ConfigurationError(
                f"base URL {self.base_url!r} uses plain http on a non-loopback host, "
                "which would send the API key unencrypted; use https, or allow it "
                "explicitly (allow_insecure_http=True, or --allow-insecure-http in "
                "the CLI) if the network is trusted"
            )

    @property
    def origin(self) -> tuple[str, str, int]:
        """(scheme, host, port) of the base URL: the only origin that gets the key."""
        return origin_of(self.base_url)

    @classmethod
    def from_env(
        cls,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        **options: Any,
    ) -> ConnectionSettings:
        """Build settings from explicit arguments, falling back to the environment.

        Reads ``AIXPLAIN_API_KEY`` and ``AIXPLAIN_BASE_URL`` for arguments left as
        ``None``. Raises :class:`ConfigurationError` naming a missing or invalid value.
        """
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        if key is None:
            raise ConfigurationError(
                f"no API key: set the {API_KEY_ENV} environment variable or pass "
                "api_key="
            )
        url = base_url if base_url is not None else os.environ.get(BASE_URL_ENV)
        if url is not None and not url.strip():
            # An empty variable is usually a script bug; falling back to the
            # production URL would send the key somewhere the user did not mean.
            raise ConfigurationError(
                f"{BASE_URL_ENV} is set but empty; set it to the service URL, or unset "
                f"it to use {DEFAULT_BASE_URL}"
            )
        return build_settings(api_key=key, base_url=url or DEFAULT_BASE_URL, **options)


def build_settings(**fields: Any) -> ConnectionSettings:
    """Validate ``fields`` into settings; pydantic errors become ConfigurationError."""
    try:
        return ConnectionSettings(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            validation_message(err) for err in exc.errors(include_input=False)
        )
        raise ConfigurationError(f"invalid connection settings: {problems}") from None


def validation_message(error: Mapping[str, Any]) -> str:
    """Return one pydantic error as ``field: message``, without pydantic's prefixes."""
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _without_password(url: str) -> str:
    """Return ``url`` with any password in it replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
