"""Fixtures for every test, defined once here; the helpers they use live in tests/toolkit/.

Every test gets its own warehouse file, never the project's.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

import pytest

from demo.sandbox import Sandbox
from tests.toolkit.sandbox import write_world
from tests.toolkit.small_marts import make_duckdb_marts
from tools import pg_cluster
from tools.pg_cluster import Cluster

if TYPE_CHECKING:
    import dagster as dg

# pytest-xdist starts its workers (`make test`) with `python -c`, whose main module has no
# __file__: pyspark, imported by Great Expectations when installed, then takes the worker for a
# doctest run and exits (SystemExit 0 inside the first GX test). Name it like a script.
if sys.modules["__main__"].__spec__ is None and not hasattr(sys.modules["__main__"], "__file__"):
    sys.modules["__main__"].__file__ = "pytest-xdist-worker"


# The slowest files, longest first (the CI log's `--durations` list). They start first, so that
# `make test`'s two processes (pytest-xdist, one file at a time each) do not end with one
# process still running a 7-minute file while the other has finished.
SLOWEST_FIRST = (
    "test_spark_engine.py",
    "test_end_to_end.py",
    "test_build_skip.py",
    "test_any_source.py",
    "test_crash_recovery.py",
    "test_run_own_data.py",
    "test_concurrency.py",
    "test_incremental_checks.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the files of SLOWEST_FIRST before all others; each file's tests keep their order."""
    rank = {name: place for place, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOWEST_FIRST)))


@pytest.fixture(autouse=True)
def _environment_as_before() -> Iterator[None]:
    """Put back every environment variable a test changed, whatever changed it.

    Product code writes `os.environ` (`.env` loading, the demo's settings), and a test that
    forgets to undo it leaks settings into the next test of the same process, which depends on
    the order files run in (`make test` runs two processes, slowest files first). Variables a
    session or module fixture set up for this test are kept: they are set before this runs.
    """
    with mock.patch.dict(os.environ):
        yield


@pytest.fixture
def history_fsync_undone() -> Iterator[None]:
    """Undo `orchestration.run.skip_history_fsync` after the test (a process-wide hook)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from orchestration import run as runner

    yield
    if event.contains(Engine, "connect", runner._no_fsync):
        event.remove(Engine, "connect", runner._no_fsync)
    runner._NO_FSYNC_HOMES.clear()


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DuckDB warehouse file of the test's own (WAREHOUSE_PATH), dlt logging errors only."""
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("WAREHOUSE_PATH", str(path))
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "ERROR")
    return path


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
    postgres_server: Cluster,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Cluster:
    """A fresh database on the test server, and WAREHOUSE=postgres pointing at it.

    WAREHOUSE_PATH in the test's folder: dlt's state for the server (`pipelines_dir`) lives
    beside it, not in the project's data/.
    """
    label = "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:40]
    name = f"t{uuid.uuid4().hex[:8]}_{label}"
    database = postgres_server.create_database(name)
    for key, value in database.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "data" / "warehouse.duckdb"))
    return database


@pytest.fixture
def sandbox(tmp_path: Path, warehouse: Path) -> Iterator[Sandbox]:
    """The vendor sandbox serving `write_world`'s small world, two records a page."""
    with Sandbox(write_world(tmp_path / "world"), page_size=2) as box:
        yield box


@pytest.fixture(scope="session")
def defs() -> dg.Definitions:
    """The project's Dagster definitions (imported once: the import builds the dbt manifest)."""
    from orchestration.definitions import defs

    return defs


@pytest.fixture
def duckdb_marts(tmp_path: Path) -> Path:
    """A warehouse holding the small hand-written marts of tests/toolkit/small_marts.py."""
    return make_duckdb_marts(tmp_path / "warehouse.duckdb")


# test_api_loaders.py still imports `pg_query` from here; its owner moves it to tests.toolkit.
from tests.toolkit.warehouse import pg_query, query  # noqa: E402, F401
