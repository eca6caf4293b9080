"""Provider metadata, read by Airflow through the ``apache_airflow_provider`` group."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    """Return the provider description: connection type, hooks, triggers, links."""
    return {
        # Must equal the distribution name, or every `airflow` command fails.
        "package-name": "airflow-provider-aixplain",
        "name": "aiXplain",
        "description": "Run aiXplain agents from Airflow tasks, with fallbacks.",
        "versions": ["0.1.0"],
        "integrations": [
            {
                "integration-name": "aiXplain",
                "external-doc-url": "https://docs.aixplain.com/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "aiXplain",
                "python-modules": ["aixplain_provider.hooks.aixplain"],
            }
        ],
        "operators": [
            {
                "integration-name": "aiXplain",
                "python-modules": ["aixplain_provider.operators.aixplain"],
            }
        ],
        "sensors": [
            {
                "integration-name": "aiXplain",
                "python-modules": ["aixplain_provider.sensors.aixplain"],
            }
        ],
        "triggers": [
            {
                "integration-name": "aiXplain",
                "python-modules": ["aixplain_provider.triggers.aixplain"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "aixplain",
                "hook-class-name": "aixplain_provider.hooks.aixplain.AixplainHook",
                "hook-name": "aiXplain",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port", "extra"],
                    "relabeling": {"host": "Base URL", "password": "API Key"},
                    "placeholders": {
                        "host": "https://platform-api.aixplain.com",
                        "password": "your aiXplain API key",
                    },
                },
                "conn-fields": {
                    "request_timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": ["number", "null"], "minimum": 0},
                        "description": "Timeout of each HTTP request; default 30.",
                    },
                    "retry_max_delay": {
                        "label": "Max retry delay (seconds)",
                        "schema": {"type": ["number", "null"], "minimum": 0},
                        "description": "Longest backoff between poll retries.",
                    },
                    "allow_insecure_http": {
                        "label": "Allow plain http to a remote host",
                        "schema": {"type": ["boolean", "null"]},
                        "description": "Send the key over plain http (trusted nets).",
                    },
                },
            }
        ],
        "extra-links": ["aixplain_provider.links.aixplain.AixplainRunLink"],
        "task-decorators": [
            {
                "name": "aixplain_agent",
                "class-name": (
                    "aixplain_provider.decorators.aixplain.aixplain_agent_task"
                ),
            }
        ],
        "config": {
            "aixplain": {
                "description": "Settings of the aiXplain provider.",
                "options": {
                    "output_storage_path": {
                        "description": (
                            "Object storage URL where outputs larger than "
                            "max_xcom_output_bytes are written, e.g. s3://bucket/aixplain."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "file:///data/aixplain-outputs",
                        "default": "",
                    }
                },
            }
        },
    }
