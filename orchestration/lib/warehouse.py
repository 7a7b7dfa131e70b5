"""Opening the warehouse from this process: DuckDB's write lock waited out, any engine read."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestion.settings import WarehouseSettings

if TYPE_CHECKING:
    import duckdb

# How long an open waits for another process (a concurrent run, dlt, dbt) to release the file.
LOCK_WAIT_SECONDS = 600.0


def connect_when_free(
    path: Path, *, read_only: bool = False, timeout: float = LOCK_WAIT_SECONDS
) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file, waiting (with backoff) while another process holds its write lock.

    DuckDB lets one process hold a writable file; any other open, read-only included, fails
    with a lock error until that process closes it. Other errors raise at once.
    """
    import duckdb

    deadline, delay = time.monotonic() + timeout, 0.2
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


@contextlib.contextmanager
def read_cursor(settings: WarehouseSettings) -> Iterator[Any]:
    """A DB-API cursor that reads the warehouse, whichever engine hosts it.

    PostgreSQL: the server (psycopg2, `%s` parameters). Spark: an in-memory DuckDB with a view
    per raw and built table over their Parquet files (docs/spark.md). DuckDB: the file opened
    read-only once no other process writes it.
    """
    if settings.engine == "postgres":
        import psycopg2

        with psycopg2.connect(settings.postgres_url()) as pg, pg.cursor() as cursor:
            yield cursor
        pg.close()  # psycopg2's `with` ends the transaction, not the connection
    elif settings.engine == "spark":
        from ingestion.parquet_files import spark_files

        with spark_files(settings) as files:
            yield files.cursor()
    else:
        with connect_when_free(settings.path, read_only=True) as con:
            yield con.cursor()
