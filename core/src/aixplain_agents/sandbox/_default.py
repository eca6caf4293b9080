"""The built-in scenario that the demo and the tests run on."""

from __future__ import annotations

from typing import Any

from ._scenario import Scenario, parse_scenario

# Incidents whose query matches this regex make triage-primary fail, so the demo
# shows the fallback to triage-secondary.
TRIAGE_PRIMARY_FAILURE_REGEX = r"(?i)\bdatabase\b"

_TRIAGE_OUTPUT = {
    "summary": "string",
    "risk": "low|medium|high",
    "recommendedActions": ["string"],
}

DEFAULT_SCENARIO: dict[str, Any] = {
    "version": 1,
    "seed": 7,
    "agents": {
        "triage-primary": {
            "name": "Incident triage (primary)",
            "description": "Classifies an incident and proposes first actions.",
            "output_format": "json",
            "expected_output": _TRIAGE_OUTPUT,
            "duration": {"distribution": "uniform", "low": 0.3, "high": 0.8},
            "steps": [
                {"action": "reason", "thought": "Reading the incident report."},
                {
                    "action": "call_tool",
                    "tool": "Runbook search",
                    "thought": "Look up runbooks.",
                },
                {"action": "reason", "thought": "Assessing the risk."},
            ],
            "output": {"kind": "json"},
            "credits": 0.004,
            "faults": [
                {
                    "kind": "terminal",
                    "status": "FAILED",
                    "query_matches": TRIAGE_PRIMARY_FAILURE_REGEX,
                    "message": "context window exceeded",
                    "supplier_error": "The model's context window was exceeded.",
                }
            ],
        },
        "triage-secondary": {
            "name": "Incident triage (secondary)",
            "description": "A smaller triage agent used as a fallback.",
            "output_format": "json",
            "expected_output": _TRIAGE_OUTPUT,
            "duration": {"distribution": "uniform", "low": 0.3, "high": 0.6},
            "steps": 2,
            "output": {"kind": "json"},
            "credits": 0.002,
        },
        "root-cause": {
            "name": "Root-cause analyst",
            "description": "Proposes the most likely root cause of an incident.",
            "output_format": "json",
            "expected_output": {
                "hypothesis": "string",
                "confidence": "low|medium|high",
                "evidence": ["string"],
            },
            "duration": {
                "distribution": "normal",
                "mean": 0.9,
                "stddev": 0.2,
                "min": 0.5,
                "max": 1.5,
            },
            "steps": [
                {
                    "action": "call_tool",
                    "tool": "Log search",
                    "thought": "Searching logs.",
                },
                {
                    "action": "call_tool",
                    "tool": "Metrics",
                    "thought": "Checking metrics.",
                },
                {"action": "reason", "thought": "Comparing the signals."},
            ],
            "output": {"kind": "json"},
            "credits": 0.006,
        },
        "status-page": {
            "name": "Status page writer",
            "description": "Drafts a public status page update.",
            "output_format": "text",
            "duration": 0.4,
            "steps": 1,
            "output": {
                "kind": "template",
                "template": (
                    "We are investigating reports of degraded service: {query} "
                    "Next update in {variables[next_update]} minutes."
                ),
            },
            "credits": 0.001,
        },
        "echo": {
            "name": "Echo",
            "description": "Returns its input; for smoke tests.",
            "output_format": "text",
            "duration": 0.05,
            "steps": 1,
            "output": {"kind": "template", "template": "{query}"},
            "credits": 0.0,
        },
    },
}


def default_scenario() -> Scenario:
    """Return the built-in scenario with the demo agents.

    Agents: triage-primary (JSON triage that ends FAILED with "context window
    exceeded" when the query matches TRIAGE_PRIMARY_FAILURE_REGEX), triage-secondary
    (JSON triage that always succeeds), root-cause (JSON hypothesis), status-page
    (text template) and echo (returns its input after 0.05 s).
    """
    return parse_scenario(DEFAULT_SCENARIO, source="default scenario")
