"""When `productops run` skips `build_marts` (orchestration/lib/build_state.py, issue #16).

Hand-made raw warehouses (tests/toolkit/dbt.py): the raw fingerprint ignores what every API
load rewrites (load ids, dlt row ids) and follows what a mart could read (a row's content,
whether its load completed, which parent row a child row hangs on). The skip decision holds
only with a recorded successful build that is the instance's newest, with every output on
disk and nothing changed; anything else builds. The slow test runs the demo twice on a small
world: the second run skips and keeps the marts; a new event file builds again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ingestion.settings import WarehouseSettings
from orchestration.lib import build_state, project
from orchestration.lib.build_state import BuildState, Decision, raw_fingerprint, skip_decision
from tests.toolkit.dbt import L1, L2, L_FAILED, append_load, create_raw_warehouse, raw_event
from tests.toolkit.files import track, write_events
from tests.toolkit.runs import run_demo, run_env, run_output

JOB = "build_marts"
# What dbt would declare (the runner passes the manifest's relations).
RELATIONS = {("raw_zendesk", "tickets"), ("raw_segment", "events")}
# The `built` fixture: the warehouse settings, the Dagster instance, the recorded build's run.
Built = tuple[WarehouseSettings, dg.DagsterInstance, str]


def _tickets() -> dict[str, list[dict[str, object]]]:
    """Two tickets of load L1, ticket 1 tagged `a` and `b`."""
    ticket = {"created_at": "2024-01-01 10:00:00+00", "updated_at": "2024-01-02 10:00:00+00"}
    return {
        "raw_zendesk.tickets": [
            {"id": 1, "status": "open", "_dlt_load_id": L1, "_dlt_id": "t1", **ticket},
            {"id": 2, "status": "open", "_dlt_load_id": L1, "_dlt_id": "t2", **ticket},
        ],
        "raw_zendesk.tickets__tags": [
            {"value": "a", "_dlt_root_id": "t1", "_dlt_parent_id": "t1", "_dlt_list_idx": 0},
            {"value": "b", "_dlt_root_id": "t1", "_dlt_parent_id": "t1", "_dlt_list_idx": 1},
        ],
        "raw_segment.events": [raw_event("m1", "track", "2024-01-01 09:00:00+00", event="x")],
    }


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    """A raw warehouse of two tickets and one event, all of completed load L1."""
    path = tmp_path / "warehouse.duckdb"
    create_raw_warehouse(path, _tickets(), completed_loads=[L1, L2], failed_loads=[L_FAILED])
    return path


def _settings(path: Path) -> WarehouseSettings:
    return WarehouseSettings(engine="duckdb", path=path)


def _sql(path: Path, *statements: str) -> None:
    with duckdb.connect(str(path)) as con:
        for statement in statements:
            con.execute(statement)


def test_reloading_the_same_rows_under_a_new_load_keeps_the_fingerprint(raw: Path) -> None:
    before = raw_fingerprint(_settings(raw))
    assert before is not None and before == raw_fingerprint(_settings(raw))
    # What Stripe's full listing and Zendesk's boundary re-read do: the same rows again, with
    # a new load id and new dlt row ids (children re-pointed at the new parent ids).
    _sql(
        raw,
        f"update raw_zendesk.tickets set _dlt_load_id = '{L2}', _dlt_id = _dlt_id || '-2'",
        "update raw_zendesk.tickets__tags set _dlt_parent_id = _dlt_parent_id || '-2', "
        "_dlt_root_id = _dlt_root_id || '-2', _dlt_id = 'new-' || _dlt_list_idx",
    )
    assert raw_fingerprint(_settings(raw)) == before
    # Zendesk's merge sort key takes a new position when the export re-reads its boundary.
    _sql(
        raw,
        "alter table raw_zendesk.tickets add column version_order varchar",
        "update raw_zendesk.tickets set version_order = '2024-01-02#' || id",
    )
    with_order = raw_fingerprint(_settings(raw))
    _sql(raw, "update raw_zendesk.tickets set version_order = '2024-01-02#9' || id")
    assert raw_fingerprint(_settings(raw)) == with_order


def test_the_build_state_table_is_not_in_the_docs_catalog(
    built: Built,
) -> None:
    settings = built[0]
    before = project.dbt_inputs_fingerprint(settings)
    _sql(settings.path, "drop schema productops cascade")  # as before the first build
    assert build_state.read_state(settings) is None
    assert project.dbt_inputs_fingerprint(settings) == before


@pytest.mark.parametrize(
    "change",
    [
        "update raw_zendesk.tickets set status = 'solved' where id = 2",  # a changed ticket
        "update raw_zendesk.tickets__tags set _dlt_parent_id = 't2' where value = 'b'",  # moved
        "update raw_zendesk.tickets__tags set value = 'c' where value = 'b'",
        f"update raw_zendesk.tickets set _dlt_load_id = '{L_FAILED}' where id = 2",  # failed load
        "alter table raw_zendesk.tickets add column brand varchar",  # a new (empty) column
        "delete from raw_segment.events",
    ],
)
def test_what_a_mart_could_read_changes_the_fingerprint(raw: Path, change: str) -> None:
    before = raw_fingerprint(_settings(raw))
    _sql(raw, change)
    assert raw_fingerprint(_settings(raw)) not in (None, before)


def test_a_new_events_load_and_a_load_completing_change_the_fingerprint(raw: Path) -> None:
    before = raw_fingerprint(_settings(raw))
    new = raw_event("m2", "track", "2024-01-02 09:00:00+00", load="1704300000.000001", event="y")
    append_load(raw, "raw_segment", "events", [new], "1704300000.000001")
    after_new = raw_fingerprint(_settings(raw))
    assert after_new not in (None, before)
    _sql(raw, f"update raw_zendesk._dlt_loads set status = 0 where load_id = '{L_FAILED}'")
    assert raw_fingerprint(_settings(raw)) == after_new  # no row of that load: same rows
    _sql(raw, f"update raw_zendesk.tickets set _dlt_load_id = '{L_FAILED}' where id = 2")
    assert raw_fingerprint(_settings(raw)) == after_new  # its rows now count, as before


def test_no_fingerprint_on_other_engines_or_without_a_warehouse(tmp_path: Path) -> None:
    assert raw_fingerprint(_settings(tmp_path / "absent.duckdb")) is None
    spark = WarehouseSettings(engine="spark", path=tmp_path / "w.duckdb", spark_bucket_url="x")
    assert raw_fingerprint(spark) is None


@pytest.fixture
def built(raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Built]:
    """The raw warehouse after a successful `build_marts` run that recorded its fingerprint."""
    folder = tmp_path / "dbt_project"
    (folder / "seeds").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text("name: small\n")
    (folder / "seeds" / "plans.csv").write_text("plan,seats\nteam,10\n")
    monkeypatch.setattr(project, "DBT_PROJECT_DIR", folder)
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("MARTS_PATH", str(tmp_path / "analytics.duckdb"))
    monkeypatch.delenv(build_state.FORCE_BUILD_ENV, raising=False)
    (tmp_path / "reports").mkdir()
    for output in ("reports/latest.html", "reports/dbt-docs.html", "analytics.duckdb"):
        (tmp_path / output).write_text("x")
    settings = _settings(raw)
    with dg.DagsterInstance.ephemeral() as instance:
        run_id = _run_build(instance)
        raw_now = raw_fingerprint(settings)
        project_now = build_state.project_fingerprint(settings, RELATIONS)
        assert raw_now is not None and project_now is not None
        build_state.record_build(settings, BuildState(raw_now, project_now, run_id))
        yield settings, instance, run_id


def _run_build(instance: dg.DagsterInstance, fail: bool = False) -> str:
    """One run of a job named `build_marts` in `instance` (failing when asked)."""

    @dg.op
    def step() -> None:
        if fail:
            raise RuntimeError("a failed build")

    @dg.job(name=JOB)
    def build() -> None:
        step()

    result = build.execute_in_process(instance=instance, raise_on_error=False)
    assert result.success is not fail
    return result.run_id


def _decide(built: Built, full_refresh: bool = False) -> Decision:
    """The runner's question for the `built` warehouse and instance."""
    settings, instance, _ = built
    return skip_decision(settings, instance, JOB, full_refresh, RELATIONS)


def test_unchanged_inputs_skip_the_build(
    built: Built,
) -> None:
    decision = _decide(built)
    assert decision.skip and decision.previous_run_id == built[2]
    assert built[2] in decision.reason


def test_full_refresh_and_the_force_setting_build(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not _decide(built, full_refresh=True).skip
    monkeypatch.setenv(build_state.FORCE_BUILD_ENV, "1")
    assert not _decide(built).skip
    monkeypatch.setenv(build_state.FORCE_BUILD_ENV, "0")
    assert _decide(built).skip


def test_a_changed_ticket_builds(built: Built) -> None:
    _sql(built[0].path, "update raw_zendesk.tickets set status = 'solved' where id = 1")
    decision = _decide(built)
    assert not decision.skip and "raw data changed" in decision.reason


def test_a_changed_seed_builds(built: Built) -> None:
    (project.DBT_PROJECT_DIR / "seeds" / "plans.csv").write_text("plan,seats\nteam,12\n")
    decision = _decide(built)
    assert not decision.skip and "dbt project and catalog changed" in decision.reason


def test_a_missing_output_builds(built: Built, tmp_path: Path) -> None:
    (tmp_path / "reports" / "dbt-docs.html").unlink()
    decision = _decide(built)
    assert not decision.skip and "dbt-docs.html is missing" in decision.reason


def test_a_deleted_warehouse_builds(
    built: Built,
) -> None:
    settings = built[0]
    settings.path.unlink()
    assert not _decide(built).skip
    create_raw_warehouse(settings.path, _tickets(), completed_loads=[L1, L2])
    decision = _decide(built)  # the same rows again, but no build recorded in this file
    assert not decision.skip and "no successful build" in decision.reason


def test_a_build_started_since_or_failed_builds(
    built: Built,
) -> None:
    settings, instance, _ = built
    _run_build(instance, fail=True)  # e.g. from the UI: it may have half-rebuilt the marts
    decision = _decide(built)
    assert not decision.skip and "ran since run" in decision.reason
    build_state.forget_build(settings)  # what the runner does before every build
    assert build_state.read_state(settings) is None
    assert "no successful build" in _decide(built).reason


@pytest.mark.slow
def test_second_demo_run_skips_and_a_new_event_file_builds(tmp_path: Path) -> None:
    """Three runs of the demo on a small world: build, skip (same marts), build (new events)."""
    world = tmp_path / "world"
    options = {"scale": 0.1, "seed": 7, "end_date": date(2026, 3, 31), "page_size": 25}
    env = run_env(tmp_path / "run", REPORTS_DIR=str(tmp_path / "reports"))
    first = run_demo(world, env, **options)  # type: ignore[arg-type]
    assert first.returncode == 0, run_output(first)[-3000:]
    assert "build_marts: building (no successful build recorded" in first.stdout
    warehouse = tmp_path / "run" / "warehouse.duckdb"
    marts_before = _marts(warehouse)
    second = run_demo(world, env, **options)  # type: ignore[arg-type]
    assert second.returncode == 0, run_output(second)[-3000:]
    assert "build_marts: skipped, no raw table, dbt file, suite or setting changed" in second.stdout
    assert "(in that run)" in second.stdout
    assert _marts(warehouse) == marts_before
    newest = max((world / "events").rglob("*.jsonl.gz"), key=lambda path: path.stat().st_mtime)
    write_events(  # one more message, beside the last delivery
        newest.parent / "late-delivery.jsonl",
        [track("late-1", user="u-late", ts="2026-03-31T12:00:00Z", event="Late Event")],
        gz=False,
    )
    third = run_demo(world, env, **options)  # type: ignore[arg-type]
    assert third.returncode == 0, run_output(third)[-3000:]
    assert "build_marts: building (raw data changed since run" in third.stdout


def _marts(warehouse: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every mart's rows, sorted (what a skipped build must leave exactly as it was)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        ]
        return {
            t: sorted(con.execute(f'select * from marts."{t}"').fetchall(), key=repr)
            for t in tables
        }


def test_a_manifest_serves_every_warehouse_file_of_the_same_name(tmp_path: Path) -> None:
    """dbt-duckdb's database is the file's stem: a new run folder needs no new parse."""
    identity = project.warehouse_identity
    here = identity(_settings(tmp_path / "a" / "warehouse.duckdb"))
    assert here == identity(_settings(tmp_path / "b" / "warehouse.duckdb")) == "duckdb:warehouse"
    assert identity(_settings(tmp_path / "a" / "other.duckdb")) != here
