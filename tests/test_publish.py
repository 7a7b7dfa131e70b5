"""Readers open the published marts file; publishing never waits for them or breaks them."""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration.lib.publish import publish_marts


def _warehouse(path: Path, dau: int) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        con.execute("create or replace table marts.fct_active_users_daily (dau integer)")
        con.execute("insert into marts.fct_active_users_daily values (?)", [dau])
        con.execute("create schema if not exists staging")
        con.execute("create or replace table staging.not_published (x integer)")


def test_publish_swaps_a_new_file_in_while_a_reader_holds_the_old(tmp_path: Path) -> None:
    warehouse, published = tmp_path / "warehouse.duckdb", tmp_path / "analytics.duckdb"
    _warehouse(warehouse, dau=1)
    assert publish_marts(warehouse, published) == {"fct_active_users_daily": 1}

    reader = duckdb.connect(str(published), read_only=True)
    try:
        assert reader.execute("select dau from marts.fct_active_users_daily").fetchall() == [(1,)]
        _warehouse(warehouse, dau=2)
        publish_marts(warehouse, published)  # must not fail although the reader is connected
        # The open reader keeps its consistent snapshot; a new connection sees the new data.
        assert reader.execute("select dau from marts.fct_active_users_daily").fetchall() == [(1,)]
    finally:
        reader.close()
    with duckdb.connect(str(published), read_only=True) as fresh:
        assert fresh.execute("select dau from marts.fct_active_users_daily").fetchall() == [(2,)]
        schemas = {
            r[0] for r in fresh.execute("select schema_name from duckdb_schemas()").fetchall()
        }
        assert "staging" not in schemas
    assert not list(tmp_path.glob(".*.tmp"))
