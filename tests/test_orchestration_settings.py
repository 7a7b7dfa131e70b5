"""Warehouse settings as one value, the dbt manifest prepared once per change, folder groups."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from dagster_dbt.dbt_project import DagsterDbtProjectPreparer

from ingestion.settings import WarehouseSettingError, WarehouseSettings
from ingestion.sources import API_SOURCES, SOURCE_SYSTEMS
from orchestration.lib import project
from orchestration.lib.dbt_translator import ProductOpsDbtTranslator

PG_URL = "postgresql://loader:s3cret@db.internal:5433/analytics"


def test_duckdb_settings_are_values(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WAREHOUSE", raising=False)
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "w.duckdb"))
    settings = WarehouseSettings.from_env()
    assert settings == WarehouseSettings(engine="duckdb", path=tmp_path / "w.duckdb")
    assert settings.dbt_env() == {
        "WAREHOUSE": "duckdb",
        "WAREHOUSE_PATH": str(tmp_path / "w.duckdb"),
    }
    assert settings.describe() == str(tmp_path / "w.duckdb")
    assert settings.pipelines_dir() == tmp_path / ".dlt_pipelines" / "w"
    with pytest.raises(WarehouseSettingError, match="WAREHOUSE=postgres"):
        settings.postgres_url()
    # A value: later changes to the environment do not move it.
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "other.duckdb"))
    assert settings.path == tmp_path / "w.duckdb"


def test_postgres_settings_take_dlt_credentials_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAREHOUSE", "postgres")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", PG_URL)
    settings = WarehouseSettings.from_env()
    env = settings.dbt_env()
    assert env["DBT_POSTGRES_HOST"] == "db.internal"
    assert env["DBT_POSTGRES_PORT"] == "5433"
    assert env["DBT_POSTGRES_USER"] == "loader"
    assert env["DBT_POSTGRES_PASSWORD"] == "s3cret"
    assert env["DBT_POSTGRES_DBNAME"] == "analytics"
    assert env["PGOPTIONS"] == "-c TimeZone=UTC"
    assert settings.describe() == "PostgreSQL db.internal:5433/analytics (WAREHOUSE=postgres)"
    assert "s3cret" not in repr(settings)
    url = settings.postgres_url()
    assert url.startswith("postgresql://loader:s3cret@db.internal:5433/analytics?")
    assert url.endswith("&options=-c%20TimeZone%3DUTC")
    assert settings.pipelines_dir().name == "postgres-db.internal-5433-analytics"


def test_bad_engine_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAREHOUSE", "oracle")
    with pytest.raises(WarehouseSettingError, match="WAREHOUSE='oracle' is not supported"):
        WarehouseSettings.from_env()


def test_dbt_process_env_is_scoped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WAREHOUSE_PATH", raising=False)
    monkeypatch.setenv("WAREHOUSE", "duckdb")
    path_before = os.environ["PATH"]
    settings = WarehouseSettings(engine="duckdb", path=tmp_path / "scoped.duckdb")
    with project.dbt_process_env(settings):
        assert os.environ["WAREHOUSE_PATH"] == str(tmp_path / "scoped.duckdb")
        assert os.environ["PATH"].split(os.pathsep)[0] == str(Path(project.DBT_EXECUTABLE).parent)
    assert "WAREHOUSE_PATH" not in os.environ
    assert os.environ["PATH"] == path_before


@pytest.fixture
def tiny_project(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, list[str]]:
    """A dbt project folder with one model, and a preparer that records its parses."""
    folder = tmp_path / "dbt"
    (folder / "models").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text("name: tiny\nprofile: tiny\n")
    (folder / "profiles.yml").write_text("tiny: {}\n")
    (folder / "models" / "m.sql").write_text("select 1 as x\n")
    parses: list[str] = []

    def fake_prepare(self: DagsterDbtProjectPreparer, dbt_project: object) -> None:
        parses.append(os.environ["WAREHOUSE_PATH"])  # the dbt process would see this
        time.sleep(0.3)  # long enough for a second process to arrive meanwhile
        dbt_project.manifest_path.parent.mkdir(exist_ok=True)  # type: ignore[attr-defined]
        dbt_project.manifest_path.write_text("{}")  # type: ignore[attr-defined]

    monkeypatch.setattr(project, "DBT_PROJECT_DIR", folder)
    monkeypatch.setattr(DagsterDbtProjectPreparer, "prepare", fake_prepare)
    monkeypatch.delenv("DAGSTER_IS_DEV_CLI", raising=False)
    return folder, parses


def test_manifest_is_parsed_once_when_two_start_together(
    tiny_project: tuple[Path, list[str]], tmp_path: Path
) -> None:
    folder, parses = tiny_project
    settings = WarehouseSettings(engine="duckdb", path=tmp_path / "a.duckdb")
    threads = [threading.Thread(target=project.dbt_project, args=(settings,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert parses == [str(tmp_path / "a.duckdb")]
    stamp = (folder / "target" / "warehouse_path.txt").read_text()
    assert stamp == project.stamp_text("duckdb:a", folder)
    project.dbt_project(settings)  # nothing changed: no parse
    assert len(parses) == 1


def test_manifest_is_parsed_again_for_a_changed_model_or_warehouse(
    tiny_project: tuple[Path, list[str]], tmp_path: Path
) -> None:
    folder, parses = tiny_project
    first = WarehouseSettings(engine="duckdb", path=tmp_path / "a.duckdb")
    project.dbt_project(first)
    project.dbt_project(WarehouseSettings(engine="duckdb", path=tmp_path / "b.duckdb"))
    assert parses == [str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb")]
    manifest = folder / "target" / "manifest.json"
    project.dbt_project(first)  # stamped for b: parse for a again
    assert len(parses) == 3
    later = manifest.stat().st_mtime + 5
    os.utime(folder / "models" / "m.sql", (later, later))
    project.dbt_project(first)
    assert len(parses) == 4


def _props(fqn: list[str], resource_type: str = "model", **extra: object) -> dict[str, object]:
    return {"fqn": fqn, "resource_type": resource_type, "name": fqn[-1], **extra}


def test_groups_come_from_the_folder() -> None:
    translator = ProductOpsDbtTranslator()
    assert translator.get_group_name(_props(["productops", "marts", "product", "f"])) == "product"
    assert translator.get_group_name(_props(["productops", "staging", "zendesk", "s"])) == "zendesk"
    assert translator.get_group_name(_props(["productops", "semantic", "spine"])) == "semantic"
    assert translator.get_group_name(_props(["productops", "seed_x"], "seed")) == "seeds"
    configured = _props(["productops", "marts", "product", "f"], meta={"dagster": {"group": "g"}})
    assert translator.get_group_name(configured) == "g"
    assert translator.get_owners(_props(["productops", "marts", "product", "f"])) == [
        "team:data-engineering"
    ]
    owned = _props(["productops", "marts", "x", "f"], meta={"dagster": {"owners": ["a@b.c"]}})
    assert translator.get_owners(owned) == ["a@b.c"]


def test_the_registry_answers_which_sources_are_apis() -> None:
    assert [system.name for system in API_SOURCES] == ["zendesk", "typeform", "stripe"]
    for system in SOURCE_SYSTEMS:
        assert system.package.__name__ == f"ingestion.{system.name}"
        assert callable(system.package.load)
