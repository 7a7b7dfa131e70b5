"""Publish the marts to their own DuckDB file, so readers never hold the pipeline's lock.

DuckDB lets one process write a file and no other process open it meanwhile, not even
read-only. Analysts and BI tools therefore read `analytics.duckdb` (beside the warehouse), which
the pipeline writes as a new file and swaps in with an atomic rename: a reader with the old
file open keeps reading the old snapshot, the next connection sees the new one, and neither
ever blocks a run.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from ingestion.common import warehouse_path

MARTS_SCHEMA = "marts"


def published_path() -> Path:
    """`MARTS_PATH`, or `analytics.duckdb` beside the warehouse file.

    Not `marts.duckdb`: DuckDB names the catalog after the file, and a catalog `marts` beside
    the schema `marts` makes every `marts.table` reference ambiguous.
    """
    configured = os.environ.get("MARTS_PATH")
    default = warehouse_path().parent / "analytics.duckdb"
    return Path(configured).resolve() if configured else default


def publish_marts(source: Path | None = None, target: Path | None = None) -> dict[str, int]:
    """Copy every table of schema `marts` into a fresh file and swap it in; return row counts."""
    source = source or warehouse_path()
    target = target or published_path()
    staging = target.with_name(f".{target.stem}-{os.getpid()}.tmp")
    staging.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    try:
        with duckdb.connect(":memory:") as con:
            con.execute(f"attach '{staging}' as published")
            con.execute(f"attach '{source}' as warehouse (read_only)")
            con.execute(f"create schema published.{MARTS_SCHEMA}")
            tables = con.execute(
                "select table_name from information_schema.tables "
                "where table_catalog = 'warehouse' and table_schema = ? "
                "and table_type = 'BASE TABLE' order by 1",
                [MARTS_SCHEMA],
            ).fetchall()
            for (table,) in tables:
                con.execute(
                    f'create table published.{MARTS_SCHEMA}."{table}" as '
                    f'select * from warehouse.{MARTS_SCHEMA}."{table}"'
                )
                rows = con.execute(
                    f'select count(*) from published.{MARTS_SCHEMA}."{table}"'
                ).fetchall()
                counts[table] = rows[0][0]
            con.execute("detach warehouse")
            con.execute("detach published")
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    return counts
