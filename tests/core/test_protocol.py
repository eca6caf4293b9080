"""Wire-format functions: payloads, URLs and strict response interpretation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from aixplain_agents import ConfigurationError, ExecutionParams, RunRequest
from aixplain_agents import _protocol as wire


def test_payload_merges_variables_into_query() -> None:
    request = RunRequest(query="hi", variables={"persona": "pirate"})
    payload = wire.build_run_payload("agent-1", request, max_time=60)
    assert payload["query"] == {"input": "hi", "persona": "pirate"}


def test_payload_sends_dict_query_as_given() -> None:
    request = RunRequest(query={"input": "x", "lang": "en"})
    payload = wire.build_run_payload("agent-1", request, max_time=None)
    assert payload["query"] == {"input": "x", "lang": "en"}
    assert "maxTime" not in payload["executionParams"]


def test_payload_execution_params_in_camel_case() -> None:
    params = ExecutionParams(
        output_format="json",
        expected_output={"answer": "string"},
        max_tokens=512,
        max_iterations=4,
    )
    request = RunRequest(query="hi", execution_params=params)
    execution = wire.build_run_payload("a", request, max_time=5)["executionParams"]
    assert execution["outputFormat"] == "json"
    assert execution["expectedOutput"] == json.dumps({"answer": "string"})
    assert execution["maxTokens"] == 512
    assert execution["maxTime"] == 5
    assert execution["budget"] == {"maxIterations": 4}


def test_payload_sends_model_class_as_schema_object() -> None:
    class Answer(BaseModel):
        answer: str

    request = RunRequest(
        query="hi", execution_params=ExecutionParams(expected_output=Answer)
    )
    execution = wire.build_run_payload("a", request, max_time=5)["executionParams"]
    assert execution["expectedOutput"]["properties"]["answer"]["type"] == "string"


def test_payload_metadata_has_no_location() -> None:
    payload = wire.build_run_payload("a", RunRequest(query="hi"), max_time=5)
    assert payload["metaData"] == {"userAgent": wire.USER_AGENT}


def test_session_id_travels_as_header() -> None:
    request = RunRequest(query="hi", session_id="sess-1")
    assert wire.run_headers(request) == {"x-session-id": "sess-1"}
    assert "sessionId" not in wire.build_run_payload("a", request, max_time=5)


@pytest.mark.parametrize(
    "bad_id",
    ["", "a/b", "..", "a..b", "a b", "a\nb", "a?x=1", "a#f", "%2e%2e", "x" * 300],
)
def test_run_url_rejects_unsafe_agent_id(bad_id: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid agent id"):
        wire.run_url("https://api.example", bad_id)


def test_result_url_built_from_request_id() -> None:
    url = wire.result_url("https://api.example", "agent-1__abc")
    assert url == "https://api.example/sdk/agents/agent-1__abc/result"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {
                "requestId": "r1",
                "status": "IN_PROGRESS",
                "data": "https://h/sdk/agents/r1/result",
            },
            wire.Accepted("r1", "https://h/sdk/agents/r1/result"),
        ),
        ({"requestId": "r1", "data": "r1"}, wire.Accepted("r1", None)),
        ({"requestId": "r1"}, wire.Accepted("r1", None)),
    ],
)
def test_interpret_submit_accepted_table(
    body: dict[str, Any], expected: wire.Accepted
) -> None:
    assert wire.interpret_submit(body) == expected


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "expected a JSON object"),
        ({"status": "IN_PROGRESS", "data": "x"}, "'requestId' is missing"),
        ({"requestId": "r/1", "data": "x"}, "invalid request id"),
        ({"requestId": "r1", "data": {"foo": 1}}, "'data' must be a poll URL"),
    ],
)
def test_interpret_submit_malformed_table(body: Any, problem: str) -> None:
    state = wire.interpret_submit(body)
    assert isinstance(state, wire.Malformed)
    assert problem in state.problem


def test_interpret_submit_immediate_result() -> None:
    body = {
        "status": "SUCCESS",
        "completed": True,
        "requestId": "r1",
        "data": {"output": "x"},
    }
    state = wire.interpret_submit(body)
    assert isinstance(state, wire.Finished)
    assert state.succeeded


@pytest.mark.parametrize(
    ("body", "status", "succeeded"),
    [
        ({"status": "SUCCESS", "completed": True}, "SUCCESS", True),
        ({"status": "SUCCESS"}, "SUCCESS", True),
        (
            {"status": "FAILED", "completed": True, "errorMessage": "quota"},
            "FAILED",
            False,
        ),
        ({"status": "ERROR", "completed": True}, "ERROR", False),
        ({"status": "ABORTED", "completed": True}, "ABORTED", False),
        (
            {"status": "SUCCESS", "completed": True, "errorMessage": "tool broke"},
            "SUCCESS",
            False,
        ),
        (
            {"status": "SUCCESS", "completed": True, "data": {"error": "x"}},
            "SUCCESS",
            False,
        ),
    ],
)
def test_interpret_poll_terminal_table(
    body: dict[str, Any], status: str, succeeded: bool
) -> None:
    state = wire.interpret_poll(body)
    assert isinstance(state, wire.Finished)
    assert state.status == status
    assert state.succeeded is succeeded


def test_interpret_poll_running_keeps_steps() -> None:
    body = {"status": "IN_PROGRESS", "completed": False, "data": {"steps": [{"id": 1}]}}
    assert wire.interpret_poll(body) == wire.Running(steps=[{"id": 1}])


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            {"status": "IN_PROGRESS", "completed": "false"},
            "'completed' must be a boolean",
        ),
        ({"completed": True}, "'status' is missing"),
        ({}, "'status' is missing"),
        ({"status": "DONE", "completed": True}, "unknown status"),
        ({"status": "SUCCESS", "completed": False}, "'completed' is false"),
        ({"status": "IN_PROGRESS", "completed": True}, "'completed' is true"),
        ("text", "expected a JSON object"),
    ],
)
def test_interpret_poll_malformed_table(body: Any, problem: str) -> None:
    state = wire.interpret_poll(body)
    assert isinstance(state, wire.Malformed)
    assert problem in state.problem


def test_decode_json_marks_non_json_malformed() -> None:
    assert isinstance(wire.decode_json(b"<html>502</html>"), wire.Malformed)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b'{"statusCode": 401, "error": "Unauthorized", "message": "bad key"}',
            "bad key",
        ),
        (b'{"message": "m", "supplierError": "supplier said no"}', "supplier said no"),
        (b'["first", "second"]', "first; second"),
        (b"<html>Bad gateway</html>", "<html>Bad gateway</html>"),
        (b"", None),
    ],
)
def test_error_details_table(content: bytes, message: str | None) -> None:
    assert wire.error_details(content)[0] == message


@pytest.mark.parametrize(
    ("body", "credits", "run_time"),
    [
        ({"usedCredits": 0.3, "runTime": 2.5}, 0.3, 2.5),
        ({"data": {"executionStats": {"credits": 0.2, "runtime": 1.5}}}, 0.2, 1.5),
        ({"data": {"usedCredits": 0.1, "runTime": 1.0}}, 0.1, 1.0),
        ({"usedCredits": "many"}, 0.0, 0.0),
        ({}, 0.0, 0.0),
    ],
)
def test_credits_and_run_time_lookup(
    body: dict[str, Any], credits: float, run_time: float
) -> None:
    assert wire.credits_and_run_time(body) == (credits, run_time)


@pytest.mark.parametrize(
    ("url", "same"),
    [
        ("https://api.example/sdk/agents/r/result", True),
        ("https://api.example:443/x", True),
        ("http://api.example/x", False),
        ("https://evil.example/x", False),
        ("https://api.example:8443/x", False),
    ],
)
def test_is_same_origin_table(url: str, same: bool) -> None:
    assert wire.is_same_origin(url, "https://api.example") is same
