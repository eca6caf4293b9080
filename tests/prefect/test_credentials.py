"""The credentials block: settings, clients, validation and registration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL

from aixplain_agents import AgentClient, AsyncAgentClient, ConfigurationError
from prefect_aixplain import AixplainCredentials


def test_block_builds_settings() -> None:
    block = AixplainCredentials(
        api_key="k-123456", base_url="http://127.0.0.1:9/", request_timeout=5
    )
    settings = block.get_settings()

    assert settings.base_url == "http://127.0.0.1:9"
    assert settings.request_timeout == 5
    assert settings.api_key.get_secret_value() == "k-123456"


def test_block_returns_both_clients() -> None:
    block = AixplainCredentials(api_key="k-123456", base_url="http://127.0.0.1:9")

    with block.get_client() as client:
        assert isinstance(client, AgentClient)
    assert isinstance(block.get_async_client(), AsyncAgentClient)


@pytest.mark.parametrize(
    "base_url",
    [
        pytest.param("http://example.com", id="plain-http-remote"),
        pytest.param("ftp://127.0.0.1", id="not-http"),
        pytest.param("https://user:pw@example.com", id="credentials-in-url"),
    ],
)
def test_block_invalid_base_url_raises(base_url: str) -> None:
    block = AixplainCredentials(api_key="k-123456", base_url=base_url)

    with pytest.raises(ConfigurationError):
        block.get_settings()


def test_block_fields_are_titled() -> None:
    schema = AixplainCredentials.model_json_schema()

    for name in ("api_key", "base_url", "request_timeout"):
        assert schema["properties"][name].get("title")
        assert schema["properties"][name].get("description")


def test_block_save_and_load_keeps_key() -> None:
    AixplainCredentials(api_key="k-roundtrip", base_url="http://127.0.0.1:9").save(
        "roundtrip", overwrite=True
    )

    loaded = AixplainCredentials.load("roundtrip")

    assert loaded.api_key.get_secret_value() == "k-roundtrip"


def test_block_register_cli_finds_block(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_HOME": str(tmp_path),
    }
    prefect = Path(sys.executable).with_name("prefect")

    completed = subprocess.run(
        [str(prefect), "block", "register", "-m", "prefect_aixplain"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    with get_client(sync_client=True) as client:
        block_type = client.read_block_type_by_slug("aixplain-credentials")

    assert completed.returncode == 0, completed.stderr
    assert block_type.name == "aiXplain Credentials"


def test_collections_entry_point_names_package() -> None:
    from importlib.metadata import entry_points

    names = {ep.value for ep in entry_points(group="prefect.collections")}

    assert "prefect_aixplain" in names
