# gridgov: `make run` and `make test` set up whatever is missing, then run (`make run`: the
# server and the background worker, and the feeds' MQTT broker and subscriber when a feed exists).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
ASSETS_STAMP := web/static/vendor/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test fuzz setup system python assets bench clean-db

run: setup
	# with GRIDGOV_REPLICA=on and GRIDGOV_PGBOUNCER=on, also the cluster's hot standby and
	# PgBouncer in front of it, which the server then reads from and connects through (README)
	$(BIN)/gridgov db start
	$(BIN)/gridgov db upgrade
	$(BIN)/gridgov demo load --if-empty
	# the background worker (supervision cards) beside the server, in one step: stopped
	# (SIGTERM, it finishes its job) when the server exits or make is interrupted. When a
	# monitoring feed exists (gridgov feeds add), also the MQTT broker (mosquitto, var/mqtt/)
	# and its subscriber (gridgov feeds mqtt), stopped with them.
	$(BIN)/gridgov worker & worker=$$!; mqtt=; \
	trap 'kill $$worker $$mqtt 2>/dev/null; wait $$worker $$mqtt; [ -z "$$mqtt" ] || $(BIN)/gridgov feeds broker stop' EXIT INT TERM; \
	if [ -n "$$($(BIN)/gridgov feeds list)" ]; then \
	  $(BIN)/gridgov feeds broker start && { $(BIN)/gridgov feeds mqtt & mqtt=$$!; }; \
	fi; \
	$(BIN)/gridgov serve --host $(HOST) --port $(PORT)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Schemathesis over /api/v1/openapi.json at length: tests/test_fuzz_api.py (every operation, as
# nobody and as each account that may use it, then chained calls) with FUZZ_EXAMPLES examples
# per operation, account and mode, and as many stateful scenarios (make test runs 8).
# FUZZ_SEED changes what is generated.
FUZZ_EXAMPLES ?= 500
FUZZ_SEED ?= 20261129
fuzz: setup
	GRIDGOV_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) GRIDGOV_FUZZ_SEED=$(FUZZ_SEED) \
	  $(BIN)/python -m pytest tests/test_fuzz_api.py $(PYTEST_ARGS)

setup: system python assets

# System packages (Python's venv, npm, PostGIS, Chromium, …) with apt-get, only when missing.
system:
	@PYTHON=$(PYTHON) bash scripts/system-deps.sh

python: $(PY_STAMP)
# (| system: the packages first, even under make -j)
$(PY_STAMP): pyproject.toml | system
	# a venv without pip (one made before ensurepip was installed) is made again
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

# Front-end libraries from npm, copied into web/static/vendor and served by us.
assets: $(ASSETS_STAMP)
$(ASSETS_STAMP): package.json package-lock.json scripts/vendor_assets.py $(PY_STAMP) | system
	# --ignore-scripts: nothing we serve needs an install script, and one (scarf, pulled in by
	# swagger-ui-dist) would phone home
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	$(BIN)/python scripts/vendor_assets.py
	touch $@

bench: setup
	@command -v wrk >/dev/null || { [ "$$(id -u)" -eq 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
	@command -v valgrind >/dev/null || { [ "$$(id -u)" -eq 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	$(BIN)/gridgov db start
	# the benchmarks make their databases with the managed cluster's superuser, owned by the
	# application's role (bench/servers.py)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Stop the managed cluster and delete it, its data and its passwords (var/pg, var/pg-passwords.json),
# and its standby and PgBouncer when it has them (var/pg-replica, var/pgbouncer).
clean-db:
	test ! -x $(BIN)/python || $(BIN)/python -c 'from db.session import managed_cluster, managed_pgbouncer, managed_standby; \
	  managed_pgbouncer().destroy(); managed_standby().destroy(); managed_cluster().destroy()'
