"""Dagster's SQLite event log, written through one engine per file while the runner runs.

Dagster's default storage (`SqliteEventLogStorage`) builds a new SQLAlchemy engine for every
write, connects, writes one event, commits and disposes of the engine; SQLAlchemy initializes
the dialect on each engine's first connection. A build stores ~1,100 events (each asset or
check event is also mirrored in the index file: two or three writes), at 8-10 ms of CPU per
asset event. Keeping one engine per SQLite file for the duration of the runner, with
SQLAlchemy's own pool, brings that to 2-3 ms. Every write is still its own
transaction, committed before the next one, so another process (`dagster dev`, a second run)
sees what it saw before; the pooled connections are closed when the runner is done.

Dagster also asks whether a table exists before each asset check result (and each event with
tags), building yet another engine for the index file each time (`has_table`): ~270 times a
build. The runner answers through the kept engine and remembers a table it found (Dagster
creates its tables when the storage starts or is migrated, never during a run): half the CPU
of storing a check result.

PostgreSQL storage (deploy/dagster.yaml) is not touched. tests/test_event_log.py fails if a
Dagster upgrade changes the methods this replaces.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def pooled_sqlite_event_log() -> Iterator[None]:
    """While the block runs, Dagster's SQLite event log reuses one engine per file."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
        INDEX_SHARD_NAME,
        SqliteEventLogStorage,
    )
    from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
    from sqlalchemy import create_engine
    from sqlalchemy.engine import Connection, Engine

    originals = {name: vars(SqliteEventLogStorage)[name] for name in ("_connect", "has_table")}
    engines: dict[str, Engine] = {}
    engines_lock = threading.Lock()
    tables_found: set[tuple[str, str]] = set()

    def kept_engine(conn_string: str) -> Engine:
        with engines_lock:
            engine = engines.get(conn_string)
            if engine is None:
                engine = create_engine(
                    conn_string, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
                )
                engines[conn_string] = engine
            return engine

    @contextmanager
    def _connect(self: SqliteEventLogStorage, shard: str) -> Iterator[Connection]:
        # As Dagster's own `_connect`, except that the engine (and its pool) is kept.
        with self._db_lock:
            engine = kept_engine(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self: SqliteEventLogStorage, table_name: str) -> bool:
        # As Dagster's own `has_table` (the index file), through the kept engine.
        conn_string = self.conn_string_for_shard(INDEX_SHARD_NAME)
        if (conn_string, table_name) in tables_found:
            return True
        engine = kept_engine(conn_string)
        with engine.connect() as conn:
            found = bool(engine.dialect.has_table(conn, table_name))
        if found:
            tables_found.add((conn_string, table_name))
        return found

    for name, replacement in (("_connect", _connect), ("has_table", has_table)):
        setattr(SqliteEventLogStorage, name, replacement)
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(SqliteEventLogStorage, name, original)
        with engines_lock:
            for engine in engines.values():
                engine.dispose()
            engines.clear()
