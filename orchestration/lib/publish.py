"""Publish the marts to their own DuckDB file, so readers never hold the pipeline's lock.

DuckDB lets one process write a file and no other process open it meanwhile, not even
read-only. Analysts and BI tools therefore read `analytics.duckdb` (beside the warehouse), which
the pipeline writes as a new file and swaps in with an atomic rename: a reader with the old
file open keeps reading the old snapshot, the next connection sees the new one, and neither
ever blocks a run.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import duckdb
import psutil

from ingestion.settings import WarehouseSettings

MARTS_SCHEMA = "marts"

# The oldest storage format that holds everything the marts use. DuckDB 2 writes a newer format
# by default, which the DuckDB 1.x engines embedded in most BI drivers refuse to open
# ("version number 69 ... can only read 64-68"); a file written as v1.4.0 opens in 1.4 and later.
STORAGE_VERSION = "v1.4.0"

log = logging.getLogger(__name__)


def published_path(settings: WarehouseSettings | None = None) -> Path:
    """`MARTS_PATH`, or `analytics.duckdb` beside the warehouse file.

    Not `marts.duckdb`: DuckDB names the catalog after the file, and a catalog `marts` beside
    the schema `marts` makes every `marts.table` reference ambiguous.
    """
    configured = os.environ.get("MARTS_PATH")
    if configured:
        return Path(configured).resolve()
    return (settings or WarehouseSettings.from_env()).path.parent / "analytics.duckdb"


def publish_marts(
    source: Path | None = None,
    target: Path | None = None,
    settings: WarehouseSettings | None = None,
) -> dict[str, int]:
    """Copy every table of schema `marts` into a fresh file and swap it in; return row counts."""
    settings = settings or WarehouseSettings.from_env()
    source = source or settings.path
    target = target or published_path(settings)
    staging = target.with_name(f".{target.stem}-{os.getpid()}.tmp")
    remove_stale_staging(target)
    staging.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    try:
        with duckdb.connect(":memory:") as con:
            # Paths travel as parameters: a folder named with a quote must neither break the
            # statement nor inject SQL.
            con.execute(
                f"attach ? as published (storage_version '{STORAGE_VERSION}')", [str(staging)]
            )
            if settings.engine == "spark":
                # The marts' Parquet files from the Spark warehouse folder (docs/spark.md).
                from ingestion.parquet_files import attach_built_tables

                attach_built_tables(con, settings, "warehouse")
            else:
                con.execute("attach ? as warehouse (read_only)", [str(source)])
            con.execute(f"create schema published.{MARTS_SCHEMA}")
            tables = con.execute(
                "select table_name from information_schema.tables "
                "where table_catalog = 'warehouse' and table_schema = ? "
                "and table_type = 'BASE TABLE' order by 1",
                [MARTS_SCHEMA],
            ).fetchall()
            for (table,) in tables:
                quoted = '"' + table.replace('"', '""') + '"'
                con.execute(
                    f"create table published.{MARTS_SCHEMA}.{quoted} as "
                    f"select * from warehouse.{MARTS_SCHEMA}.{quoted}"
                )
                rows = con.execute(
                    f"select count(*) from published.{MARTS_SCHEMA}.{quoted}"
                ).fetchall()
                counts[table] = rows[0][0]
            con.execute("detach warehouse")
            con.execute("detach published")
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
        staging.with_name(staging.name + ".wal").unlink(missing_ok=True)
    return counts


def remove_stale_staging(target: Path) -> list[Path]:
    """Delete staging files left by a publish whose process died (a kill mid-publish).

    A staging file is named after the publishing process's PID; one whose process is gone can
    never be swapped in, so it is only wasted disk. A live process's file is left alone.
    """
    removed: list[Path] = []
    prefix = f".{target.stem}-"
    if not target.parent.is_dir():
        return removed
    for stale in target.parent.iterdir():
        if not (stale.name.startswith(prefix) and stale.name.endswith(".tmp")):
            continue
        pid_text = stale.name[len(prefix) : -len(".tmp")]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and psutil.pid_exists(int(pid_text)):
            continue
        stale.unlink(missing_ok=True)
        stale.with_name(stale.name + ".wal").unlink(missing_ok=True)
        log.info("removed %s, left by a publish that did not finish", stale)
        removed.append(stale)
    return removed
