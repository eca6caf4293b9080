# Two commands matter: `make demo` runs the example pipeline in Airflow and Prefect
# against the local sandbox, and `make test` runs every test suite. Each creates the
# environments it needs on first use.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv

export UV_PYTHON ?= 3.11
export UV_PYTHON_DOWNLOADS ?= never
export UV_LINK_MODE ?= copy

CORE_ENV := core/.venv
AIRFLOW_ENV := providers/airflow/.venv
PREFECT_ENV := providers/prefect/.venv
CONFORMANCE_ENV := tests/conformance/.venv

.PHONY: demo test test-core test-airflow test-prefect test-conformance test-e2e \
	lint envs clean

envs: $(CORE_ENV)/.synced $(AIRFLOW_ENV)/.synced $(PREFECT_ENV)/.synced

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(CORE_ENV)/.synced: $(UV) core/pyproject.toml core/uv.lock
	cd core && ../$(UV) sync --locked --all-extras --quiet
	touch $@

$(AIRFLOW_ENV)/.synced: $(UV) providers/airflow/pyproject.toml providers/airflow/uv.lock core/pyproject.toml
	cd providers/airflow && ../../$(UV) sync --locked --quiet
	touch $@

$(PREFECT_ENV)/.synced: $(UV) providers/prefect/pyproject.toml providers/prefect/uv.lock core/pyproject.toml
	cd providers/prefect && ../../$(UV) sync --locked --quiet
	touch $@

$(CONFORMANCE_ENV)/.synced: $(UV) tests/conformance/pyproject.toml tests/conformance/uv.lock core/pyproject.toml
	cd tests/conformance && ../../$(UV) sync --locked --quiet
	touch $@

demo: envs
	$(CORE_ENV)/bin/python example_dags/demo.py

test: test-core test-airflow test-prefect test-conformance

test-core: $(CORE_ENV)/.synced
	$(CORE_ENV)/bin/pytest tests/core

test-airflow: $(AIRFLOW_ENV)/.synced
	$(AIRFLOW_ENV)/bin/pytest tests/airflow

test-prefect: $(PREFECT_ENV)/.synced
	$(PREFECT_ENV)/bin/pytest tests/prefect

test-conformance: $(CONFORMANCE_ENV)/.synced
	cd tests/conformance && .venv/bin/pytest

lint: envs
	$(CORE_ENV)/bin/ruff format --check .
	$(CORE_ENV)/bin/ruff check .
	$(CORE_ENV)/bin/mypy core/src
	$(AIRFLOW_ENV)/bin/mypy providers/airflow/src
	$(PREFECT_ENV)/bin/mypy providers/prefect/src

clean:
	rm -rf $(TOOLS) $(CORE_ENV) $(AIRFLOW_ENV) $(PREFECT_ENV) $(CONFORMANCE_ENV) .demo
