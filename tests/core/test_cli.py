"""The aixplain-agents command, run as a user would: real processes, real sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aixplain_agents.sandbox import Sandbox

CLI = [sys.executable, "-m", "aixplain_agents.cli"]


def run_cli(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def sandbox_env(sandbox: Sandbox) -> dict[str, str]:
    return {"AIXPLAIN_BASE_URL": sandbox.base_url, "AIXPLAIN_API_KEY": sandbox.api_key}


@pytest.fixture
def served_sandbox() -> Iterator[str]:
    """Start `aixplain-agents sandbox` as a process and yield the URL it prints."""
    process = subprocess.Popen(
        [*CLI, "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline().strip()
        yield first_line
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def test_cli_sandbox_prints_base_url_then_run_json(served_sandbox: str) -> None:
    assert served_sandbox.startswith("http://127.0.0.1:")
    done = run_cli(
        "run",
        "echo",
        "--query",
        "hi",
        "--json",
        env={"AIXPLAIN_BASE_URL": served_sandbox, "AIXPLAIN_API_KEY": "x"},
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["request_id"].startswith("echo__")
    assert payload["status"] == "SUCCESS"
    assert payload["agent_id"] == "echo"
    assert payload["output"] == "hi"


def test_cli_run_fallback_builds_chain(aixplain_sandbox: Sandbox) -> None:
    done = run_cli(
        "run",
        "triage-primary",
        "--fallback",
        "triage-secondary",
        "--query",
        "The database is down",
        "--json",
        env=sandbox_env(aixplain_sandbox),
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["agent_id"] == "triage-secondary"
    assert payload["fallback_used"] is True


def test_cli_failure_one_line_error(
    aixplain_sandbox: Sandbox,
) -> None:
    done = run_cli(
        "run",
        "triage-primary",
        "--query",
        "database down",
        env=sandbox_env(aixplain_sandbox),
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: remote_failure:")
    assert "agent=triage-primary" in lines[0]
    assert "request_id=triage-primary__" in lines[0]


def test_cli_timeout_caps_server_max_time(aixplain_sandbox_factory: object) -> None:
    sandbox = aixplain_sandbox_factory(  # type: ignore[operator]
        {"agents": {"slow": {"duration": 30}}}
    )
    done = run_cli(
        "run", "slow", "--query", "hi", "--timeout", "1.5", env=sandbox_env(sandbox)
    )
    assert done.returncode == 1
    assert "exceeded its maxTime of 1 s" in done.stderr


def test_cli_timeout_is_overall_deadline(aixplain_sandbox_factory: object) -> None:
    sandbox = aixplain_sandbox_factory(  # type: ignore[operator]
        {"agents": {"slow": {"faults": [{"kind": "never_completes"}]}}}
    )
    done = run_cli(
        "run", "slow", "--query", "hi", "--timeout", "1.5", env=sandbox_env(sandbox)
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: timeout:")
    assert "request_id=slow__" in done.stderr


def test_cli_poll_resumes_without_new_submit(aixplain_sandbox: Sandbox) -> None:
    from aixplain_agents import AgentClient

    with AgentClient(
        api_key=aixplain_sandbox.api_key, base_url=aixplain_sandbox.base_url
    ) as c:
        run = c.submit("echo", "started elsewhere")
    done = run_cli("poll", run.request_id, "--json", env=sandbox_env(aixplain_sandbox))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["request_id"] == run.request_id
    assert aixplain_sandbox.stats()["agents"]["echo"]["runs_accepted"] == 1


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["run", "echo", "--query", "hi"],
            {"AIXPLAIN_API_KEY": ""},
            "API key is empty",
        ),
        (["run", "a/b", "--query", "hi"], {}, "invalid agent id 'a/b'"),
        (
            ["run", "echo", "--query", "hi", "--variables", "[1]"],
            {},
            "--variables must be",
        ),
        (
            ["run", "echo", "--query", "hi", "--variables", "{"],
            {},
            "--variables is not valid",
        ),
        (["run", "echo", "--query", "hi", "--timeout", "0"], {}, "timeout must be > 0"),
        (["run", "echo", "--query", "hi", "--timeout", "inf"], {}, "timeout must be"),
        (["run", "echo", "--query", "hi", "--variables", '{"a": NaN}'], {}, "as JSON"),
        (
            ["run", "echo", "--query", "hi", "--variables", "[" * 20000 + "]" * 20000],
            {},
            "--variables is nested too deeply",
        ),
        (
            ["run", "echo", "--query", "hi", "--expected-output", '{"a": Infinity}'],
            {},
            "expected_output",
        ),
        (["poll", "echo__0123456789ab", "--agent-id", "x/y"], {}, "invalid agent id"),
        (["run", "echo", "--query", "hi"], {"AIXPLAIN_API_KEY": "KÉY"}, "non-ASCII"),
        (["run", "echo", "--query", "hi"], {"AIXPLAIN_BASE_URL": ""}, "set but empty"),
    ],
)
def test_cli_bad_input_exits_2_naming_value(
    aixplain_sandbox: Sandbox, args: list[str], env: dict[str, str], message: str
) -> None:
    done = run_cli(*args, env={**sandbox_env(aixplain_sandbox), **env})
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("port", ["-1", "70000", "abc"])
def test_cli_sandbox_rejects_bad_port(port: str) -> None:
    done = run_cli("sandbox", "--port", port)
    assert done.returncode == 2
    assert "invalid port" in done.stderr


def test_cli_verbose_flag_after_subcommand(aixplain_sandbox: Sandbox) -> None:
    done = run_cli(
        "run", "echo", "--query", "hi", "-v", env=sandbox_env(aixplain_sandbox)
    )
    assert done.returncode == 0, done.stderr


def test_cli_progress_hides_http_request_lines(aixplain_sandbox: Sandbox) -> None:
    done = run_cli(
        "run",
        "echo",
        "--query",
        "hi",
        "--progress",
        "status",
        env=sandbox_env(aixplain_sandbox),
    )
    assert done.returncode == 0, done.stderr
    assert "status=" in done.stderr
    assert "HTTP Request" not in done.stderr


def test_cli_plain_output_names_fallback(aixplain_sandbox: Sandbox) -> None:
    done = run_cli(
        "run",
        "triage-primary",
        "--fallback",
        "triage-secondary",
        "--query",
        "The database is down",
        env=sandbox_env(aixplain_sandbox),
    )
    assert done.returncode == 0, done.stderr
    assert "fallback:   yes (tried triage-primary, triage-secondary)" in done.stdout


def test_cli_interrupt_names_run_in_flight(aixplain_sandbox_factory: object) -> None:
    sandbox = aixplain_sandbox_factory(  # type: ignore[operator]
        {"agents": {"slow": {"duration": 60}}}
    )
    process = subprocess.Popen(
        [*CLI, "run", "slow", "--query", "hi"],
        env={**os.environ, **sandbox_env(sandbox)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not sandbox.stats()["requests"] and time.monotonic() < deadline:
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    request_id = next(iter(sandbox.stats()["requests"]))
    assert process.returncode == 130
    assert f"aixplain-agents poll {request_id}" in stderr


def test_cli_plain_http_remote_host_rejected() -> None:
    done = run_cli(
        "run",
        "echo",
        "--query",
        "hi",
        env={"AIXPLAIN_BASE_URL": "http://api.example.com", "AIXPLAIN_API_KEY": "k"},
    )
    assert done.returncode == 2
    assert "plain http" in done.stderr


def test_cli_sandbox_invalid_scenario_names_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents:\n  a:\n    duration: -1\n")
    done = run_cli("sandbox", "--scenario", str(bad))
    assert done.returncode == 2
    assert "agents.a.duration" in done.stderr
