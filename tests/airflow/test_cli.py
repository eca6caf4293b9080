"""The provider as the `airflow providers` commands show it."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("list", "airflow-provider-aixplain"),
        ("behaviours", "aixplain"),
        ("links", "aixplain_provider.links.aixplain.AixplainRunLink"),
        ("triggers", "aixplain_provider.triggers.aixplain"),
        ("hooks", "aixplain"),
    ],
)
def test_providers_command_lists_ours(command, expected, airflow_db):
    completed = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", command, "--output", "plain"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-2000:]
    assert expected in completed.stdout.split()
