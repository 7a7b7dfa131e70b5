"""WAREHOUSE=spark: the same tiny sample world on DuckDB and on Spark, every mart row for row.

Spark starts slowly (a JVM per dbt process) and this machine is small, so the world is tiny
(scale 0.02) and Spark runs once: the demo's whole run (loaders landing Parquet files, the
Great Expectations checks on them, dbt on Spark in local mode), then one Spark session reads
the marts. docs/spark.md.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from ingestion.parquet_files import duckdb_over_parquet, merged_rows_sql
from ingestion.settings import WarehouseSettings
from tests.toolkit.runs import run_demo, run_env
from tools.compare_marts import differences, read_duckdb
from tools.spark_marts import read_spark, read_spark_files

pytestmark = pytest.mark.slow

END_DATE = date(2026, 3, 31)


@dataclass
class Build:
    """One engine's run of the world: its environment and what the run printed."""

    root: Path
    env: dict[str, str]
    out: str


def _run(world: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_demo(world, env, scale=0.02, seed=7, end_date=END_DATE, page_size=25, timeout=1500)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Build]:
    """The same world run once on DuckDB and once on Spark."""
    root = tmp_path_factory.mktemp("spark")
    built: dict[str, Build] = {}
    for engine in ("duckdb", "spark"):
        folder = root / engine
        env = run_env(folder, WAREHOUSE=engine, GX_DOCS_DIR=str(folder / "gx_docs"), TZ="UTC")
        for setting in (
            "DESTINATION__POSTGRES__CREDENTIALS",
            "DESTINATION__FILESYSTEM__BUCKET_URL",
        ):
            env.pop(setting, None)
        if built:  # the very same files, so that the two engines' marts can be compared
            shutil.copytree(root / "duckdb" / "world", folder / "world")
        result = _run(folder / "world", env)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        # Every step ran: a dbt log line dagster-dbt cannot read (Spark once drew its progress
        # bar in front of one) loses that node's output and skips publishing and the report.
        assert "did not yield or return expected outputs" not in result.stdout + result.stderr
        assert "not written this run" not in result.stdout, result.stdout[-4000:]
        built[engine] = Build(folder, env, result.stdout)
    return built


def _settings(build: Build, monkeypatch: pytest.MonkeyPatch) -> WarehouseSettings:
    for key in ("WAREHOUSE", "WAREHOUSE_PATH"):
        monkeypatch.setenv(key, build.env[key])
    monkeypatch.delenv("DESTINATION__FILESYSTEM__BUCKET_URL", raising=False)
    return WarehouseSettings.from_env()


def test_raw_tables_land_as_parquet_and_read_like_dlts_merge(
    builds: dict[str, Build], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every raw table DuckDB has is a set of Parquet files whose merged view has its rows."""
    settings = _settings(builds["spark"], monkeypatch)
    assert settings.spark_bucket_url == (builds["spark"].root / "parquet").as_uri()
    assert list((builds["spark"].root / "parquet" / "raw_zendesk" / "tickets").glob("*.parquet"))
    import duckdb

    with (
        duckdb.connect(
            str(builds["duckdb"].root / "warehouse.duckdb"), read_only=True
        ) as on_duckdb,
        duckdb_over_parquet(settings.spark_bucket_url) as on_files,
    ):
        tables = on_duckdb.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema like 'raw\\_%' escape '\\' and table_name not like '\\_dlt%' "
            "escape '\\' and table_schema not like '%\\_staging' escape '\\'"
        ).fetchall()
        assert len(tables) >= 10
        for schema, table in tables:
            # Events: the DuckDB warehouse inserts the files itself and keeps a copy delivered
            # again in another file of the same load, which dlt's extract drops: the messages
            # are the same.
            rows = "count(distinct message_id)" if table == "events" else "count(*)"
            expected = on_duckdb.execute(f'select {rows} from "{schema}"."{table}"').fetchone()
            got = on_files.execute(f'select {rows} from "{schema}"."{table}"').fetchone()
            assert got == expected, f"{schema}.{table}"


def test_merged_view_keeps_the_latest_version_per_key() -> None:
    """Delete-insert keeps the latest load (greatest dedup_sort); insert-only the first load."""
    import duckdb

    con = duckdb.connect()
    con.execute(
        "create table loads as "
        "select * from (values ('1', 0), ('2', 0), ('3', 1)) v(load_id, status)"
    )
    con.execute(
        "create table files as select * from (values "
        "(1, 'a', '1', 'x1'), (1, 'b', '2', 'x2'), (1, 'c', '2', 'x3'), (1, 'z', '3', 'x4'),"
        " (2, 'd', '1', 'x5')) v(id, version_order, _dlt_load_id, _dlt_id)"
    )
    columns = {"id": {"primary_key": True}, "version_order": {"dedup_sort": "desc"}}
    latest = merged_rows_sql("files", "loads", {"write_disposition": "merge", "columns": columns})
    assert con.execute(f"select id, version_order from ({latest}) order by id").fetchall() == [
        (1, "c"),  # load 3 never completed; of load 2, the greatest version_order
        (2, "d"),
    ]
    first = merged_rows_sql(
        "files",
        "loads",
        {"write_disposition": "merge", "x-merge-strategy": "insert-only", "columns": columns},
    )
    assert con.execute(f"select id, version_order from ({first}) order by 1, 2").fetchall() == [
        (1, "a"),
        (2, "d"),
    ]


def test_every_mart_is_equal_on_duckdb_and_spark(
    builds: dict[str, Build], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Parquet files Spark wrote (and the Python mart beside them), and Spark's catalog."""
    settings = _settings(builds["spark"], monkeypatch)
    on_duckdb = read_duckdb(builds["duckdb"].root / "warehouse.duckdb")
    on_files = read_spark_files(settings)
    assert len(on_duckdb) >= 15
    assert sum(len(rows) for _, rows in on_files.values()) > 100
    assert differences(on_duckdb, on_files) == []
    # Spark's own catalog lists every mart dbt built (all but the one Python computes).
    on_spark = read_spark(settings.dbt_env())
    python_marts = {"fct_experiment_results"}
    assert set(on_spark) == set(on_duckdb) - python_marts
    assert (
        differences({k: v for k, v in on_duckdb.items() if k not in python_marts}, on_spark) == []
    )


def test_every_mart_has_duckdbs_column_types_on_spark(
    builds: dict[str, Build], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spark's timestamps land as UTC instants, so the published marts keep `timestamptz`.

    Spark writes Parquet timestamps as INT96 by default, which DuckDB reads as a naive
    TIMESTAMP: analytics.duckdb would then hold fct_tickets.created_at without a zone, and a
    reader whose session zone is not UTC would compare and convert it in the wrong zone.
    """
    import duckdb

    from ingestion.parquet_files import attach_built_tables

    settings = _settings(builds["spark"], monkeypatch)
    query = (
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_catalog = ? and table_schema = 'marts' order by all"
    )
    with duckdb.connect(str(builds["duckdb"].root / "warehouse.duckdb"), read_only=True) as con:
        expected = con.execute(query, ["warehouse"]).fetchall()
    with duckdb.connect() as con:
        attach_built_tables(con, settings, "spark")
        got = con.execute(query, ["spark"]).fetchall()
    assert ("fct_tickets", "created_at", "TIMESTAMP WITH TIME ZONE") in expected
    assert got == expected
