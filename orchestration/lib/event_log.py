"""Dagster's SQLite event log, written through one engine per file while the runner runs.

Dagster's default storage (`SqliteEventLogStorage`) builds a new SQLAlchemy engine for every
write, connects, writes one event, commits and disposes of the engine; SQLAlchemy initializes
the dialect on each engine's first connection. A build stores ~1,100 events (each asset or
check event is also mirrored in the index file: two or three writes), at 8-10 ms of CPU per
asset event. Keeping one engine per SQLite file for the duration of the runner, with
SQLAlchemy's own pool, brings that to 2-3 ms. Every write is still its own
transaction, committed before the next one, so another process (`dagster dev`, a second run)
sees what it saw before; the pooled connections are closed when the runner is done.
PostgreSQL storage (deploy/dagster.yaml) is not touched. tests/test_event_log.py fails if a
Dagster upgrade changes the method this replaces.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def pooled_sqlite_event_log() -> Iterator[None]:
    """While the block runs, Dagster's SQLite event log reuses one engine per file."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
    from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
    from sqlalchemy import create_engine
    from sqlalchemy.engine import Connection, Engine

    original = SqliteEventLogStorage._connect
    engines: dict[str, Engine] = {}
    engines_lock = threading.Lock()

    @contextmanager
    def _connect(self: SqliteEventLogStorage, shard: str) -> Iterator[Connection]:
        # As Dagster's own `_connect`, except that the engine (and its pool) is kept.
        with self._db_lock:
            conn_string = self.conn_string_for_shard(shard)
            with engines_lock:
                engine = engines.get(conn_string)
                if engine is None:
                    engine = create_engine(
                        conn_string, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
                    )
                    engines[conn_string] = engine
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    patched: Any = _connect
    SqliteEventLogStorage._connect = patched  # type: ignore[method-assign]
    try:
        yield
    finally:
        SqliteEventLogStorage._connect = original  # type: ignore[method-assign]
        with engines_lock:
            for engine in engines.values():
                engine.dispose()
            engines.clear()
