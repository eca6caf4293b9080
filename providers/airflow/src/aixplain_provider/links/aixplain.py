"""Extra link from a task to the result URL of the aiXplain run it waited on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink
from airflow.sdk.exceptions import AirflowException
from airflow.sdk.execution_time.xcom import XCom

from aixplain_agents import AixplainError
from aixplain_provider.hooks.aixplain import DEFAULT_CONN_ID, AixplainHook

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

REQUEST_ID_XCOM_KEY = "request_id"


class AixplainRunLink(BaseOperatorLink):
    """The "aiXplain run" link: the run's result URL, built from the request_id XCom.

    The URL is the API endpoint that returns the run's status and output. Opening it
    needs the API key in the ``x-api-key`` header, because the service has no
    public web page per run.
    """

    name = "aiXplain run"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        """Return the run's result URL, or "" when the task submitted no run."""
        request_id = XCom.get_value(ti_key=ti_key, key=REQUEST_ID_XCOM_KEY)
        if not request_id:
            return ""
        conn_id = getattr(operator, "aixplain_conn_id", DEFAULT_CONN_ID)
        hook = AixplainHook(aixplain_conn_id=conn_id)
        try:
            with hook.get_client() as client:
                return client.run_reference(str(request_id)).poll_url
        except (AirflowException, AixplainError) as exc:
            # A link must not break the page that renders it; log why it is empty.
            hook.log.warning("No aiXplain run link for %s: %s", request_id, exc)
            return ""
