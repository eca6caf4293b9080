"""Start a sandbox and point the official aiXplain SDK at it, with no outbound calls."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from aixplain_agents.sandbox import Sandbox

API_KEY = "conformance-key"

SCENARIO: dict[str, Any] = {
    "api_keys": [API_KEY],
    "agents": {
        "echo": {
            "duration": 0.2,
            "steps": 2,
            "output": {"kind": "template", "template": "Echo: {query}"},
            "credits": 0.003,
        },
        "triage": {
            "output_format": "json",
            "expected_output": {
                "summary": "string",
                "risk": "low|medium|high",
                "recommendedActions": ["string"],
            },
            "duration": 0.2,
            "output": {"kind": "json"},
            "credits": 0.004,
        },
        "failing": {
            "duration": 0.1,
            "faults": [
                {
                    "kind": "terminal",
                    "status": "FAILED",
                    "message": "context window exceeded",
                    "supplier_error": "prompt is 140000 tokens, limit 128000",
                }
            ],
        },
    },
}


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SCENARIO) as running:
        yield running


@pytest.fixture(scope="session")
def aix(sandbox: Sandbox) -> Any:
    """An `Aixplain` client of the official SDK, configured for the sandbox."""
    # The SDK reads these at import and at construction, so set them first.
    os.environ["BACKEND_URL"] = sandbox.base_url
    os.environ["TEAM_API_KEY"] = API_KEY
    os.environ.pop("AIXPLAIN_API_KEY", None)
    os.environ["AIXPLAIN_ALLOW_INSECURE_URLS"] = "1"
    # Anything not sent to the sandbox goes to a closed local port and fails.
    os.environ["HTTPS_PROXY"] = os.environ["HTTP_PROXY"] = "http://127.0.0.1:9"
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"

    from aixplain.utils import user_info_utils

    # The SDK requests https://ipinfo.io/json on its first run. Return nothing instead.
    user_info_utils._fetch_ipinfo.cache_clear()
    user_info_utils._fetch_ipinfo = lambda: {}

    from aixplain import Aixplain

    return Aixplain(api_key=API_KEY, backend_url=sandbox.base_url)
