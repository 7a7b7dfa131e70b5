"""Shared fixtures: every test gets its own warehouse file, never the project's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest


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
