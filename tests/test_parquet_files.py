"""The Parquet readers of WAREHOUSE=spark: paths that need quoting, and a table swapped whole."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from ingestion.parquet_files import duckdb_over_parquet, write_built_table
from ingestion.settings import WarehouseSettings


def _dlt_dataset(folder: Path) -> None:
    """A dataset as dlt's filesystem destination writes it: one append table, one load."""
    (folder / "_dlt_loads").mkdir(parents=True)
    (folder / "_dlt_loads" / "1.jsonl").write_text(json.dumps({"load_id": "1", "status": 0}))
    (folder / "_dlt_version").mkdir()
    schema = {"tables": {"events": {"write_disposition": "append", "columns": {"id": {}}}}}
    version = {"inserted_at": "2026-01-01T00:00:00", "version": 1, "schema": schema}
    (folder / "_dlt_version" / "v1.jsonl").write_text(json.dumps(version))
    (folder / "events").mkdir()
    target = str(folder / "events" / "1.parquet").replace("'", "''")
    duckdb.connect().execute(
        "copy (select * from (values ('a', '1'), ('b', '2')) v(id, _dlt_load_id)) "
        f"to '{target}' (format parquet)"
    )


def test_a_bucket_path_with_a_quote_is_read(tmp_path: Path) -> None:
    bucket = tmp_path / "team's bucket"
    _dlt_dataset(bucket / "raw_segment")
    with duckdb_over_parquet(str(bucket)) as con:
        assert con.execute("select count(*) from raw_segment._dlt_loads").fetchone() == (1,)
        # append tables keep every landed row; staging filters completed loads (as on DuckDB)
        rows = con.execute("select id from raw_segment.events order by id").fetchall()
    assert rows == [("a",), ("b",)]


def test_write_built_table_replaces_the_table_whole(tmp_path: Path) -> None:
    settings = WarehouseSettings(
        engine="spark", path=tmp_path / "it's" / "warehouse.duckdb", spark_bucket_url="unused"
    )
    folder = settings.spark_home / "warehouse" / "marts.db" / "fct_x"
    folder.mkdir(parents=True)
    # parts Spark wrote before: replaced, not read beside the new file
    con = duckdb.connect()
    for part in ("part-00000.parquet", "part-00001.parquet"):
        target = str(folder / part).replace("'", "''")
        con.execute(f"copy (select 0 as n) to '{target}' (format parquet)")
    assert write_built_table(con, settings, "marts", "fct_x", "select * from range(3) t(n)") == 3
    assert sorted(path.name for path in folder.iterdir()) == ["part-00000.parquet"]
    assert write_built_table(con, settings, "marts", "fct_x", "select 7 as n") == 1
    glob = str(folder / "*.parquet").replace("'", "''")
    assert con.execute(f"select n from read_parquet('{glob}')").fetchall() == [(7,)]
    assert not list(folder.parent.glob(".*.tmp"))
