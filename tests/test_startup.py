"""A first run's dbt parse starts before the run's imports, and its result is what dbt reuses.

`orchestration.lib.startup.start()` parses in the background; `project.dbt_project` takes that
parse instead of parsing again, and a later dbt command partial-parses from it (the same
profile and environment as dagster-dbt's own parse). On a small project of its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from dagster_dbt import DbtProject

from ingestion.settings import WarehouseSettings
from orchestration.lib import project, startup

PROFILE = """\
productops:
  target: "{{ env_var('WAREHOUSE', 'duckdb') }}"
  outputs:
    duckdb:
      type: duckdb
      path: "{{ env_var('WAREHOUSE_PATH') }}"
      schema: main
      threads: 1
"""


@pytest.fixture
def small_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dbt project with a seed and a model, where startup and project look for one."""
    folder = tmp_path / "dbt_project"
    (folder / "models").mkdir(parents=True)
    (folder / "seeds").mkdir()
    (folder / "dbt_project.yml").write_text("name: small\nprofile: productops\n")
    (folder / "profiles.yml").write_text(PROFILE)
    (folder / "seeds" / "plans.csv").write_text("plan,seats\nteam,12\n")
    (folder / "models" / "a.sql").write_text("select * from {{ ref('plans') }}\n")
    manifest = folder / "target" / "manifest.json"
    monkeypatch.setattr(startup, "DBT_PROJECT_DIR", folder)
    monkeypatch.setattr(startup, "MANIFEST_PATH", manifest)
    monkeypatch.setattr(startup, "STAMP_PATH", manifest.parent / startup.STAMP_PATH.name)
    monkeypatch.setattr(startup, "_parse", None)
    monkeypatch.setattr(project, "DBT_PROJECT_DIR", folder)
    monkeypatch.setenv("WAREHOUSE", "duckdb")
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    return folder


def _parse_folders(folder: Path) -> list[Path]:
    return list((folder / "target").glob("productops_dbt-parse-*"))


def test_startup_knows_where_dagster_dbt_writes_the_manifest() -> None:
    dbt = DbtProject(project_dir=startup.DBT_PROJECT_DIR, profiles_dir=startup.DBT_PROJECT_DIR)
    assert dbt.manifest_path == startup.MANIFEST_PATH


def test_the_background_parse_is_taken_and_dbt_reuses_it(
    small_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert startup.start()
    assert not startup.start()  # one at a time

    def parse_again(*_: object) -> None:
        raise AssertionError("dbt_project parsed again instead of taking the background parse")

    monkeypatch.setattr(project.ProductOpsDbtProjectPreparer, "prepare", parse_again)
    settings = WarehouseSettings.from_env()
    dbt = project.dbt_project(settings)

    manifest = json.loads(dbt.manifest_path.read_text())
    assert "model.small.a" in manifest["nodes"] and "seed.small.plans" in manifest["nodes"]
    identity = startup.warehouse_identity(settings)
    assert startup.STAMP_PATH.read_text() == startup.stamp_text(identity, small_project)
    assert _parse_folders(small_project) == []  # moved out, then deleted
    assert not startup.start()  # current now: nothing to parse

    # A dbt command started the way the dbt asset starts one partial-parses from it: the
    # background parse ran in the environment dagster-dbt gives dbt.
    target = small_project / "target" / "ls"
    with project.dbt_process_env(settings):
        resource = project.ProductOpsDbtCliResource(
            project_dir=dbt,  # type: ignore[arg-type]
            dbt_executable=startup.DBT_EXECUTABLE,
        )
        resource.cli(["ls"], target_path=target).wait()
    log = (target / "dbt.log").read_text()
    assert "Unable to do partial parsing" not in log
    # Nothing parsed again, the seed included (not marked changed, as dagster-dbt's own
    # preparation would: ProductOpsDbtProjectPreparer).
    assert "0 files deleted, 0 files added, 0 files changed" in log
    assert "Found 1 model, 1 seed" in log


def test_a_parse_for_another_warehouse_is_dropped(
    small_project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert startup.start()  # for warehouse.duckdb
    prepared: list[Path] = []
    monkeypatch.setattr(
        project.ProductOpsDbtProjectPreparer,
        "prepare",
        lambda _self, dbt: prepared.append(dbt.project_dir),
    )
    other = WarehouseSettings(engine="duckdb", path=tmp_path / "other.duckdb")
    project.dbt_project(other)
    assert prepared == [small_project]  # dagster-dbt's own preparation ran instead
    assert _parse_folders(small_project) == []
    assert startup.STAMP_PATH.read_text() == startup.stamp_text("duckdb:other", small_project)


def test_a_manifest_parsed_in_another_folder_is_not_current(tmp_path: Path) -> None:
    """dbt's partial-parse file keeps each seed's folder: a moved project parses again."""
    here, moved = tmp_path / "here", tmp_path / "moved"
    for folder in (here, moved):
        (folder / "target").mkdir(parents=True)
        (folder / "dbt_project.yml").write_text("name: small\n")
    manifest, stamp = here / "target" / "manifest.json", here / "target" / "stamp"
    manifest.write_text("{}")
    stamp.write_text(startup.stamp_text("duckdb:warehouse", here))
    assert startup.manifest_is_current(manifest, here, stamp, "duckdb:warehouse")
    assert not startup.manifest_is_current(manifest, here, stamp, "duckdb:other")
    stamp.write_text(startup.stamp_text("duckdb:warehouse", moved))
    assert not startup.manifest_is_current(manifest, here, stamp, "duckdb:warehouse")


@pytest.mark.parametrize(
    "changed", ["models/m.sql", "snapshots/s.sql", "dbt_packages/p/macros/x.sql", "profiles.yml"]
)
def test_any_dbt_input_newer_than_the_manifest_makes_it_stale(tmp_path: Path, changed: str) -> None:
    """What a dbt command reads, not only models, seeds, macros and tests: a new snapshot is a
    new asset, an installed package brings macros, the profile sets what `target` renders."""
    (tmp_path / "target").mkdir()
    (tmp_path / "dbt_project.yml").write_text("name: small\n")
    manifest, stamp = tmp_path / "target" / "manifest.json", tmp_path / "target" / "stamp"
    manifest.write_text("{}")
    stamp.write_text(startup.stamp_text("duckdb:warehouse", tmp_path))
    os.utime(manifest, (1_000_000, 1_000_000))
    os.utime(tmp_path / "dbt_project.yml", (999_000, 999_000))
    assert startup.manifest_is_current(manifest, tmp_path, stamp, "duckdb:warehouse")
    source = tmp_path / changed
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("-- changed after the parse\n")  # written now: newer than the manifest
    assert not startup.manifest_is_current(manifest, tmp_path, stamp, "duckdb:warehouse")
