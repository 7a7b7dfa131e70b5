"""Checks whose cost follows the new data still catch a bad row in a new load (#16).

dbt: on `dbt build`, the tests of stg_segment__events check the rows of the loads the run
added and those of int_events_attributed the days it rebuilt (tests/generic/new_rows.sql,
macros/new_rows.sql), still comparing ids with every older row; a first build,
`--full-refresh` and a plain `dbt test` check everything.

Great Expectations: the raw events suite validates only the completed dlt loads that staging
has not built yet (orchestration/lib/gx_checks.py, `BUILT_BY`); its uniqueness expectation
still compares them with every older completed load, its row count stays whole.

A bad row is planted the way a bug would leave it: in staging's table, under a load id that
is completed in `_dlt_loads` (so staging treats it as built) but that the models downstream
have not built yet.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestration.lib.gx_checks import Suite, load_suites, validate_table
from tests.toolkit.dbt import (
    L1,
    L2,
    L_FAILED,
    append_load,
    create_raw_warehouse,
    raw_event,
    run_dbt,
)
from tests.toolkit.usage_fixture import RAW_ROWS

L3 = "1706800000.000003"  # a clean new load
L4 = "1706900000.000004"  # the load a bug left a duplicate and a null in
NOW = datetime(2024, 3, 1, tzinfo=UTC)


def _node(work: Path, prefix: str) -> dict[str, Any]:
    """The last dbt invocation's result of the one node whose name starts with `prefix`."""
    run_results = json.loads((work / "target" / "run_results.json").read_text())
    (node,) = [
        n
        for n in run_results["results"]
        if n["unique_id"].split(".")[0] in ("model", "test")
        and n["unique_id"].split(".")[2].startswith(prefix)
    ]
    return dict(node)


def _status(work: Path, prefix: str) -> tuple[str, int | None]:
    """Status and failure count of a node of the last dbt invocation."""
    node = _node(work, prefix)
    return node["status"], node.get("failures")


def _compiled(work: Path, prefix: str) -> str:
    """The SQL the last dbt invocation ran for a node."""
    return str(_node(work, prefix)["compiled_code"])


def _ok(result: Any) -> str:
    return result.stdout[-6000:] + result.stderr[-2000:]


@pytest.mark.slow
def test_dbt_tests_check_new_rows_exactly(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    create_raw_warehouse(path, RAW_ROWS, completed_loads=[L1, L2], failed_loads=[L_FAILED])

    # First build: every row is checked.
    first = run_dbt(["build"], path, tmp_path)
    assert first.returncode == 0, _ok(first)
    stg_unique = "unique_in_new_rows_stg_segment__events_message_id"
    attributed_unique = "unique_in_new_rows_int_events_attributed_message_id"
    assert "dlt_load_id in (" not in _compiled(tmp_path, stg_unique)
    assert "activity_date >=" not in _compiled(tmp_path, attributed_unique)

    # A clean new load: the tests read that load, and the days it rebuilt.
    new_day = raw_event(
        "n1", "track", "2024-02-01T09:00:00Z", load=L3, user_id="u1", event="Report Created"
    )
    append_load(path, "raw_segment", "events", [{"_dlt_id": "n1", **new_day}], L3)
    second = run_dbt(["build"], path, tmp_path)
    assert second.returncode == 0, _ok(second)
    # L3, and L2 whose only row was a re-delivery (no kept row: it costs nothing); not L1.
    assert f"dlt_load_id in ('{L2}', '{L3}')" in _compiled(tmp_path, stg_unique)
    (restart,) = (
        duckdb.connect(str(path), read_only=True)
        .execute("select reprocess_from from intermediate.int_product_reprocess_from")
        .fetchone()
    )
    assert f"activity_date >= cast('{restart}' as date)" in _compiled(tmp_path, attributed_unique)

    # A bug leaves, in a new load, a copy of m1 (built from L1 on Jan 1) and a null id.
    with duckdb.connect(str(path)) as con:
        con.execute(
            "insert into raw_segment._dlt_loads values (?, 'raw_segment', 0, now(), 'hash')", [L4]
        )
        con.execute(
            "insert into staging.stg_segment__events by name select * replace ("
            " cast('2024-02-02 09:00:00+00' as timestamptz) as occurred_at,"
            " date '2024-02-02' as occurred_on, ? as dlt_load_id)"
            " from staging.stg_segment__events where message_id = 'm1'",
            [L4],
        )
        con.execute(
            "insert into staging.stg_segment__events by name select * replace ("
            " null as message_id, ? as dlt_load_id)"
            " from staging.stg_segment__events where message_id = 'n1'",
            [L4],
        )

    # The build fails on staging's tests and stops the models downstream, run after run.
    for _ in range(2):
        failed = run_dbt(["build"], path, tmp_path)
        assert failed.returncode != 0, _ok(failed)
        assert _status(tmp_path, stg_unique) == ("fail", 1)
        assert _status(tmp_path, "not_null_in_new_rows_stg_segment__events_message_id") == (
            "fail",
            1,
        )
        assert _status(tmp_path, "int_events_attributed")[0] == "skipped"
    # A plain `dbt test` checks all history: the same failures.
    tested = run_dbt(["test", "--select", "stg_segment__events"], path, tmp_path)
    assert tested.returncode != 0
    assert _status(tmp_path, stg_unique) == ("fail", 1)

    # Past staging's tests, int_events_attributed rebuilds Feb 2 with m1 in it again: its
    # tests read the rebuilt days only, yet find m1's Jan 1 row.
    downstream = run_dbt(["build", "--exclude", "stg_segment__events"], path, tmp_path)
    assert downstream.returncode != 0, _ok(downstream)
    assert _status(tmp_path, attributed_unique) == ("fail", 1)
    assert _status(tmp_path, "not_null_in_new_rows_int_events_attributed_message_id") == (
        "fail",
        1,
    )
    sql = _compiled(tmp_path, attributed_unique)
    assert "activity_date >= cast('2024-0" in sql  # restricted, not a full scan

    # --full-refresh rebuilds from raw (the planted rows are gone) and checks everything.
    full = run_dbt(["build", "--full-refresh"], path, tmp_path)
    assert full.returncode == 0, _ok(full)
    assert "dlt_load_id in (" not in _compiled(tmp_path, stg_unique)


# --- Great Expectations -----------------------------------------------------------------


def _events_suite() -> Suite:
    (suite,) = [s for s in load_suites() if s.table == "raw_segment.events"]
    return suite


def _raw_events(path: Path, rows: list[tuple[str | None, str]], loads: list[str]) -> None:
    """raw_segment.events rows (message_id, load id) and the completed loads."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists raw_segment")
        con.execute(
            "create table if not exists raw_segment._dlt_loads (load_id varchar, status bigint)"
        )
        con.execute(
            "create table if not exists raw_segment.events (message_id varchar, type varchar,"
            " timestamp timestamptz, received_at timestamptz, user_id varchar,"
            " anonymous_id varchar, event varchar, context_group_id varchar,"
            " _dlt_load_id varchar, _dlt_id varchar)"
        )
        for load in loads:
            con.execute("insert into raw_segment._dlt_loads values (?, 0)", [load])
        for index, (message_id, load) in enumerate(rows):
            con.execute(
                "insert into raw_segment.events values (?, 'track', '2024-02-01 09:00:00+00',"
                " '2024-02-01 09:00:01+00', 'u1', null, 'Report Created', null, ?, ?)",
                [message_id, load, f"{load}-{index}"],
            )


def _staging_built(path: Path, loads: list[str]) -> None:
    """staging.stg_segment__events as dbt leaves it: one row per message of these loads."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists staging")
        con.execute("drop table if exists staging.stg_segment__events")
        con.execute(
            "create table staging.stg_segment__events as select message_id,"
            " _dlt_load_id as dlt_load_id from raw_segment.events"
            f" where _dlt_load_id in ({', '.join('?' * len(loads))})",
            loads,
        )


def _failure(outcome: Any, expectation: str, column: str) -> dict[str, Any] | None:
    return next(
        (f for f in outcome.failures if f["expectation"] == expectation and f["column"] == column),
        None,
    )


def test_gx_raw_events_validates_the_new_loads_only(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    docs = tmp_path / "docs"
    suite = _events_suite()
    # An old load with a null id and a repeated id (already reported when it landed).
    _raw_events(path, [("a1", L1), ("a2", L1), ("a2", L1), (None, L1)], [L1])

    # Before staging exists: the whole table.
    whole = validate_table(suite, warehouse=path, now=NOW, render_to=docs)
    assert whole.loads is None and whole.rows == 4
    assert _failure(whole, "expect_column_values_to_not_be_null", "message_id")
    assert whole.severity == "error"

    # Staging built L1; a clean new load: only its 2 rows, and nothing fails.
    _staging_built(path, [L1])
    _raw_events(path, [("b1", L2), ("b2", L2)], [L2])
    clean = validate_table(suite, warehouse=path, now=NOW, render_to=docs)
    assert (clean.loads, clean.rows) == ([L2], 2)
    assert clean.severity == "passed", clean.describe()
    assert "2 rows of 1 new load(s)" in clean.describe()
    # The row count is the whole table's.
    (row_count,) = [
        r
        for r in clean.result.results  # type: ignore[union-attr]
        if r.expectation_config.type == "expect_table_row_count_to_be_between"
    ]
    assert row_count.result["observed_value"] == 6

    # A new load with a null id and an id an older load already has: both found, exactly.
    _staging_built(path, [L1, L2])
    _raw_events(path, [("c1", L3), (None, L3), ("b1", L3)], [L3])
    bad = validate_table(suite, warehouse=path, now=NOW, render_to=docs)
    assert (bad.loads, bad.rows) == ([L3], 3)
    nulls = _failure(bad, "expect_column_values_to_not_be_null", "message_id")
    assert nulls is not None and nulls["unexpected_count"] == 1
    duplicates = _failure(bad, "expect_column_values_to_be_unique", "message_id")
    assert duplicates is not None
    assert duplicates["unexpected_count"] == 2  # b1 of L3 and b1 of L2; not L1's a2 pair

    # The failed load is not built by staging, so the next run validates it again.
    _raw_events(path, [("d1", L4)], [L4])
    again = validate_table(suite, warehouse=path, now=NOW, render_to=docs)
    assert again.loads == [L3, L4] and again.rows == 4
    assert _failure(again, "expect_column_values_to_not_be_null", "message_id")

    # Nothing new: nothing read but the row count, and nothing fails.
    _staging_built(path, [L1, L2, L3, L4])
    idle = validate_table(suite, warehouse=path, now=NOW, render_to=docs)
    assert (idle.loads, idle.rows, idle.severity) == ([], 0, "passed")


@pytest.mark.slow
def test_gx_raw_events_by_load_on_postgres(postgres_warehouse: Any, tmp_path: Path) -> None:
    import psycopg2

    url = postgres_warehouse.url
    suite = _events_suite()
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        cursor.execute("create schema raw_segment")
        cursor.execute("create schema staging")
        cursor.execute("create table raw_segment._dlt_loads (load_id varchar, status bigint)")
        cursor.execute(
            "create table raw_segment.events (message_id varchar, type varchar,"
            " timestamp timestamptz, received_at timestamptz, user_id varchar,"
            " anonymous_id varchar, event varchar, context_group_id varchar,"
            " _dlt_load_id varchar, _dlt_id varchar)"
        )
        rows = [("a1", L1), ("a2", L1), ("a2", L1), ("c1", L3), (None, L3), ("a1", L3)]
        for index, (message_id, load) in enumerate(rows):
            cursor.execute(
                "insert into raw_segment.events values (%s, 'track', '2024-02-01 09:00:00+00',"
                " '2024-02-01 09:00:01+00', 'u1', null, 'Report Created', null, %s, %s)",
                (message_id, load, str(index)),
            )
        cursor.execute(f"insert into raw_segment._dlt_loads values ('{L1}', 0), ('{L3}', 0)")
        cursor.execute(
            "create table staging.stg_segment__events as select message_id,"
            f" _dlt_load_id as dlt_load_id from raw_segment.events where _dlt_load_id = '{L1}'"
        )
    con.close()
    outcome = validate_table(
        suite, engine="postgres", connection_string=url, now=NOW, render_to=tmp_path / "docs"
    )
    assert (outcome.loads, outcome.rows) == ([L3], 3)
    nulls = _failure(outcome, "expect_column_values_to_not_be_null", "message_id")
    assert nulls is not None and nulls["unexpected_count"] == 1
    duplicates = _failure(outcome, "expect_column_values_to_be_unique", "message_id")
    assert duplicates is not None and duplicates["unexpected_count"] == 2  # a1 of L3 and of L1
    (row_count,) = [
        r
        for r in outcome.result.results  # type: ignore[union-attr]
        if r.expectation_config.type == "expect_table_row_count_to_be_between"
    ]
    assert row_count.result["observed_value"] == 6
