"""What PostgreSQL's planner is given (dbt_project/macros/postgres_planner.sql), on a real server.

Each of these is a config that no mart value would reveal if it silently stopped working, only
a build that grows from a minute to an hour at scale 10 (docs/postgres.md, "How fast"):
staging and intermediate models are tables there, every table is analyzed as soon as it is
built, `stg_segment__events` gets its index on `message_id` even when its table was built
without one, and `fct_funnel_weekly` is planned without nested loops.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.toolkit.dbt import L1, create_raw_postgres, raw_event, run_dbt
from tests.toolkit.warehouse import Rows, pg_query

pytestmark = pytest.mark.slow

ZENDESK = {
    "raw_zendesk.tickets": [
        {"id": 1, "created_at": "2024-01-02T10:00:00Z", "updated_at": "2024-01-02T11:00:00Z",
         "status": "open", "priority": "high", "organization_id": 7, "_dlt_load_id": L1},
        {"id": 2, "created_at": "2024-01-03T10:00:00Z", "updated_at": "2024-01-03T11:00:00Z",
         "status": "solved", "organization_id": 7, "_dlt_load_id": L1},
    ],
    "raw_zendesk.organizations": [
        {"id": 7, "external_id": "acme", "created_at": "2024-01-01T00:00:00Z",
         "updated_at": "2024-01-01T00:00:00Z", "_dlt_load_id": L1},
    ],
    "raw_segment.events": [
        raw_event("m1", "track", "2024-01-02T09:00:00Z", user_id="u1", event="Signed Up"),
        raw_event("m2", "track", "2024-01-02T09:05:00Z", user_id="u1", event="Project Created"),
    ],
}  # fmt: skip
SELECT = "+int_tickets_enriched +stg_segment__events +fct_funnel_weekly"
MESSAGE_ID_INDEXES = (
    "select indexdef from pg_indexes where schemaname = 'staging'"
    " and tablename = 'stg_segment__events' and indexdef like '%(message_id)'"
)


def _dbt(args: list[str], work: Path) -> str:
    """dbt on the test's PostgreSQL database; its stdout, the build asserted to pass."""
    result = run_dbt(args, work / "unused.duckdb", work)
    assert result.returncode == 0, result.stdout[-4000:]
    return result.stdout


def _manual_analyze(url: str, schema: str, table: str) -> Rows:
    """`last_analyze` of a table: set by an explicit `analyze` only, never by autovacuum.

    The server publishes a backend's statistics counters when it ends; dbt has exited, but
    the counters can still be a moment behind, so this waits for them (up to 10 s)."""
    sql = (
        "select last_analyze from pg_stat_user_tables"
        f" where schemaname = '{schema}' and relname = '{table}'"
    )
    for _ in range(20):
        rows = pg_query(url, sql)
        if rows and rows[0][0] is not None:
            return rows
        time.sleep(0.5)
    return pg_query(url, sql)


@dataclass(frozen=True)
class Built:
    """The test database after one build of `SELECT`, and the folder dbt writes to."""

    url: str
    work: Path


@pytest.fixture(scope="module")
def built(postgres_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:  # noqa: ANN001
    """The models of `SELECT` built once on a fresh database (dbt pointed at it meanwhile)."""
    from ingestion.settings import dbt_env

    work = tmp_path_factory.mktemp("postgres_planner")
    database = postgres_server.create_database(f"planner_{uuid.uuid4().hex[:8]}")
    create_raw_postgres(database.url, ZENDESK, completed_loads=[L1])
    with pytest.MonkeyPatch.context() as env:
        for key, value in database.env().items():
            env.setenv(key, value)
        for key, value in dbt_env().items():
            env.setenv(key, value)
        env.setenv("DBT_LOG_LEVEL_FILE", "debug")  # the hooks' SQL is in the debug log only
        _dbt(["build", "--select", SELECT, "--resource-type", "seed", "--resource-type", "model"],
             work)  # fmt: skip
        yield Built(str(database.url), work)


def test_models_later_ones_join_are_analyzed_tables(built: Built) -> None:
    """No view under the marts: a deduplicating view is estimated at a handful of rows."""
    kinds = dict(
        pg_query(
            built.url,
            "select table_name, table_type from information_schema.tables"
            " where table_schema in ('staging', 'intermediate')",
        )
    )
    for model in ("stg_zendesk__tickets", "stg_zendesk__organizations", "int_tickets_enriched"):
        assert kinds[model] == "BASE TABLE", kinds
    assert "VIEW" not in kinds.values(), kinds
    # Analyzed by the post-hook, with the rows it has (not the -1 of a never-analyzed table).
    for schema, table, rows in (
        ("intermediate", "int_tickets_enriched", 2),
        ("staging", "stg_zendesk__tickets", 2),
        ("marts", "fct_funnel_weekly", None),
    ):
        assert _manual_analyze(built.url, schema, table)[0][0] is not None, table
        if rows is not None:
            sql = f"select reltuples from pg_class where oid = '{schema}.{table}'::regclass"
            assert pg_query(built.url, sql) == [(rows,)]
    sql = "select ticket_id, account_id from intermediate.int_tickets_enriched order by 1"
    assert pg_query(built.url, sql) == [(1, "acme"), (2, "acme")]


def test_funnel_is_planned_without_nested_loops(built: Built) -> None:
    """The pre-hook ran in the model's build (`set local`: it ends with its transaction)."""
    log = (built.work / "logs" / "dbt.log").read_text()
    assert "set local enable_nestloop = off" in log
    assert "set local jit = off" in log


def test_events_index_added_to_a_table_built_without_it(built: Built) -> None:
    """An incremental run indexes a table built before the index existed; never twice."""
    assert len(pg_query(built.url, MESSAGE_ID_INDEXES)) == 1
    (name,) = pg_query(
        built.url,
        "select indexname from pg_indexes where schemaname = 'staging'"
        " and tablename = 'stg_segment__events'",
    )[0]
    pg_query(built.url, f'drop index staging."{name}"; select 1')
    assert pg_query(built.url, MESSAGE_ID_INDEXES) == []
    _dbt(["run", "--select", "stg_segment__events"], built.work)  # incremental, no new load
    assert len(pg_query(built.url, MESSAGE_ID_INDEXES)) == 1
    _dbt(["run", "--select", "stg_segment__events"], built.work)
    _dbt(["run", "--select", "stg_segment__events", "--full-refresh"], built.work)
    assert len(pg_query(built.url, MESSAGE_ID_INDEXES)) == 1
    sql = "select message_id from staging.stg_segment__events order by 1"
    assert pg_query(built.url, sql) == [("m1",), ("m2",)]
