"""What `make run` skips or does faster (issue #16), and that each skip stays correct.

The dbt docs page is kept only while the project and the warehouse's tables and columns are
unchanged; the dbt resource neither runs `dbt --version` nor builds an in-process adapter; the
demo's Dagster history is written without fsync, and only under its own DAGSTER_HOME.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject
from packaging.version import Version
from sqlalchemy import create_engine, text

from ingestion.settings import WarehouseSettings
from orchestration import run as runner
from orchestration.lib import project, report
from orchestration.lib.project import (
    ProductOpsDbtCliResource,
    ProductOpsDbtProjectPreparer,
    dbt_inputs_fingerprint,
)


@pytest.fixture
def small_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dbt project folder of two files and a DuckDB warehouse with one table."""
    folder = tmp_path / "dbt_project"
    (folder / "models").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text("name: small\n")
    (folder / "models" / "a.sql").write_text("select 1 as id\n")
    monkeypatch.setattr(project, "DBT_PROJECT_DIR", folder)
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts; create table marts.a (id integer)")
        con.execute("create schema raw_x_staging; create table raw_x_staging.t (id integer)")
    return warehouse


def _settings(warehouse: Path) -> WarehouseSettings:
    return WarehouseSettings(engine="duckdb", path=warehouse)


def test_fingerprint_follows_project_files_and_columns_not_rows(small_project: Path) -> None:
    settings = _settings(small_project)
    first = dbt_inputs_fingerprint(settings)
    assert first is not None and first == dbt_inputs_fingerprint(settings)
    with duckdb.connect(str(small_project)) as con:  # rows: no change (docs hold no counts)
        con.execute("insert into marts.a values (1), (2)")
    assert dbt_inputs_fingerprint(settings) == first
    with duckdb.connect(str(small_project)) as con:  # dlt's staging tables are not dbt's
        con.execute("alter table raw_x_staging.t add column extra varchar")
    assert dbt_inputs_fingerprint(settings) == first
    with duckdb.connect(str(small_project)) as con:  # a new column changes the catalog
        con.execute("alter table marts.a add column name varchar")
    second = dbt_inputs_fingerprint(settings)
    assert second not in (None, first)
    (project.DBT_PROJECT_DIR / "models" / "a.sql").write_text("select 2 as id\n")
    assert dbt_inputs_fingerprint(settings) not in (None, first, second)


def test_fingerprint_of_dbt_relations_ignores_tables_dbt_does_not_declare(
    small_project: Path,
) -> None:
    manifest = {
        "nodes": {
            "model.p.a": {"resource_type": "model", "schema": "marts", "name": "a", "alias": "a"},
            "test.p.t": {"resource_type": "test", "schema": "marts", "name": "t"},
        },
        "sources": {"source.p.x.t": {"schema": "raw_x", "name": "t", "identifier": "t"}},
    }
    relations = project.dbt_relations(manifest)
    assert relations == {("marts", "a"), ("raw_x", "t")}
    settings = _settings(small_project)
    first = dbt_inputs_fingerprint(settings, relations)
    with duckdb.connect(str(small_project)) as con:  # a Python step's mart beside dbt's
        con.execute("create table marts.fct_experiment_results (id integer)")
    assert dbt_inputs_fingerprint(settings, relations) == first
    assert dbt_inputs_fingerprint(settings) != dbt_inputs_fingerprint(settings, relations)
    with duckdb.connect(str(small_project)) as con:
        con.execute("alter table marts.a add column name varchar")
    assert dbt_inputs_fingerprint(settings, relations) != first


def test_fingerprint_is_none_on_spark_and_without_a_warehouse(tmp_path: Path) -> None:
    missing = WarehouseSettings(engine="duckdb", path=tmp_path / "absent.duckdb")
    assert dbt_inputs_fingerprint(missing) is None
    spark = WarehouseSettings(engine="spark", path=tmp_path / "w.duckdb", spark_bucket_url="x")
    assert dbt_inputs_fingerprint(spark) is None


def test_docs_page_kept_while_unchanged_and_regenerated_after_a_change(
    small_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def fake_dbt(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        site = Path(command[command.index("--target-path") + 1]) / "static_index.html"
        site.parent.mkdir(parents=True, exist_ok=True)
        site.write_text(f"<html>docs {len(calls)}</html>")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(report.subprocess, "run", fake_dbt)
    settings, reports = _settings(small_project), tmp_path / "reports"
    page, generated = report.publish_dbt_docs_if_changed(reports, settings)
    assert generated and page.read_text() == "<html>docs 1</html>"
    assert report.publish_dbt_docs_if_changed(reports, settings) == (page, False)
    assert len(calls) == 1 and page.read_text() == "<html>docs 1</html>"
    with duckdb.connect(str(small_project)) as con:
        con.execute("create table marts.b (id integer)")
    assert report.publish_dbt_docs_if_changed(reports, settings) == (page, True)
    assert page.read_text() == "<html>docs 2</html>"
    page.unlink()  # a page deleted by hand is written again
    assert report.publish_dbt_docs(reports, settings) == page and len(calls) == 3


def test_failed_docs_generation_leaves_no_stamp(
    small_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "dbt-docs.html").write_text("old")
    (reports / report.DOCS_FINGERPRINT).write_text("stale\n")

    def failing_dbt(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 2, "Compilation Error in model a", "")

    monkeypatch.setattr(report.subprocess, "run", failing_dbt)
    with pytest.raises(report.DocsError, match="Compilation Error"):
        report.publish_dbt_docs_if_changed(reports, _settings(small_project))
    assert not (reports / report.DOCS_FINGERPRINT).exists()


def test_dbt_resource_skips_version_process_and_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    # The hooks overridden exist in this dagster-dbt: an upgrade that renames them fails here.
    assert "_cli_version" in vars(DbtCliResource)
    assert "_initialize_dbt_core_adapter" in vars(DbtCliResource)

    def no_process(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess, "check_output", no_process)
    resource = ProductOpsDbtCliResource(
        project_dir=str(project.DBT_PROJECT_DIR), dbt_executable=project.DBT_EXECUTABLE
    )
    assert resource._cli_version == Version(version("dbt-core"))
    assert resource._cli_version.major < 2  # dbt Core, not Fusion: dagster-dbt's Core path
    assert resource._initialize_dbt_core_adapter(["build"]) is None


@pytest.mark.usefixtures("history_fsync_undone")
def test_history_without_fsync_only_under_the_demo_home(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "dagster_home", tmp_path / "other"
    (home / "history").mkdir(parents=True)
    elsewhere.mkdir()

    def synchronous(path: Path) -> int:
        engine = create_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            value: Any = conn.execute(text("pragma synchronous")).scalar_one()
        engine.dispose()
        return int(value)

    runner.skip_history_fsync(home)
    runner.skip_history_fsync(home)  # a second call adds no second listener
    assert synchronous(home / "history" / "runs.db") == 0
    assert synchronous(elsewhere / "runs.db") == 2  # FULL, SQLite's default
    plain = sqlite3.connect(home / "plain.db")  # not through SQLAlchemy: untouched
    assert plain.execute("pragma synchronous").fetchone()[0] == 2
    plain.close()


def test_preparer_parses_the_project_without_a_version_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "_prepare_manifest" in vars(DagsterDbtProjectPreparer)  # what the subclass overrides
    folder = tmp_path / "tiny"
    (folder / "models").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text(
        "name: tiny\nversion: '1.0'\nconfig-version: 2\nprofile: tiny\n"
    )
    (folder / "profiles.yml").write_text(
        f"tiny:\n  target: duckdb\n  outputs:\n    duckdb:\n      type: duckdb\n"
        f"      path: {tmp_path / 'tiny.duckdb'}\n"
    )
    (folder / "models" / "one.sql").write_text("select 1 as id\n")

    def no_process(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"`dbt --version` was started: {args}")

    monkeypatch.setattr(subprocess, "check_output", no_process)
    tiny = DbtProject(project_dir=folder, profiles_dir=folder, target="duckdb")
    monkeypatch.setenv("PATH", f"{Path(project.DBT_EXECUTABLE).parent}:{os.environ['PATH']}")
    ProductOpsDbtProjectPreparer().prepare(tiny)
    manifest = json.loads(tiny.manifest_path.read_text())
    assert "model.tiny.one" in manifest["nodes"]
