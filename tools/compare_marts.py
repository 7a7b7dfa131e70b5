"""Compare every mart of a DuckDB warehouse with the same mart on PostgreSQL, row for row.

    python -m tools.compare_marts data/warehouse.duckdb postgresql://user:pw@host:5432/db

Rows are compared as sorted lists of tuples. Values are normalised so that the two drivers'
representations of the same value compare equal (Decimal and float, datetime with and without
a zone); doubles are compared to 9 significant digits, because the two engines may add up a
column in a different order. Exits 1 and prints the first differing rows when a mart differs.
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

SCHEMA = "marts"
SIGNIFICANT_DIGITS = 9


def normalise(value: Any) -> Any:
    """One representation per value, whichever engine and driver produced it."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal | float):
        number = float(value)
        if math.isnan(number) or number == 0:
            return number
        digits = SIGNIFICANT_DIGITS - int(math.floor(math.log10(abs(number)))) - 1
        return round(number, digits)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((value is None, "" if value is None else value) for value in row)


def _rows(raw: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted((tuple(normalise(value) for value in row) for row in raw), key=_sort_key)


Marts = dict[str, tuple[list[str], list[tuple[Any, ...]]]]
TABLES_SQL = (
    f"select table_name from information_schema.tables where table_schema = '{SCHEMA}' "
    "and table_type = 'BASE TABLE' order by 1"
)


def _read(cursor: Any) -> Marts:
    """Every table of schema `marts` through a DB-API cursor (DuckDB's or psycopg2's)."""
    cursor.execute(TABLES_SQL)
    marts: Marts = {}
    for (table,) in cursor.fetchall():
        cursor.execute(f'select * from "{SCHEMA}"."{table}"')
        columns = [column[0] for column in cursor.description]
        marts[table] = (columns, _rows(cursor.fetchall()))
    return marts


def read_duckdb(path: Path) -> Marts:
    """Every mart in a DuckDB file: (column names, normalised sorted rows) per table."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return _read(con.cursor())


def read_postgres(url: str) -> Marts:
    """Every mart on a PostgreSQL server, read like `read_duckdb`."""
    import psycopg2

    with psycopg2.connect(url) as con, con.cursor() as cursor:
        return _read(cursor)


def differences(left: Marts, right: Marts, show: int = 5) -> list[str]:
    """What differs between two sets of marts; empty when every mart is equal row for row."""
    problems = []
    for table in sorted(set(left) | set(right)):
        if table not in left or table not in right:
            problems.append(f"{table}: only on the {'right' if table in right else 'left'}")
            continue
        (left_columns, left_rows), (right_columns, right_rows) = left[table], right[table]
        if left_columns != right_columns:
            problems.append(f"{table}: columns differ: {left_columns} != {right_columns}")
            continue
        if left_rows == right_rows:
            continue
        only_left = [row for row in left_rows if row not in right_rows][:show]
        only_right = [row for row in right_rows if row not in left_rows][:show]
        problems.append(
            f"{table}: {len(left_rows)} rows vs {len(right_rows)} rows; "
            f"only left: {only_left}; only right: {only_right}"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    """CLI: compare a DuckDB file's marts with a PostgreSQL database's."""
    parser = argparse.ArgumentParser(prog="python -m tools.compare_marts", description=__doc__)
    parser.add_argument("duckdb_file", type=Path)
    parser.add_argument("postgres_url")
    args = parser.parse_args(argv)
    left, right = read_duckdb(args.duckdb_file), read_postgres(args.postgres_url)
    problems = differences(left, right)
    for problem in problems:
        print(problem)
    rows = sum(len(rows) for _, rows in left.values())
    verdict = "differ" if problems else "are equal, row for row"
    print(f"{len(left)} marts ({rows:,} rows) on DuckDB vs {len(right)} on PostgreSQL: {verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
