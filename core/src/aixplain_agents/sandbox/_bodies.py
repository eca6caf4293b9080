"""JSON bodies of the aiXplain agent protocol, built from the scenario and a run."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any

from ._outputs import build_output, huge_text, violate_schema
from ._scenario import AgentSpec, JsonOutput, StepSpec
from ._store import AgentState, Run

_CREATED_AT = "2026-01-01T00:00:00.000Z"


def error_body(
    status: int, message: str, supplier_error: str | None = None
) -> dict[str, Any]:
    """Return an error body as the service sends it with a non-2xx status."""
    body: dict[str, Any] = {
        "statusCode": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
    }
    if supplier_error is not None:
        body["supplierError"] = supplier_error
    return body


def agent_body(agent_id: str, spec: AgentSpec) -> dict[str, Any]:
    """Return the agent as `GET /v2/agents/{id}` sends it."""
    return {
        "id": agent_id,
        "name": spec.name or agent_id,
        "description": spec.description,
        "instructions": spec.instructions,
        "status": "onboarded",
        "teamId": 1,
        "model": {"id": spec.model, "name": spec.model, "parameters": []},
        "tools": [],
        "tasks": [],
        "agents": [],
        "skills": [],
        "files": [],
        "outputFormat": spec.output_format,
        "expectedOutput": spec.expected_output,
        "maxTokens": 2048,
        "budget": {"maxIterations": spec.max_iterations},
        "contextOverflowStrategy": None,
        "inspectorTargets": [],
        "inspectors": [],
        "createdAt": _CREATED_AT,
        "updatedAt": _CREATED_AT,
    }


def legacy_agent_body(agent_id: str, spec: AgentSpec) -> dict[str, Any]:
    """Return the agent as the legacy `GET /sdk/agents/{id}` sends it."""
    return {
        "id": agent_id,
        "name": spec.name or agent_id,
        "description": spec.description,
        "instructions": spec.instructions,
        "status": "onboarded",
        "teamId": 1,
        "llmId": spec.model,
        "assets": [],
        "tasks": [],
        "outputFormat": spec.output_format,
        "expectedOutput": spec.expected_output,
        "createdAt": _CREATED_AT,
    }


def submit_body(request_id: str, poll_url: str) -> dict[str, Any]:
    """Return the response to an accepted run submit."""
    return {"requestId": request_id, "status": "IN_PROGRESS", "data": poll_url}


def poll_body(run: Run, agent: AgentState, now: float) -> dict[str, Any]:
    """Return the poll response for `run` at monotonic time `now`."""
    status = agent.run_status(run, now)
    elapsed = now - run.created
    specs = agent.spec.step_specs

    if status == "IN_PROGRESS":
        visible = len(specs)
        if run.duration > 0:
            visible = min(len(specs), int(len(specs) * elapsed / run.duration))
        steps = [_step(run, agent, i, specs[i], now) for i in range(visible)]
        return {
            "status": "IN_PROGRESS",
            "completed": False,
            "requestId": run.request_id,
            "data": {"steps": steps},
            "progress": {
                "stage": "working",
                "currentStep": visible,
                "totalSteps": len(specs),
            },
        }
    return _terminal_body(run, agent, status, now)


def _terminal_body(
    run: Run, agent: AgentState, status: str, now: float
) -> dict[str, Any]:
    specs = agent.spec.step_specs
    steps = [_step(run, agent, i, spec, now) for i, spec in enumerate(specs)]
    credits = round(agent.spec.credits, 6)
    runtime = round(run.duration, 3)
    session_id = run.effective_session_id
    fault = agent.outcome_fault(run)

    output: Any = None
    if status == "SUCCESS":
        output = _success_output(run, agent)

    data: dict[str, Any] = {
        "input": _input_text(run.query),
        "output": output,
        "session_id": session_id,
        "steps": steps,
        "executionStats": {
            "runtime": runtime,
            "credits": credits,
            "api_calls": len(steps),
            "request_id": run.request_id,
            "assets_used": [agent.spec.model],
            "diagnostic_error_codes": [],
        },
        "intermediate_steps": [_intermediate_step(run, agent, output)],
        "usedCredits": credits,
        "runTime": runtime,
        "critiques": "",
        "artifacts": [],
        "diagnosticErrorCodes": [],
    }
    body: dict[str, Any] = {
        "status": status,
        "completed": True,
        "requestId": run.request_id,
        "sessionId": session_id,
        "usedCredits": credits,
        "runTime": runtime,
        "data": data,
    }

    never_completes = fault is not None and fault.kind == "never_completes"
    if status == "FAILED" and run.exceeds_max_time(never_completes):
        body["errorMessage"] = f"The run exceeded its maxTime of {run.max_time} s."
    elif fault is not None and fault.kind in ("terminal", "success_with_error"):
        body["errorMessage"] = fault.message or f"The run ended with status {status}."
        if fault.supplier_error is not None:
            body["supplierError"] = fault.supplier_error
    return body


def _success_output(run: Run, agent: AgentState) -> Any:
    fault = agent.outcome_fault(run)
    if fault is not None and fault.kind == "huge_output":
        return huge_text(fault.size_bytes or 1, _input_text(run.query))

    spec = agent.spec.output
    if run.output_format == "json" and not isinstance(spec, JsonOutput):
        # The request sets outputFormat json, so a text agent returns JSON as well.
        spec = JsonOutput(kind="json")
    output = build_output(
        spec,
        run.query,
        run.expected_output,
        agent_id=run.agent_id,
        request_id=run.request_id,
        session_id=run.effective_session_id,
    )
    if fault is not None and fault.kind == "schema_violation":
        return violate_schema(output)
    return output


def _input_text(query: Any) -> Any:
    if isinstance(query, dict) and "input" in query:
        return query["input"]
    return query


def _step(
    run: Run, agent: AgentState, index: int, spec: StepSpec, now: float
) -> dict[str, Any]:
    count = len(agent.spec.step_specs)
    started = run.duration * index / count
    ended = run.duration * (index + 1) / count
    wall_created = time.time() - (now - run.created)
    unit = (
        {"type": "tool", "name": spec.tool, "id": f"tool-{index}"}
        if spec.tool
        else {"type": "llm", "name": agent.spec.model, "id": f"llm-{index}"}
    )
    credits = agent.spec.credits / count
    return {
        "id": f"step-{index}",
        "agent": {
            "id": run.agent_id,
            "name": agent.spec.name or run.agent_id,
            "is_system_agent": False,
        },
        "unit": unit,
        "action": spec.action,
        "task": None,
        "thought": spec.thought,
        "input": _input_text(run.query),
        "output": spec.output or f"Step {index + 1} of {count} done.",
        "api_calls": 1,
        "used_credits": round(credits, 6),
        "input_tokens": 10,
        "output_tokens": 5,
        "total_tokens": 15,
        "start_time": _iso(wall_created + started),
        "end_time": _iso(wall_created + ended),
    }


def _intermediate_step(run: Run, agent: AgentState, output: Any) -> dict[str, Any]:
    tools = [spec for spec in agent.spec.step_specs if spec.tool]
    return {
        "agent": agent.spec.name or run.agent_id,
        "input": _input_text(run.query),
        "output": output,
        "thought": agent.spec.step_specs[-1].thought if agent.spec.step_specs else "",
        "tool_steps": [
            {"tool": spec.tool, "input": _input_text(run.query), "output": spec.output}
            for spec in tools
        ],
        "runTime": round(run.duration, 3),
        "usedCredits": round(agent.spec.credits, 6),
        "apiCalls": len(agent.spec.step_specs),
    }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat()
