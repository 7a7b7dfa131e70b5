"""Group-call ties on `timestamp` are broken alike on DuckDB and PostgreSQL.

docs/metrics.md: a user's (and an account's) latest group call is the latest by `timestamp`;
a tie goes to the later `received_at`, then the greater `messageId`. `receivedAt` is optional
in a Segment message, and the engines sort a null differently in a descending order (DuckDB
and Spark put it last, PostgreSQL first), so the models say where it goes. messageIds are
compared byte by byte, whatever collation the PostgreSQL database has.

    user  group calls, all at 2024-01-05T10:00:00Z             latest group
    u1    g1 acc_a (received 10:00:05), g2 acc_b (no receivedAt)   acc_a: a missing
                                                                   receivedAt is not later
    u2    m-B acc_c, m-a acc_d (same receivedAt)                   acc_d: 'm-a' > 'm-B' (bytes)
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from psycopg2 import sql

from tests.toolkit.dbt import L1, raw_event, raw_warehouse_for_dbt, run_dbt
from tools.pg_cluster import Cluster

pytestmark = pytest.mark.slow

T = "2024-01-05T10:00:00Z"


def _group(message_id: str, user: str, group: str, **fields: Any) -> dict[str, Any]:
    return raw_event(message_id, "group", T, L1, user_id=user, group_id=group, **fields)


EVENTS = [
    _group("g1", "u1", "acc_a", received_at="2024-01-05T10:00:05Z"),
    _group("g2", "u1", "acc_b", received_at=None),
    _group("m-B", "u2", "acc_c"),
    _group("m-a", "u2", "acc_d"),
]


def _icu_database(server: Cluster, name: str) -> Cluster:
    """A database whose default collation is linguistic (ICU en-US), as on many servers."""
    con = psycopg2.connect(server.url)
    try:
        con.autocommit = True
        with con.cursor() as cursor:
            cursor.execute(
                sql.SQL(
                    "create database {} template template0 encoding 'UTF8' "
                    "locale_provider icu icu_locale 'en-US' locale 'C.UTF-8'"
                ).format(sql.Identifier(name))
            )
    finally:
        con.close()
    return replace(server, database=name)


@pytest.mark.parametrize("engine", ["duckdb", "postgres", "postgres_icu"])
def test_latest_group_call_tie_breaks(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same latest group per user on DuckDB, PostgreSQL and an ICU-collated PostgreSQL."""
    database = None
    if engine != "duckdb":
        server = request.getfixturevalue("postgres_server")
        name = f"ties_{uuid.uuid4().hex[:8]}"
        database = (
            _icu_database(server, name)
            if engine == "postgres_icu"
            else server.create_database(name)
        )
    path = tmp_path / "warehouse.duckdb"
    read = raw_warehouse_for_dbt({"raw_segment.events": EVENTS}, path, monkeypatch, database)
    result = run_dbt(["build", "--select", "+int_user_latest_group"], path, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    statement = "select user_id, latest_group_id from intermediate.int_user_latest_group order by 1"
    assert read(statement) == [("u1", "acc_a"), ("u2", "acc_d")]
