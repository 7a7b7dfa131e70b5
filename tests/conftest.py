"""Shared fixtures: every test gets its own warehouse file, never the project's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pytest

from tools import pg_cluster
from tools.pg_cluster import Cluster


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("WAREHOUSE_PATH", str(path))
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "ERROR")
    return path


def query(warehouse: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read the warehouse after a load released it."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def pg_query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Read a PostgreSQL warehouse (`query` for WAREHOUSE=postgres)."""
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A throwaway PostgreSQL server for the whole test run, stopped and deleted at the end.

    Needs Debian's postgresql package (`make test` and .ci/run install it when missing); a
    missing server is an error, not a skip.
    """
    with pg_cluster.running(tmp_path_factory.mktemp("postgres") / "cluster") as cluster:
        yield cluster


@pytest.fixture
def postgres_warehouse(
    postgres_server: Cluster, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Cluster:
    """A fresh database on the test server, and WAREHOUSE=postgres pointing at it."""
    label = "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:40]
    name = f"t{uuid.uuid4().hex[:8]}_{label}"
    database = postgres_server.create_database(name)
    for key, value in database.env().items():
        monkeypatch.setenv(key, value)
    return database
