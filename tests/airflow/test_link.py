"""The "aiXplain run" extra link, built from the request_id XCom."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from airflow.sdk.execution_time.xcom import XCom

from aixplain_provider.links.aixplain import AixplainRunLink


@pytest.fixture
def request_id_xcom(monkeypatch: pytest.MonkeyPatch) -> None:
    # The XCom table is Airflow's; the link's own logic is what is under test.
    monkeypatch.setattr(XCom, "get_value", lambda **_: "echo__0123456789ab")


def test_link_points_at_run_result(
    request_id_xcom, aixplain_sandbox, aixplain_connection
):
    aixplain_connection(aixplain_sandbox)
    operator = SimpleNamespace(aixplain_conn_id="aixplain_default")

    link = AixplainRunLink().get_link(operator, ti_key=None)

    assert link == f"{aixplain_sandbox.base_url}/sdk/agents/echo__0123456789ab/result"


def test_link_empty_when_connection_missing(request_id_xcom):
    operator = SimpleNamespace(aixplain_conn_id="no_such_connection")

    assert AixplainRunLink().get_link(operator, ti_key=None) == ""
