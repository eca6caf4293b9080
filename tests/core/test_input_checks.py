"""Bad input fails early with ConfigurationError that names the value and the fix."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from aixplain_agents import (
    AgentClient,
    ConfigurationError,
    ConnectionSettings,
    build_request,
)


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("HTTP://10.9.9.9:1", "plain http on a non-loopback host"),
        ("Http://api.example.com", "plain http on a non-loopback host"),
        ("http://127.0.0.1:99999", "invalid port"),
        ("http://127.0.0.1:abc", "invalid port"),
        ("ftp://api.example.com", "not an absolute http(s) URL"),
        ("api.example.com", "not an absolute http(s) URL"),
    ],
)
def test_settings_reject_base_url_table(base_url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        ConnectionSettings.from_env(api_key="k", base_url=base_url)


def test_settings_lowercase_scheme_kept_https() -> None:
    settings = ConnectionSettings.from_env(api_key="k", base_url="HTTPS://api.example")
    assert settings.base_url == "https://api.example"


def test_settings_error_hides_url_password() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ConnectionSettings.from_env(api_key="k", base_url="http://user:pa55word@h:1")
    assert "pa55word" not in str(caught.value)
    assert "user:***@" in str(caught.value)


def test_settings_message_has_no_pydantic_prefix() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ConnectionSettings.from_env(api_key=" ", base_url="https://api.example")
    assert "Value error" not in str(caught.value)
    assert "API key is empty" in str(caught.value)


def test_settings_reject_non_ascii_key() -> None:
    with pytest.raises(ConfigurationError, match="non-ASCII"):
        ConnectionSettings.from_env(api_key="SECRETKÉY", base_url="https://a.example")


def test_settings_reject_empty_base_url_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIXPLAIN_BASE_URL", "")
    with pytest.raises(ConfigurationError, match="AIXPLAIN_BASE_URL is set but empty"):
        ConnectionSettings.from_env(api_key="k")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"variables": {"a": math.nan}}, "variables cannot be sent as JSON"),
        ({"variables": {"a": math.inf}}, "variables cannot be sent as JSON"),
        ({"variables": {"a": object()}}, "variables cannot be sent as JSON"),
        ({"history": [{"x": math.nan}]}, "history cannot be sent as JSON"),
        ({"expected_output": {"a": math.inf}}, "expected_output"),
        ({"expected_output": {"a": 5}}, "expected_output.a: expected a type name"),
        ({"expected_output": {"a": None}}, "expected_output.a: expected a type name"),
        ({"expected_output": {}}, "expected_output is an empty object"),
        ({"expected_output": {"": "string"}}, "empty field name"),
        (
            {"expected_output": {"a": ["string", "int"]}},
            "must contain exactly one item spec",
        ),
        (
            {"expected_output": {"a": "string"}, "output_format": "text"},
            "expected_output needs output_format='json'",
        ),
        ({"surprise": 1}, "unknown run option"),
    ],
)
def test_build_request_rejects_table(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build_request("hi", **fields)


def test_build_request_rejects_deep_nesting() -> None:
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ConfigurationError, match="nested too deeply"):
        build_request("hi", variables={"a": deep})


@pytest.mark.parametrize("query", [5, None, "", "   ", ["a"]])
def test_build_request_rejects_bad_query(query: Any) -> None:
    with pytest.raises(ConfigurationError, match="query"):
        build_request(query)


def test_expected_output_implies_json_format() -> None:
    request = build_request("hi", expected_output={"risk": "low|high"})
    assert request.execution_params.output_format == "json"


@pytest.mark.parametrize("timeout", [math.inf, math.nan, -1, 0, 1e9, True, "5"])
def test_run_rejects_bad_timeout_before_sending(timeout: Any) -> None:
    # Port 9 has no listener: a request that went out would fail differently.
    with (
        AgentClient(api_key="k", base_url="http://127.0.0.1:9") as client,
        pytest.raises(ConfigurationError, match="timeout must be"),
    ):
        client.run("echo", "hi", timeout=timeout)


def test_long_agent_id_error_is_bounded() -> None:
    with (
        AgentClient(api_key="k", base_url="http://127.0.0.1:9") as client,
        pytest.raises(ConfigurationError) as caught,
    ):
        client.run("x/" * 3000, "hi")
    assert len(str(caught.value)) < 400
    assert "6000 characters" in str(caught.value)


def test_resume_rejects_unsafe_agent_id() -> None:
    with (
        AgentClient(api_key="k", base_url="http://127.0.0.1:9") as client,
        pytest.raises(ConfigurationError, match="invalid agent id 'x/y'"),
    ):
        client.resume("echo__0123456789ab", agent_id="x/y")
