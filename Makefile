# Maestro — every target sets up what it needs from nothing (virtualenv, packages, PostgreSQL, Redis, migrations).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# On machines without the local CPU wheel of torch, point pip at PyTorch's CPU index, e.g.
#   make run TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
TORCH_ARGS := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX) --extra-index-url https://pypi.org/simple,)
RUN_SETTINGS ?= maestro.settings.local
# prometheus_client multiprocess directory shared by the gunicorn and Celery worker processes of `make run`.
METRICS_DIR ?= $(CURDIR)/.local/prometheus-multiproc
PYTEST_ARGS ?=
# This machine's pip config names index folders that may be absent; drop that noise, keep real warnings.
PIP_FILTER := { grep -v '^WARNING: Location .* is ignored' || true; }

.PHONY: help venv services migrate demo run dev test stop lint fmt lock browser tools bench vendor fuzz load faults cluster-test docs docs-build

help:
	@echo "make run    set up everything and start web + Celery worker + beat (http://demo.localhost:8000)"
	@echo "make dev    the same with DEBUG on (Django's debug pages; for developers)"
	@echo "make test   set up everything and run the whole test suite with coverage"
	@echo "make stop   stop the PostgreSQL/Redis processes that make run/test started"
	@echo "make lint   ruff check + format check, Django system checks, missing migrations"
	@echo "make docs   serve the manual (docs/, MkDocs) at http://127.0.0.1:8001 with live reload"
	@echo "make fuzz / make load / make faults   full-strength reliability runs (docs/reliability.md)"
	@echo "make cluster-test   the multi-host run at full size (docs/deployment.md)"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Maestro needs Python 3.11 (found %d.%d); set PYTHON=python3.11" % sys.version_info[:2])'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(PY)
	@echo "[setup] installing pinned dependencies into $(VENV) (first run takes a few minutes)"
	set -o pipefail; $(PY) -m pip install -q --disable-pip-version-check "torch==2.13.0" $(TORCH_ARGS) 2>&1 | $(PIP_FILTER)
	set -o pipefail; $(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]" 2>&1 | $(PIP_FILTER)
	@touch $@

venv: $(STAMP)

services: venv
	@bash scripts/services.sh up

browser:
	@bash scripts/services.sh browser

tools:
	@bash scripts/services.sh tools

migrate: services
	DJANGO_SETTINGS_MODULE=$(RUN_SETTINGS) $(PY) manage.py migrate_schemas --noinput -v 1

demo: migrate
	DJANGO_SETTINGS_MODULE=$(RUN_SETTINGS) $(PY) manage.py collectstatic --noinput -v 0
	DJANGO_SETTINGS_MODULE=$(RUN_SETTINGS) $(PY) manage.py ensure_demo
	DJANGO_SETTINGS_MODULE=$(RUN_SETTINGS) $(PY) manage.py seed_demo --tenant demo --projects 600

run: demo
	@echo "[run] starting web (http://demo.localhost:8000), Celery workers (default, ml) and beat — Ctrl-C stops them"
	rm -rf "$(METRICS_DIR)" && mkdir -p "$(METRICS_DIR)"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PROMETHEUS_MULTIPROC_DIR="$(METRICS_DIR)" DJANGO_SETTINGS_MODULE=$(RUN_SETTINGS) \
	  DEBUG=$(if $(DEBUG),$(DEBUG),false) $(VENV)/bin/honcho start -f Procfile web worker mlworker beat

# `make run` with Django's debug pages (tracebacks, the URL list on a 404): for developers, never for a demo.
dev:
	$(MAKE) run DEBUG=1

test: services browser tools docs-build
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest --ds=maestro.settings.test --cov --cov-report=term --cov-fail-under=85 $(PYTEST_ARGS)

stop:
	@bash scripts/services.sh down

# The manual (mkdocs.yml, docs/). --strict turns every warning into a failure: a link to a missing page or anchor,
# a page left out of the nav. Output goes to .local/site (git-ignored). NO_MKDOCS_2_WARNING silences the theme's
# start-up banner about its successor.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs
docs-build: venv
	$(MKDOCS) build --strict --quiet

docs: venv
	$(MKDOCS) serve

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	DJANGO_SETTINGS_MODULE=maestro.settings.test $(PY) manage.py check
	DJANGO_SETTINGS_MODULE=maestro.settings.test $(PY) manage.py makemigrations --check --dry-run

fmt: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

lock: venv
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt

vendor:
	bash scripts/vendor_assets.sh

# Every benchmark in turn on a quiet machine (each prints its table with its command line; copies kept under
# .local/bench/). BENCHES=... picks some, e.g. make bench BENCHES="runs_ingest runs_history".
BENCHES ?= projects_list runs_ingest runs_history wire_text runs_retry runs_search recommendations dashboard_pages access_gate request_budget request_cost_served integrations_metrics tenant_archive mlflow_compare request_floor load_api
bench: services
	@mkdir -p .local/bench
	@set -o pipefail; for b in $(BENCHES); do \
	  echo "[bench] $$b"; $(PY) bench/$$b.py 2>&1 | tee .local/bench/$$b.txt || exit 1; done

# Reliability (issue 9): the full-strength runs behind the tables of docs/reliability.md and docs/performance.md (Load).
fuzz: services
	$(PY) bench/fuzz_api.py

load: services
	$(PY) bench/load_api.py

faults: services
	$(PY) bench/faults.py

# Issue 23: web and worker hosts sharing only PostgreSQL, Redis and S3, at full size (make test runs the reduced size:
# tests/ops/test_cluster.py); prints the table of checks.
cluster-test: services
	$(PY) bench/cluster.py
