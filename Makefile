# Two commands do everything on a fresh machine (Python 3.11 + pip): `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= 1

.PHONY: install run test test-fast ui lint bench clean postgres-server run-postgres postgres-stop

# (Re)install when pyproject.toml changes; the stamp keeps repeated runs instant.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## DEMO: sample world in (data/sample), marts out (data/demo/), checks run; prints a summary.
## SCALE=10 for a bigger world. Your own sources: `productops run` (README).
run: install
	$(BIN)/python -m demo.run --scale $(SCALE)

## The whole test suite, slow end-to-end tests included, on DuckDB and on a throwaway
## PostgreSQL server (installed from Debian's packages when missing).
test: install postgres-server
	$(BIN)/python -m pytest

## Everything but the tests marked slow.
test-fast: install
	$(BIN)/python -m pytest -m "not slow"

## DEMO Dagster UI on http://127.0.0.1:3000 with the vendor sandbox serving the sample APIs.
## Your own sources: `.venv/bin/dagster dev` (README, "Running on your own data").
ui: install
	$(BIN)/python -m demo.run --scale $(SCALE) --ui --port 8765

## PostgreSQL server binaries (apt-get install postgresql) when missing.
postgres-server:
	@bash tools/install_postgres.sh

PG_DIR := data/postgres
## `make run` on a local throwaway PostgreSQL server in data/postgres (WAREHOUSE=postgres),
## left running so that you can query it; `make postgres-stop` stops and deletes it.
run-postgres: install postgres-server
	$(BIN)/python -m tools.pg_cluster ensure $(PG_DIR) > /dev/null
	eval "$$($(BIN)/python -m tools.pg_cluster env $(PG_DIR))" && \
		$(BIN)/python -m demo.run --scale $(SCALE) --use-environment

postgres-stop:
	$(BIN)/python -m tools.pg_cluster stop $(PG_DIR)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy ingestion orchestration
	$(BIN)/sqlfluff lint dbt_project/models

## Benchmarks: events loader vs DuckDB's read_json at 1M events; full vs incremental marts.
bench: install
	$(BIN)/python bench/ingest_events.py
	$(BIN)/python bench/marts.py --verify

## Remove the warehouse, the sample world and Dagster's run history (not the venv).
clean:
	test ! -f $(PG_DIR)/cluster.json || $(BIN)/python -m tools.pg_cluster stop $(PG_DIR)
	rm -rf data .dagster_home dbt_project/target dbt_project/logs
