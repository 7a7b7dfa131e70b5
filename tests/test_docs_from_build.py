"""The dbt docs page from the build that just ran (issue #16: the first `make run`).

`report__dbt_docs` used to run a whole `dbt docs generate` (parse and compile every node again,
about 15 s of a first run); after a whole `dbt build` it now reads only the catalog, in that
build's target folder, with the build's compiled manifest. These tests pin when it may
(`compiled_whole_project`), that it falls back to a full generation otherwise, and, with the
real dbt on a tiny project, that the page still holds the compiled SQL and the catalog.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion.settings import WarehouseSettings
from orchestration.lib import project, report

RUN_ID = "4d7d9b92-09d2-4f30-9828-e168fd2c328a"


def _manifest(folder: Path, compiled: dict[str, str | None]) -> Path:
    """A manifest of models/tests named in `compiled` (None: not compiled) and one seed."""
    folder.mkdir(parents=True, exist_ok=True)
    nodes: dict[str, Any] = {
        f"{kind}.p.{name}": {"resource_type": kind, "compiled_code": code}
        for name, code in compiled.items()
        for kind in [("test" if name.startswith("t_") else "model")]
    }
    nodes["seed.p.s"] = {"resource_type": "seed"}  # seeds are never compiled
    (folder / "manifest.json").write_text(json.dumps({"nodes": nodes}))
    return folder


def test_build_target_of_finds_this_runs_newest_folder(tmp_path: Path) -> None:
    target = tmp_path / "target"
    older = _manifest(target / f"productops_dbt-{RUN_ID[:7]}-aaaaaaa", {"a": "select 1"})
    newer = _manifest(target / f"productops_dbt-{RUN_ID[:7]}-bbbbbbb", {"a": "select 1"})
    os.utime(older / "manifest.json", (1, 1))
    os.utime(older, (1, 1))
    _manifest(target / "productops_dbt-ffffff0-ccccccc", {"a": "select 1"})  # another run
    (target / f"productops_dbt-{RUN_ID[:7]}-ddddddd").mkdir()  # no manifest: dbt never wrote
    assert report.build_target_of(RUN_ID, tmp_path) == newer
    assert report.build_target_of("0000000-none", tmp_path) is None
    assert report.build_target_of(RUN_ID, tmp_path / "absent") is None


def test_compiled_whole_project_needs_every_model_and_test(tmp_path: Path) -> None:
    whole = _manifest(tmp_path / "whole", {"a": "select 1", "t_a": "select 2"})
    assert report.compiled_whole_project(whole)
    # a subset or a build stopped by a failure left a node uncompiled
    part = _manifest(tmp_path / "part", {"a": "select 1", "t_a": None})
    assert not report.compiled_whole_project(part)
    assert not report.compiled_whole_project(tmp_path / "absent")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    assert not report.compiled_whole_project(tmp_path / "broken")


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WarehouseSettings:
    folder = tmp_path / "dbt_project"
    (folder / "models").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text("name: small\n")
    monkeypatch.setattr(project, "DBT_PROJECT_DIR", folder)
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create table marts.a (id integer)")
    return WarehouseSettings(engine="duckdb", path=path)


def _fake_dbt(calls: list[list[str]], fail_no_compile: bool = False) -> Any:
    def run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        if fail_no_compile and "--no-compile" in command:
            return subprocess.CompletedProcess(command, 1, "manifest.json not found", "")
        site = Path(command[command.index("--target-path") + 1]) / "static_index.html"
        site.parent.mkdir(parents=True, exist_ok=True)
        site.write_text(f"<html>{' '.join(command[1:])}</html>")
        return subprocess.CompletedProcess(command, 0, "", "")

    return run


def test_docs_read_only_the_catalog_after_a_whole_build(
    warehouse: WarehouseSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(report.subprocess, "run", _fake_dbt(calls))
    built = _manifest(tmp_path / "build", {"a": "select 1", "t_a": "select 2"})
    page, generated = report.publish_dbt_docs_if_changed(tmp_path / "r", warehouse, built)
    assert generated and len(calls) == 1
    assert calls[0][1:] == [
        "docs",
        "generate",
        "--static",
        "--target",
        "duckdb",
        "--no-compile",
        "--target-path",
        str(built),
    ]
    assert "--no-compile" in page.read_text()


def test_docs_compile_everything_after_a_partial_build_or_a_failed_catalog(
    warehouse: WarehouseSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(report.subprocess, "run", _fake_dbt(calls))
    part = _manifest(tmp_path / "part", {"a": "select 1", "t_a": None})
    page, _ = report.publish_dbt_docs_if_changed(tmp_path / "r1", warehouse, part)
    docs_target = str(project.DBT_PROJECT_DIR / "target" / "docs")
    assert len(calls) == 1 and "--no-compile" not in calls[0]
    assert calls[0][-2:] == ["--target-path", docs_target]
    assert "--no-compile" not in page.read_text()

    calls.clear()  # the catalog step fails in the build folder: generated as before
    monkeypatch.setattr(report.subprocess, "run", _fake_dbt(calls, fail_no_compile=True))
    whole = _manifest(tmp_path / "whole", {"a": "select 1", "t_a": "select 2"})
    page, generated = report.publish_dbt_docs_if_changed(tmp_path / "r2", warehouse, whole)
    assert generated and ["--no-compile" in call for call in calls] == [True, False]
    assert calls[1][-2:] == ["--target-path", docs_target]
    assert "--no-compile" not in page.read_text()


@pytest.mark.slow
def test_real_dbt_page_from_a_build_holds_compiled_sql_and_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dbt itself: `--no-compile` embeds the build's manifest (compiled SQL) and a catalog."""
    folder = tmp_path / "dbt_project"
    (folder / "models").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text(
        "name: small\nprofile: small\nconfig-version: 2\nversion: '1.0'\n"
    )
    (folder / "profiles.yml").write_text(
        "small:\n  target: duckdb\n  outputs:\n    duckdb:\n      type: duckdb\n"
        f"      path: {tmp_path / 'warehouse.duckdb'}\n      threads: 1\n"
    )
    (folder / "models" / "a.sql").write_text("select {{ 40 + 2 }} as answer_column\n")
    (folder / "models" / "a.yml").write_text(
        "models:\n  - name: a\n    columns:\n      - name: answer_column\n"
        "        data_tests: [not_null]\n"
    )
    monkeypatch.setattr(project, "DBT_PROJECT_DIR", folder)
    dbt = str(Path(sys.executable).parent / "dbt")
    build = folder / "target" / f"productops_dbt-{RUN_ID[:7]}-abcdefg"
    env = {**os.environ, "DBT_PROFILES_DIR": str(folder), "DBT_SEND_ANONYMOUS_USAGE_STATS": "0"}
    subprocess.run(
        [dbt, "build", "--target", "duckdb", "--target-path", str(build)],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
    )
    assert report.build_target_of(RUN_ID, folder) == build
    assert report.compiled_whole_project(build)
    monkeypatch.setenv("DBT_PROFILES_DIR", str(folder))
    settings = WarehouseSettings(engine="duckdb", path=tmp_path / "warehouse.duckdb")
    page, generated = report.publish_dbt_docs_if_changed(tmp_path / "reports", settings, build)
    text = page.read_text()
    assert generated and not (folder / "target" / "docs").exists()  # no full generation
    assert "select 42 as answer_column" in text  # the build's compiled SQL
    assert '"answer_column"' in text and '"INTEGER"' in text  # the catalog's column and type
