"""The provider metadata that Airflow discovers through the entry point."""

from __future__ import annotations

from importlib.metadata import entry_points

from aixplain_provider.get_provider_info import get_provider_info


def test_provider_info_package_name_matches_distribution():
    (entry,) = [
        e
        for e in entry_points(group="apache_airflow_provider")
        if e.dist is not None and e.dist.name == "airflow-provider-aixplain"
    ]

    assert entry.load()()["package-name"] == entry.dist.name


def test_provider_info_declares_connection_fields():
    (connection_type,) = get_provider_info()["connection-types"]

    behaviour = connection_type["ui-field-behaviour"]
    assert connection_type["connection-type"] == "aixplain"
    assert behaviour["relabeling"] == {"host": "Base URL", "password": "API Key"}
    assert "login" in behaviour["hidden-fields"]
