"""AixplainHook: settings from a connection, and test_connection against the sandbox."""

from __future__ import annotations

import pytest
from airflow.sdk import Connection

from aixplain_agents import ConfigurationError
from aixplain_provider.hooks.aixplain import AixplainHook, settings_from_connection


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("https://api.example.com", None, "https://api.example.com"),
        ("api.example.com", None, "https://api.example.com"),
        ("http://127.0.0.1", 8080, "http://127.0.0.1:8080"),
        ("http://127.0.0.1:9000/", None, "http://127.0.0.1:9000"),
    ],
)
def test_settings_base_url_from_host(host, port, expected):
    connection = Connection(
        conn_id="c", conn_type="aixplain", host=host, port=port, password="k-123"
    )

    assert settings_from_connection(connection).base_url == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": "https://api.example.com"}, "no API key"),
        ({"password": "k-123"}, "no host"),
        ({"host": "http://10.1.2.3", "password": "k-123"}, "plain http"),
    ],
    ids=["no-key", "no-host", "remote-http"],
)
def test_settings_invalid_connection_raises(fields, message):
    connection = Connection(conn_id="c", conn_type="aixplain", **fields)

    with pytest.raises(ConfigurationError, match=message):
        settings_from_connection(connection)


def test_settings_error_omits_key():
    connection = Connection(
        conn_id="c", conn_type="aixplain", host="ftp://x", password="sk-secret-42"
    )

    with pytest.raises(ConfigurationError) as caught:
        settings_from_connection(connection)

    assert "sk-secret-42" not in str(caught.value)


def test_hook_test_connection_accepts_key(aixplain_sandbox, aixplain_connection):
    aixplain_connection(aixplain_sandbox)

    ok, message = AixplainHook().test_connection()

    assert ok, message


def test_hook_test_connection_rejects_wrong_key(
    aixplain_sandbox_factory, aixplain_connection
):
    sandbox = aixplain_sandbox_factory({"api_keys": ["right"], "agents": {"echo": {}}})
    aixplain_connection(sandbox, password="wrong")

    ok, message = AixplainHook().test_connection()

    assert not ok
    assert "authentication" in message
