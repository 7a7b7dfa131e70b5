"""Reading a warehouse after a load or a build: rows, row counts, completed loads, rejects.

Every reader opens its own short connection (DuckDB read-only) and closes it, so a test never
holds the lock a following load or dbt run needs. DuckDB sessions read in UTC, the time zone
the marts are defined in, so a timestamp cast to a date gives the same day on any machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import psycopg2

Rows = list[tuple[Any, ...]]


def query(warehouse: Path, sql: str) -> Rows:
    """Rows of `sql` on a DuckDB warehouse file (read-only, UTC)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql).fetchall()


def pg_query(url: str, sql: str) -> Rows:
    """Rows of `sql` on a PostgreSQL warehouse (`query` for WAREHOUSE=postgres)."""
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def row_count(warehouse: Path, table: str) -> int:
    """Rows in `schema.table`."""
    return int(query(warehouse, f"select count(*) from {table}")[0][0])


def table_counts(warehouse: Path, schema: str) -> dict[str, int]:
    """Rows per table of one schema (dlt's own `_dlt_*` tables left out)."""
    tables = query(
        warehouse,
        "select table_name from information_schema.tables"
        f" where table_schema = '{schema}' and table_name not like '\\_dlt%' escape '\\'",
    )
    return {name: row_count(warehouse, f'{schema}."{name}"') for (name,) in tables}


def completed_loads(warehouse: Path, dataset: str) -> int:
    """dlt loads of a dataset that completed (status 0 in `_dlt_loads`): what staging reads."""
    sql = f"select count(*) from {dataset}._dlt_loads where status = 0"
    return int(query(warehouse, sql)[0][0])


def rejects(warehouse: Path, dataset: str, columns: str = "location, reason") -> Rows:
    """A dataset's `rejected_records` (the records a loader set aside), ordered by all columns."""
    return query(warehouse, f"select {columns} from {dataset}.rejected_records order by all")


def column_types(warehouse: Path, table: str) -> dict[str, str]:
    """Column name -> DuckDB type of `schema.table`, in the table's column order."""
    schema, name = table.split(".")
    rows = query(
        warehouse,
        "select column_name, data_type from information_schema.columns"
        f" where table_schema = '{schema}' and table_name = '{name}' order by ordinal_position",
    )
    return dict(rows)
