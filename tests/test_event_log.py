"""The runner's Dagster SQLite event log (one engine per file) and dbt's file log level."""

from __future__ import annotations

import inspect
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation
from dagster._core.events import AssetMaterializationPlannedData, DagsterEvent, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from ingestion.settings import WarehouseSettings
from orchestration import run as runner
from orchestration.lib import project
from orchestration.lib.event_log import pooled_sqlite_event_log


def _entry(run_id: str, event_type: DagsterEventType, data: Any) -> EventLogEntry:
    """One event of a step of run `run_id`, as a run stores it."""
    return EventLogEntry(
        error_info=None,
        level="INFO",
        user_message="",
        run_id=run_id,
        timestamp=time.time(),
        step_key="step",
        job_name="job",
        dagster_event=DagsterEvent(event_type.value, "job", event_specific_data=data),
    )


def _planned(run_id: str, number: int) -> EventLogEntry:
    """An asset event: stored in the run's file and mirrored in the index file."""
    key = dg.AssetKey(["a", str(number)])
    return _entry(
        run_id, DagsterEventType.ASSET_MATERIALIZATION_PLANNED, AssetMaterializationPlannedData(key)
    )


@pytest.fixture
def dbapi_connects() -> Any:
    """The list of SQLite files SQLAlchemy opened a DB-API connection to, one entry per open."""
    opened: list[str] = []

    def record(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            opened.append(dbapi_connection.execute("pragma database_list").fetchone()[2])

    event.listen(Engine, "connect", record)
    yield opened
    event.remove(Engine, "connect", record)


def _check_result(run_id: str, number: int) -> EventLogEntry:
    """An asset check result (what each dbt test and GX suite stores): Dagster first asks
    whether its table of check executions exists."""
    evaluation = AssetCheckEvaluation(
        asset_key=dg.AssetKey(["a", str(number)]),
        check_name="unique",
        passed=number % 2 == 0,
        metadata={},
    )
    return _entry(run_id, DagsterEventType.ASSET_CHECK_EVALUATION, evaluation)


def test_replaced_methods_are_dagsters_connect_and_has_table() -> None:
    # What pooled_sqlite_event_log replaces: a Dagster upgrade that renames them fails here.
    connect, has_table = (vars(SqliteEventLogStorage)[name] for name in ("_connect", "has_table"))
    assert list(inspect.signature(connect).parameters) == ["self", "shard"]
    assert list(inspect.signature(has_table).parameters) == ["self", "table_name"]


def test_events_stored_through_one_connection_per_file(
    tmp_path: Path, dbapi_connects: list[str]
) -> None:
    original = SqliteEventLogStorage._connect
    with pooled_sqlite_event_log():
        storage = SqliteEventLogStorage(str(tmp_path))
        storage.store_event(_planned("run1", 0))  # creates and migrates the run's file
        dbapi_connects.clear()
        for number in range(1, 20):
            storage.store_event(_planned("run1", number))
        # 19 events, each written to the run file and the index file: the pool's connection
        # to each file is reused (at most one more to the index for its own reads).
        assert set(dbapi_connects) <= {str(tmp_path / "run1.db"), str(tmp_path / "index.db")}
        assert len(dbapi_connects) <= 2
        # Each write is committed at once: another connection sees all 20 meanwhile.
        with sqlite3.connect(tmp_path / "run1.db") as other:
            assert other.execute("select count(*) from event_logs").fetchone() == (20,)
        assert len(storage.get_logs_for_run("run1")) == 20
        records = storage.fetch_materializations(dg.AssetKey(["a", "7"]), limit=5).records
        assert records == []  # planned, not materialized: the index holds it apart
    assert SqliteEventLogStorage._connect is original
    plain = SqliteEventLogStorage(str(tmp_path / "plain"))
    plain.store_event(_planned("run2", 0))
    dbapi_connects.clear()
    for number in range(1, 4):
        plain.store_event(_planned("run2", number))
    assert len(dbapi_connects) >= 6  # Dagster's own, after the block: a connection per write


def test_check_results_ask_for_their_table_through_the_kept_engine(
    tmp_path: Path, dbapi_connects: list[str]
) -> None:
    originals = {name: vars(SqliteEventLogStorage)[name] for name in ("_connect", "has_table")}
    with pooled_sqlite_event_log():
        storage = SqliteEventLogStorage(str(tmp_path))
        storage.store_event(_check_result("run1", 0))
        dbapi_connects.clear()
        for number in range(1, 20):
            storage.store_event(_check_result("run1", number))
        # Dagster's own `has_table` opens the index file anew for each result.
        assert len(dbapi_connects) <= 2
        assert storage.has_table("asset_check_executions")
        assert not storage.has_table("no_such_table")
        key = dg.AssetCheckKey(dg.AssetKey(["a", "4"]), "unique")
        latest = storage.get_latest_asset_check_execution_by_key([key])[key]
        assert latest is not None and latest.run_id == "run1"
        assert latest.status.value == "SUCCEEDED"  # number 4 passed
    assert {name: vars(SqliteEventLogStorage)[name] for name in originals} == originals


@pytest.mark.usefixtures("history_fsync_undone")
def test_pooled_connections_keep_the_demo_without_fsync(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    (home / "history" / "runs").mkdir(parents=True)
    runner.skip_history_fsync(home)
    with pooled_sqlite_event_log():
        storage = SqliteEventLogStorage(str(home / "history" / "runs"))
        storage.store_event(_planned("run1", 1))
        with storage.run_connection("run1") as conn:
            assert conn.execute(text("pragma synchronous")).scalar_one() == 0


@pytest.mark.slow
def test_dbt_file_log_at_info_unless_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dbt's own precedence: the project's `flags: log_level_file`, then an exported variable.
    settings = WarehouseSettings(engine="duckdb", path=tmp_path / "warehouse.duckdb")

    def parse_log(name: str) -> str:
        logs = tmp_path / name
        command = [project.DBT_EXECUTABLE, "parse", "--no-partial-parse", "--target", "duckdb"]
        command += ["--target-path", str(tmp_path / f"target-{name}"), "--log-path", str(logs)]
        command += ["--project-dir", str(project.DBT_PROJECT_DIR)]
        command += ["--profiles-dir", str(project.DBT_PROJECT_DIR)]
        with project.dbt_process_env(settings):
            subprocess.run(command, check=True, capture_output=True)
        return (logs / "dbt.log").read_text()

    monkeypatch.delenv("DBT_LOG_LEVEL_FILE", raising=False)
    quiet = parse_log("default")
    assert "[info ]" in quiet and "[debug]" not in quiet
    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "debug")
    assert "[debug]" in parse_log("exported")
