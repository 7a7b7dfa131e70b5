"""`make run` reads the dbt manifest's relations once per build (issue #16, review item)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ingestion.settings import WarehouseSettings
from orchestration import run as runner
from orchestration.lib import dlt_assets, project


def _write(manifest: Path, tables: list[str], mtime: int) -> None:
    nodes = {
        f"model.p.{name}": {"resource_type": "model", "schema": "marts", "name": name}
        for name in tables
    }
    manifest.write_text(json.dumps({"nodes": nodes, "sources": {}}))
    os.utime(manifest, (mtime, mtime))


def test_relations_read_once_per_version_of_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = tmp_path / "target" / "manifest.json"
    manifest.parent.mkdir()
    _write(manifest, ["a"], 1_000)
    monkeypatch.setattr(project, "DBT_PROJECT_DIR", tmp_path)
    reads: list[Any] = []
    real = dlt_assets.load_manifest

    def counting(path: Any) -> dict[str, Any]:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(dlt_assets, "load_manifest", counting)
    runner._manifest_relations.cache_clear()
    settings = WarehouseSettings(engine="duckdb", path=tmp_path / "warehouse.duckdb")
    assert runner._dbt_relations(settings) == {("marts", "a")}
    assert runner._dbt_relations(settings) == {("marts", "a")}  # the decision, then the record
    assert len(reads) == 1
    _write(manifest, ["a", "b"], 2_000)  # parsed again (a changed model): read again
    assert runner._dbt_relations(settings) == {("marts", "a"), ("marts", "b")}
    assert len(reads) == 2
    runner._manifest_relations.cache_clear()


def test_events_fingerprint_follows_their_loads_not_their_rows(tmp_path: Path) -> None:
    """Append-only events: each load's id, rows and completion; no row of history re-hashed."""
    import duckdb

    from orchestration.lib.build_state import raw_fingerprint
    from tests.toolkit.dbt import L1, L2, L_FAILED, append_load, create_raw_warehouse, raw_event

    path = tmp_path / "warehouse.duckdb"
    first = raw_event("m1", "track", "2024-01-01 09:00:00+00", event="x")
    create_raw_warehouse(
        path, {"raw_segment.events": [first]}, completed_loads=[L1, L2], failed_loads=[L_FAILED]
    )
    settings = WarehouseSettings(engine="duckdb", path=path)

    def fingerprint(*statements: str) -> str | None:
        with duckdb.connect(str(path)) as con:
            for statement in statements:
                con.execute(statement)
        return raw_fingerprint(settings)

    before = fingerprint()
    assert before is not None
    # what no loader does (rewrite a loaded row in place) is not looked at: rows are not read
    assert fingerprint("update raw_segment.events set event = 'z'") == before
    new = "1704300000.000001"
    second = raw_event("m2", "track", "2024-01-02 09:00:00+00", load=new, event="y")
    append_load(path, "raw_segment", "events", [second], new)
    with_new = fingerprint()
    assert with_new not in (before, None)  # a new load
    # the same rows when that load had not completed: not the same inputs
    unfinished = fingerprint(
        f"update raw_segment._dlt_loads set status = 1 where load_id = '{new}'"
    )
    assert unfinished not in (before, with_new)
    assert fingerprint(f"update raw_segment._dlt_loads set status = 0 where load_id = '{new}'") == (
        with_new
    )
    removed = fingerprint(f"delete from raw_segment.events where _dlt_load_id = '{new}'")
    assert removed == before  # its rows gone: the table is what it was
