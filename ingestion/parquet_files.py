"""The raw Parquet files dlt lands when `WAREHOUSE=spark`, read as the tables dlt would keep.

dlt's filesystem destination writes one file per table and load
(`<bucket>/<dataset>/<table>/<load_id>.<file_id>.parquet`), records each finished load in
`<dataset>/_dlt_loads/` and each schema version in `<dataset>/_dlt_version/`. On plain files
its merge falls back to append, so a record changed in three loads has three rows. Spark reads
them through views that apply dlt's merge (`dbt_project/macros/spark.sql`); the Great
Expectations checks read them here the same way, through an in-memory DuckDB over the files
(no Spark session per check, and no lock on Spark's single-process local metastore).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import duckdb

from ingestion.settings import WarehouseSettingError, WarehouseSettings, spark_bucket_url


def local_folder(bucket_url: str) -> Path:
    """The local folder of a `file://` bucket (or a plain path)."""
    parsed = urlparse(bucket_url)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    raise WarehouseSettingError(
        f"the Great Expectations checks read the raw Parquet files from a local folder; "
        f"DESTINATION__FILESYSTEM__BUCKET_URL={bucket_url} is remote: run the checks where the "
        "bucket is mounted, or point them at a local copy (docs/spark.md)"
    )


def _literal(path: Path | str) -> str:
    """A path as a SQL string literal (a quote in a folder name must not end the string)."""
    return "'" + str(path).replace("'", "''") + "'"


def _read_parquet(folder: Path, options: str = "") -> str:
    """`read_parquet` of every Parquet file in `folder`."""
    return f"read_parquet({_literal(folder / '*.parquet')}{options})"


def dlt_tables(folder: Path) -> dict[str, Any]:
    """The tables of the newest dlt schema stored in a dataset folder (empty when none)."""
    versions = []
    for path in sorted((folder / "_dlt_version").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                versions.append(json.loads(line))
    if not versions:
        return {}
    newest = max(versions, key=lambda version: (version["inserted_at"], version["version"]))
    schema = newest["schema"]
    tables: dict[str, Any] = (json.loads(schema) if isinstance(schema, str) else schema)["tables"]
    return tables


def merged_rows_sql(
    files: str, loads: str, table: dict[str, Any], parent_view: str | None = None
) -> str:
    """SQL for the rows dlt's merge keeps of `files` (the same rule as macros/spark.sql).

    Per primary key: the rows of the latest completed load (greatest `dedup_sort` first) for a
    delete-insert merge, the rows of the first completed load for an insert-only merge. A
    child table without `_dlt_root_id` takes it from its parent key, and keeps only the
    children of the rows `parent_view` (its parent's merged view) keeps.
    """
    columns = table.get("columns", {})
    keys = [name for name, column in columns.items() if column.get("primary_key")]
    sorts = [
        f"{name} {column['dedup_sort']}"
        for name, column in columns.items()
        if column.get("dedup_sort")
    ]
    completed = f"_dlt_load_id in (select load_id from {loads} where status = 0)"
    if table.get("parent") and "_dlt_root_id" not in columns:
        kept = (
            f" where _dlt_parent_id in (select _dlt_id from {parent_view})" if parent_view else ""
        )
        return f"select *, _dlt_parent_id as _dlt_root_id from {files}{kept}"
    if table.get("write_disposition") != "merge" or not keys or table.get("parent"):
        return f"select * from {files}"
    partition = ", ".join(keys)
    if table.get("x-merge-strategy") == "insert-only":
        rank = f"dense_rank() over (partition by {partition} order by _dlt_load_id)"
    else:
        order = ", ".join(["_dlt_load_id desc", *sorts, "_dlt_id"])
        rank = f"row_number() over (partition by {partition} order by {order})"
    return (
        f"select * exclude (dlt_merge_rank) from (select *, {rank} as dlt_merge_rank "
        f"from {files} where {completed}) where dlt_merge_rank = 1"
    )


def duckdb_over_parquet(
    bucket_url: str | None = None, spark_home: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose schemas are views over the Parquet files of the Spark warehouse.

    Every dataset folder under the bucket becomes a schema, every table dlt wrote files for a
    view with dlt's merge applied, and `_dlt_loads` a view over dlt's load records. With
    `spark_home`, the tables dbt built on Spark (`<spark_home>/warehouse/<schema>.db/<table>`,
    Parquet) are views too, e.g. `marts.fct_tickets`.
    """
    root = local_folder(bucket_url or spark_bucket_url())
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    if spark_home is not None:
        _built_tables(con, spark_home / "warehouse")
    if not root.is_dir():
        return con
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        dataset = folder.name
        if not list(folder.glob("_dlt_loads/*.jsonl")):
            continue
        con.execute(f'create schema if not exists "{dataset}"')
        loads = f'"{dataset}"."_dlt_loads"'
        con.execute(
            f"create view {loads} as select * from "
            f"read_json_auto({_literal(folder / '_dlt_loads' / '*.jsonl')}, "
            "format = 'newline_delimited')"
        )
        for name, table in sorted(dlt_tables(folder).items()):
            files = folder / name
            if name.startswith("_dlt") or not list(files.glob("*.parquet")):
                continue
            source = _read_parquet(files, ", union_by_name = true")
            parent = f'"{dataset}"."{table["parent"]}"' if table.get("parent") else None
            rows = merged_rows_sql(source, loads, table, parent)
            con.execute(f'create view "{dataset}"."{name}" as {rows}')
    return con


def _built_tables(con: duckdb.DuckDBPyConnection, warehouse_dir: Path) -> None:
    """Views over the managed Parquet tables of a local Spark warehouse folder."""
    for schema, table, folder in built_table_folders(warehouse_dir):
        con.execute(f'create schema if not exists "{schema}"')
        con.execute(f'create view "{schema}"."{table}" as select * from {_read_parquet(folder)}')


def built_table_folders(warehouse_dir: Path) -> Iterator[tuple[str, str, Path]]:
    """(schema, table, folder) of every table with Parquet files in a Spark warehouse folder.

    Spark keeps a managed table as `<warehouse>/<schema>.db/<table>/part-*.parquet`.
    """
    if not warehouse_dir.is_dir():
        return
    for database in sorted(warehouse_dir.glob("*.db")):
        schema = database.name.removesuffix(".db")
        for folder in sorted(path for path in database.iterdir() if path.is_dir()):
            if list(folder.glob("*.parquet")):
                yield schema, folder.name, folder


def spark_files(settings: WarehouseSettings) -> duckdb.DuckDBPyConnection:
    """`duckdb_over_parquet` for a `WAREHOUSE=spark` setting: raw files and dbt-built tables."""
    return duckdb_over_parquet(settings.spark_bucket_url, settings.spark_home)


def write_built_table(
    con: duckdb.DuckDBPyConnection,
    settings: WarehouseSettings,
    schema: str,
    table: str,
    query: str,
) -> int:
    """Replace a table of the Spark warehouse folder with the rows of a query on `con`.

    For the marts Python computes (`marts.fct_experiment_results`): one Parquet file written
    beside the folder, then renamed over the table's single file (an atomic rename), so
    readers see the old file or the new one. Files of another writer (a table Spark wrote
    there before, in several parts) are removed first. Readers of the files (the checks, the
    report, the published marts) see the table; Spark's catalog does not (docs/spark.md).
    Returns the row count.
    """
    folder = settings.spark_home / "warehouse" / f"{schema}.db" / table
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{table}.parquet.tmp"
    target = folder / "part-00000.parquet"
    con.execute(f"copy ({query}) to {_literal(staging)} (format parquet)")
    rows = con.execute(f"select count(*) from read_parquet({_literal(staging)})").fetchone()
    for old in folder.glob("*.parquet"):
        if old != target:
            old.unlink()
    staging.replace(target)
    return int(rows[0]) if rows else 0


def attach_built_tables(
    con: duckdb.DuckDBPyConnection, settings: WarehouseSettings, catalog: str
) -> None:
    """Attach an in-memory database `catalog` holding a copy of every table built on Spark."""
    con.execute(f"attach ':memory:' as \"{catalog}\"")
    for schema, table, folder in built_table_folders(settings.spark_home / "warehouse"):
        con.execute(f'create schema if not exists "{catalog}"."{schema}"')
        con.execute(
            f'create table "{catalog}"."{schema}"."{table}" as '
            f"select * from {_read_parquet(folder)}"
        )
