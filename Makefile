# Developer and CI entry points. GNU make; recipes are indented with tabs.
#   make run    - bootstrap .venv, start embedded PostgreSQL/Redis, migrate, load demo data,
#                 run web + Celery worker + beat until Ctrl-C
#   make test   - bootstrap, start embedded services, run pytest (PYTEST_ARGS="-k foo -x")
# DATABASE_URL / REDIS_URL, when set, point everything at existing servers instead.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Interpreter used only to create .venv: the first of python3.11, python3.12, python3 that exists and
# really is 3.11/3.12 (a pyenv shim may exist without its version installed). Override with PYTHON=.
PY_OK := import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))
PYTHON ?= $(shell for p in python3.11 python3.12 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c '$(PY_OK)' 2>/dev/null && { command -v $$p; break; }; done)
PYTEST_ARGS ?=
BANDIT_TARGETS := config orders projections accounts standby recovery multisite subscriptions bench

# One shell line: start (or reuse) the embedded servers for whichever URL is unset and export them.
# The output is captured first so a failing start aborts instead of eval-ing nothing.
EMBEDDED_ENV = services_env="$$($(BIN)/python -m config.embedded_services env)"; eval "$$services_env"

.PHONY: help venv .venv services run test lint check-deploy format stop-services clean standby-drill multisite-drill bench webhook-chaos webhook-bench

help: ## List the targets
	@echo "Usage: make <target>"
	@grep -E '^[a-zA-Z_. -]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

venv .venv: $(STAMP) ## Create .venv and install requirements-dev.txt (only when requirements change)

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "error: no Python 3.11 or 3.12 found (python3.11, python3.12, python3)" >&2; exit 1; }
	@"$(PYTHON)" -c '$(PY_OK)' \
		|| { echo "error: $(PYTHON) is not Python 3.11 or 3.12; set PYTHON=/path/to/python3.11" >&2; exit 1; }
	"$(PYTHON)" -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

services: $(STAMP) ## Start embedded PostgreSQL/Redis (for unset DATABASE_URL/REDIS_URL); print their env
	@$(BIN)/python -m config.embedded_services env

run: $(STAMP) ## Migrate, load demo data, run web + Celery worker + beat (Ctrl-C stops all)
	@set -e; $(EMBEDDED_ENV); \
	export WEB_PORT="$${PORT:-8000}" PYTHONUNBUFFERED=1; \
	mkdir -p var; \
	$(BIN)/python manage.py migrate --noinput; \
	$(BIN)/python manage.py load_demo; \
	echo ""; \
	echo "Admin:    http://127.0.0.1:$$WEB_PORT/admin/"; \
	echo "API:      http://127.0.0.1:$$WEB_PORT/api/"; \
	echo "API docs: http://127.0.0.1:$$WEB_PORT/api/docs/"; \
	echo ""; \
	exec $(BIN)/honcho start -f Procfile

# DJANGO_SETTINGS_MODULE is unset so pytest-django takes config.settings.test from pyproject.toml
# (an exported local/production value would otherwise win); use PYTEST_ARGS=--ds=... to override.
test: $(STAMP) ## Run the test suite against real PostgreSQL and Redis (PYTEST_ARGS=...)
	@set -e; $(EMBEDDED_ENV); unset DJANGO_SETTINGS_MODULE; exec $(BIN)/pytest $(PYTEST_ARGS)

# The full webhook chaos run (tests/subscriptions/chaos.py): 10,000 events to 20 endpoints while fan-out
# and sender processes are SIGKILLed 20 times; prints its figures as JSON.
webhook-chaos: $(STAMP) ## Webhooks under SIGKILL: 10,000 events, 20 endpoints, 20 kills; 0 lost
	@set -e; $(EMBEDDED_ENV); unset DJANGO_SETTINGS_MODULE; WEBHOOK_CHAOS_FULL=1 exec $(BIN)/pytest -q -s \
		tests/subscriptions/test_chaos.py -k full -p no:cacheprovider

# mypy's Django plugin imports config.settings.test, which reads DATABASE_URL and REDIS_URL; lint runs
# before any server (CI) and connects to none, so unset ones get addresses nothing listens on.
LINT_ENV := DATABASE_URL="$${DATABASE_URL:-postgres://lint@127.0.0.1:1/lint}" \
	REDIS_URL="$${REDIS_URL:-redis://127.0.0.1:1/0}"

lint: $(STAMP) ## ruff check, ruff format --check, bandit, import-linter, mypy (all set in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit -q -c pyproject.toml -r $(BANDIT_TARGETS)
	$(BIN)/lint-imports
	$(LINT_ENV) $(BIN)/mypy

# Production settings with throwaway secrets, in a clean environment (config/check_deploy.py).
check-deploy: $(STAMP) ## manage.py check --deploy --fail-level WARNING on the production profile
	$(BIN)/python -m config.check_deploy

format: $(STAMP) ## Reformat and apply safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Self-contained: its own primary, standby and Redis on loopback ports, removed afterwards.
# DRILL_ARGS="--mode sync" for one round; python -m standby.drill --help lists the options.
standby-drill: $(STAMP) ## Failover drill: kill the primary under load, promote the standby, print RTO/RPO JSON
	$(BIN)/python -m standby.drill $(DRILL_ARGS)

# Self-contained: two sites (PostgreSQL, Redis, web, worker each) on loopback ports, removed afterwards.
# DRILL_ARGS="--warmup 4 --after 3 --threads 2 --keep"; python -m multisite.drill --help lists the options.
multisite-drill: $(STAMP) ## Multi-site drill: two sites take orders, kill one, adopt, re-join; prints JSON
	$(BIN)/python -m multisite.drill $(DRILL_ARGS)

# Benchmarks run from their own venv (.venv-bench: requirements.txt + bench/requirements.txt), so
# Locust, gevent and the peer library never change the environment the tests run in.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_ARGS ?=

$(BENCH_VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "error: no Python 3.11 or 3.12 found (python3.11, python3.12, python3)" >&2; exit 1; }
	"$(PYTHON)" -m venv $(BENCH_VENV)

$(BENCH_STAMP): requirements.txt bench/requirements.txt | $(BENCH_VENV)/bin/python
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements.txt
	@touch $@

# A few minutes on 2 cores; measure on a quiet machine (BENCH_ARGS="--wait-quiet 20" waits for one).
bench: $(BENCH_STAMP) ## Benchmarks against SPEC §9 into bench/results/ (BENCH_ARGS=--quick to try it out)
	@unset DJANGO_SETTINGS_MODULE; exec $(BENCH_VENV)/bin/python -m bench $(BENCH_ARGS)

# The bench's webhooks phase alone (bench/phases/webhooks.py): commit -> first attempt at 200 events/s,
# one sender's deliveries per second, the others' latency while one endpoint times out; into bench/results/.
webhook-bench: $(BENCH_STAMP) ## Webhook latency and throughput with real processes (make bench's webhooks phase)
	@unset DJANGO_SETTINGS_MODULE; exec $(BENCH_VENV)/bin/python -m bench --only webhooks $(BENCH_ARGS)

stop-services: ## Stop the embedded PostgreSQL/Redis
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m config.embedded_services stop; fi

# WARNING: var/ holds the embedded development database (and Redis data); clean deletes it for good.
clean: ## Stop services, delete .venv and var/ (the dev database!)
	-@$(MAKE) --no-print-directory stop-services
	rm -rf $(VENV) var
