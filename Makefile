# Two commands do everything on a fresh machine (Python 3.11 + pip): `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= 1

.PHONY: install install-run run test test-fast ui lint bench clean java postgres-server run-postgres postgres-stop superset

# (Re)install when pyproject.toml changes; the stamps keep repeated runs instant. `make run`
# installs what running needs (plus the Spark extra when WAREHOUSE=spark); `make test` and the
# other developer targets install the dev extra, which includes Spark (the tests cover it).
EXTRAS := $(if $(filter spark,$(WAREHOUSE)),[spark],)
RUN_STAMP := $(VENV)/.installed-run$(if $(EXTRAS),-spark,)
$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.$(EXTRAS)'
	touch '$@'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)
install-run: $(RUN_STAMP)

## DEMO: sample world in (data/sample), marts out (data/demo/), checks run; prints a summary.
## SCALE=10 for a bigger world. Your own sources: `productops run` (README).
run: install-run $(if $(filter spark,$(WAREHOUSE)),java)
	$(BIN)/python -m demo.run --scale $(SCALE)

## The whole test suite, slow end-to-end tests included, on DuckDB and on a throwaway
## PostgreSQL server (installed from Debian's packages when missing). Two processes, one test
## file at a time each, slowest files first (docs/testing.md); TEST_WORKERS=0 runs in one.
TEST_WORKERS ?= 2
test: install postgres-server java
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

## Everything but the tests marked slow.
test-fast: install
	$(BIN)/python -m pytest -m "not slow"

## DEMO Dagster UI on http://127.0.0.1:3000 with the vendor sandbox serving the sample APIs.
## Your own sources: `.venv/bin/dagster dev` (README, "Running on your own data").
ui: install-run
	$(BIN)/python -m demo.run --scale $(SCALE) --ui --port 8765

## A local Superset with the ready "Product ops" dashboard on the published marts (docs/bi.md),
## in its own venv under data/superset/. MARTS=path/to/analytics.duckdb for another file.
superset:
	bash bi/superset/setup.sh $(MARTS)

## Java 17 (apt-get install openjdk-17-jre-headless) when missing, for WAREHOUSE=spark (docs/spark.md).
java:
	@bash tools/install_java.sh

## PostgreSQL server binaries (apt-get install postgresql) when missing.
postgres-server:
	@bash tools/install_postgres.sh

PG_DIR := data/postgres
## `make run` on a local throwaway PostgreSQL server in data/postgres (WAREHOUSE=postgres),
## left running so that you can query it; `make postgres-stop` stops and deletes it.
run-postgres: install-run postgres-server
	$(BIN)/python -m tools.pg_cluster ensure $(PG_DIR) > /dev/null
	eval "$$($(BIN)/python -m tools.pg_cluster env $(PG_DIR))" && \
		$(BIN)/python -m demo.run --scale $(SCALE) --use-environment --throwaway-warehouse

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
