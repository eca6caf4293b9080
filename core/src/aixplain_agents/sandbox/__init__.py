"""A local server that speaks the aiXplain agent protocol, with scripted faults.

The server needs the `sandbox` extra (starlette, uvicorn, httptools, pyyaml).
Importing this package without it works, but using the server raises ImportError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._default import TRIAGE_PRIMARY_FAILURE_REGEX, default_scenario
from ._scenario import Scenario, ScenarioError, load_scenario, parse_scenario

if TYPE_CHECKING:
    from ._server import Sandbox, serve

__all__ = [
    "TRIAGE_PRIMARY_FAILURE_REGEX",
    "Sandbox",
    "Scenario",
    "ScenarioError",
    "default_scenario",
    "load_scenario",
    "parse_scenario",
    "serve",
]


def __getattr__(name: str) -> Any:
    # The server modules import starlette and uvicorn, so load them on first use.
    if name in ("Sandbox", "serve"):
        try:
            from . import _server
        except ImportError as exc:
            raise ImportError(
                f"The sandbox server needs the sandbox extra ({exc}). "
                'Install it with: pip install "aixplain-agents-core[sandbox]"'
            ) from exc
        return getattr(_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
