"""The ``aixplain-agents`` command: serve the sandbox, run an agent, poll a run."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from aixplain_agents._client import AgentClient
from aixplain_agents._exceptions import AixplainError, ConfigurationError, shorten
from aixplain_agents._models import AgentRunResult, SubmittedRun

EXIT_FAILURE = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    # -v is accepted before and after the subcommand.
    verbosity = argparse.ArgumentParser(add_help=False)
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="log retries (-v), then polls and HTTP requests (-vv)",
    )
    parser = argparse.ArgumentParser(
        prog="aixplain-agents",
        description="Run aiXplain agents, or serve a local sandbox of their API.",
        parents=[verbosity],
    )
    commands = parser.add_subparsers(dest="command", required=True)

    sandbox = commands.add_parser(
        "sandbox", help="serve the local sandbox", parents=[verbosity]
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="address to bind")
    sandbox.add_argument(
        "--port", type=_port, default=0, help="port to bind, 0 to 65535 (0: a free one)"
    )
    sandbox.add_argument("--scenario", help="scenario file (YAML or JSON)")

    run = commands.add_parser(
        "run", help="run an agent to a terminal state", parents=[verbosity]
    )
    run.add_argument("agent_id", metavar="AGENT_ID")
    run.add_argument("--query", required=True, help="text the agent works on")
    run.add_argument("--variables", help="JSON object merged into the query")
    run.add_argument(
        "--fallback",
        action="append",
        default=[],
        metavar="AGENT_ID",
        help="agent tried next when the previous one fails (repeatable, in order)",
    )
    run.add_argument("--output-format", choices=["text", "markdown", "json"])
    run.add_argument(
        "--expected-output",
        help='JSON object of field types, e.g. \'{"risk": "low|high"}\' '
        "(implies --output-format json)",
    )
    run.add_argument(
        "--allow-duplicate-submit",
        action="store_true",
        help="resend a run request whose fate is unknown (may start a second run)",
    )
    _add_common(run)

    poll = commands.add_parser(
        "poll", help="poll an existing run to a terminal state", parents=[verbosity]
    )
    poll.add_argument("request_id", metavar="REQUEST_ID")
    poll.add_argument("--agent-id", help="agent of the run, for messages")
    _add_common(poll)
    return parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="overall deadline in seconds"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--progress",
        choices=["off", "status", "logs"],
        default="off",
        help="progress lines",
    )
    parser.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="accept a plain http base URL on a non-loopback host",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 on success)."""
    args = _parser().parse_args(argv)
    verbose = getattr(args, "verbose", 0)
    level = {0: logging.ERROR, 1: logging.WARNING}.get(verbose, logging.DEBUG)
    if args.command != "sandbox" and getattr(args, "progress", "off") != "off":
        level = min(level, logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbose < 2:
        # httpx logs every request at INFO, which would drown the progress lines.
        logging.getLogger("httpx").setLevel(logging.WARNING)

    try:
        if args.command == "sandbox":
            return _serve_sandbox(args)
        return _run_or_poll(args)
    except AixplainError as error:
        print(f"error: {error.one_line()}", file=sys.stderr)
        return EXIT_USAGE if isinstance(error, ConfigurationError) else EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


def _serve_sandbox(args: argparse.Namespace) -> int:
    try:
        from aixplain_agents.sandbox import ScenarioError, serve
    except ImportError as exc:
        print(
            f"error: the sandbox needs its extra dependencies ({exc.name} is missing); "
            "install aixplain-agents-core[sandbox]",
            file=sys.stderr,
        )
        return EXIT_USAGE

    def announce(base_url: str) -> None:
        print(base_url, flush=True)

    try:
        serve(host=args.host, port=args.port, scenario=args.scenario, ready=announce)
    except ScenarioError as exc:
        print(f"error: invalid scenario: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def _run_or_poll(args: argparse.Namespace) -> int:
    in_flight: list[SubmittedRun] = []
    try:
        with AgentClient(allow_insecure_http=args.allow_insecure_http) as client:
            result = _call(client, args, in_flight.append)
    except KeyboardInterrupt:
        if in_flight:
            run = in_flight[-1]
            print(
                f"interrupted: run {run.request_id} of agent {run.agent_id} goes on "
                "on the service; resume it with: "
                f"aixplain-agents poll {run.request_id}",
                file=sys.stderr,
            )
        raise
    _print_result(result, as_json=args.json)
    return 0


def _call(
    client: AgentClient,
    args: argparse.Namespace,
    on_submit: Callable[[SubmittedRun], Any],
) -> AgentRunResult:
    if args.command == "run":
        fields: dict[str, Any] = {
            "variables": _json_arg(args.variables, "--variables"),
            "output_format": args.output_format,
            "expected_output": _json_arg(args.expected_output, "--expected-output"),
        }
        return client.run(
            args.agent_id,
            args.query,
            fallbacks=args.fallback,
            timeout=args.timeout,
            progress=args.progress,
            on_submit=on_submit,
            allow_duplicate_submit=args.allow_duplicate_submit,
            **{name: value for name, value in fields.items() if value is not None},
        )
    return client.resume(
        args.request_id,
        agent_id=args.agent_id,
        timeout=args.timeout,
        progress=args.progress,
    )


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid port {value!r}: not a number"
        ) from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {port}: use 0 to 65535")
    return port


def _json_arg(value: str | None, option: str) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{option} is not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise ConfigurationError(f"{option} is nested too deeply") from None
    if not isinstance(parsed, dict):
        raise ConfigurationError(
            f"{option} must be a JSON object, got {shorten(value)!r}"
        )
    return parsed


def _print_result(result: AgentRunResult, *, as_json: bool) -> None:
    if as_json:
        payload = {"output": result.output, **result.metadata()}
        print(json.dumps(payload, default=str))
        return
    print(f"request_id: {result.request_id}")
    print(f"agent_id:   {result.agent_id}")
    print(f"status:     {result.status}")
    if result.fallback_used:
        tried = ", ".join(attempt.agent_id for attempt in result.attempts)
        print(f"fallback:   yes (tried {tried})")
    output = result.output
    print(output if isinstance(output, str) else json.dumps(output, indent=2))


if __name__ == "__main__":
    sys.exit(main())
