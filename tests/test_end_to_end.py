"""`make run` in small, on both engines: one world, the whole Dagster graph run twice on DuckDB
and twice on PostgreSQL, real marts checked, and the two engines' marts compared row for row.

Expected values are computed here straight from the generated files, independently of dbt,
and every mart is compared with METRICS.md computed again from the raw tables and the seeds
(`tests/toolkit/independent`).
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.toolkit.independent import accounts, support, usage
from tests.toolkit.independent.compare import Expected, compare_with_mart
from tests.toolkit.paths import DBT_PROJECT_DIR
from tests.toolkit.runs import run_demo, run_env
from tests.toolkit.warehouse import pg_query, query
from tools.compare_marts import differences, read_duckdb, read_postgres

pytestmark = pytest.mark.slow

END_DATE = date(2026, 3, 31)


def _run(world: Path, env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    return run_demo(world, env, *options, scale=0.1, seed=7, end_date=END_DATE, page_size=25)


ENGINES = ["duckdb", "postgres"]


@dataclass
class Pipeline:
    """One engine's run of the sample world: where its warehouse is and what the runs printed."""

    engine: str
    root: Path
    world: Path
    env: dict[str, str]
    first: str = ""
    second: str = ""
    counts_after_first: dict[str, int] = field(default_factory=dict)

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def url(self) -> str:
        return self.env.get("DESTINATION__POSTGRES__CREDENTIALS", "")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.engine == "postgres":
            return pg_query(self.url, sql)
        return query(self.warehouse, sql)

    def raw_counts(self) -> dict[str, int]:
        tables = self.query(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema like 'raw_%' and table_schema not like '%_staging' "
            "and table_name not like '_dlt%'"
        )
        return {t: self.query(f"select count(*) from {t}")[0][0] for (t,) in tables}


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory, postgres_server) -> dict[str, Pipeline]:
    """The same sample world run twice on each engine (the second run must add nothing)."""
    root = tmp_path_factory.mktemp("e2e")
    database = postgres_server.create_database("e2e")
    built: dict[str, Pipeline] = {}
    for engine in ENGINES:
        folder = root / engine
        env = run_env(folder, WAREHOUSE=engine, GX_DOCS_DIR=str(folder / "gx_docs"))
        if engine == "postgres":
            env.update(database.env())
        else:
            env.pop("DESTINATION__POSTGRES__CREDENTIALS", None)
        pipeline = Pipeline(engine, folder, folder / "world", env)
        if built:  # the very same files, so that the two engines' marts can be compared
            shutil.copytree(next(iter(built.values())).world, pipeline.world)
        first = _run(pipeline.world, env)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        pipeline.first = first.stdout
        pipeline.counts_after_first = pipeline.raw_counts()
        if engine == "duckdb":
            # An analyst holds a connection to the published marts while the pipeline runs again.
            with duckdb.connect(str(folder / "analytics.duckdb"), read_only=True) as analyst:
                before = analyst.execute("select count(*) from marts.fct_tickets").fetchall()
                second = _run(pipeline.world, env)
                after = analyst.execute("select count(*) from marts.fct_tickets").fetchall()
                assert after == before
        else:
            second = _run(pipeline.world, env)
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        pipeline.second = second.stdout
        built[engine] = pipeline
    return built


@pytest.fixture(params=ENGINES)
def pipeline(request: pytest.FixtureRequest, pipelines: dict[str, Pipeline]) -> Pipeline:
    return pipelines[request.param]


def _parse_ts(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _expected_activity(world: Path) -> tuple[dict[date, set[str]], date, date]:
    """Active users per UTC day from the event files, docs/metrics.md's rules applied by hand."""
    seen: set[str] = set()
    active: dict[date, set[str]] = defaultdict(set)
    event_days: set[date] = set()
    messages: list[str] = []
    for path in sorted((world / "events").rglob("*.jsonl.gz")):
        with gzip.open(path, "rt") as lines:
            messages.extend(lines)
    for line in messages:
        try:
            message = json.loads(line)
            timestamp = _parse_ts(message["timestamp"])
        except (ValueError, KeyError, TypeError):
            continue  # set aside by the loader: counts nowhere
        message_id = message.get("messageId")
        if not message_id or message_id in seen:
            continue
        if not (message.get("userId") or message.get("anonymousId")):
            continue
        seen.add(message_id)
        if message.get("type") not in ("track", "page"):
            continue
        event_days.add(timestamp.date())
        if message.get("userId"):
            active[timestamp.date()].add(message["userId"])
    return active, min(event_days), max(event_days)


def test_run_succeeds_with_every_check_passing_and_prints_the_summary(pipeline) -> None:
    out = pipeline.second
    assert "checks: " in out and " 0 failed" in out
    assert "marts\n" in out and "fct_active_users_daily" in out
    if pipeline.engine == "postgres":
        assert "warehouse: PostgreSQL 127.0.0.1:" in out and "/e2e (WAREHOUSE=postgres)" in out
    else:
        assert f"warehouse: {pipeline.warehouse}" in out
    assert "make ui" in out


def test_marts_are_equal_on_duckdb_and_postgres_row_for_row(pipelines) -> None:
    on_duckdb = read_duckdb(pipelines["duckdb"].warehouse)
    on_postgres = read_postgres(pipelines["postgres"].url)
    # 12 + fct_user_lifecycle_weekly, fct_engagement_l28, fct_funnel_weekly, fct_experiment_results
    # + unresolved_records
    assert len(on_duckdb) == 17
    # every mart has rows; unresolved_records may rightly be empty on a world without such records
    assert all(rows for name, (_, rows) in on_duckdb.items() if name != "unresolved_records")
    assert differences(on_duckdb, on_postgres) == []


def test_postgres_marts_keep_their_contract_types(pipelines) -> None:
    types = dict(
        pipelines["postgres"].query(
            "select table_name || '.' || column_name, data_type from information_schema.columns "
            "where table_schema = 'marts'"
        )
    )
    assert types["fct_active_users_daily.stickiness"] == "double precision"
    assert types["fct_active_users_daily.activity_date"] == "date"
    assert types["fct_tickets.created_at"] == "timestamp with time zone"  # timestamptz
    assert types["fct_account_activity_daily.account_id"] == "character varying"


def test_published_marts_file_equals_the_warehouse_marts(pipelines) -> None:
    pipeline = pipelines["duckdb"]  # PostgreSQL serves its marts schema directly
    published = pipeline.root / "analytics.duckdb"
    for table in ("fct_active_users_daily", "fct_tickets", "dim_accounts", "metrics_daily"):
        sql = f"select * from marts.{table} order by all"
        assert query(published, sql) == query(pipeline.warehouse, sql), table
    assert not (pipelines["postgres"].root / "analytics.duckdb").exists()


def test_second_run_duplicates_nothing(pipeline) -> None:
    assert pipeline.raw_counts() == pipeline.counts_after_first
    planted = json.loads((pipeline.world / "world.json").read_text())["planted"]
    copies = "select count(*) - count(distinct message_id) from "
    # On DuckDB the warehouse inserts the files itself and raw keeps a re-delivered copy (one
    # per planted re-delivery at most); staging keeps one copy of each message.
    assert pipeline.query(copies + "raw_segment.events")[0][0] <= planted["redelivered_events"]
    assert pipeline.query(copies + "staging.stg_segment__events") == [(0,)]


def test_planted_bad_records_are_set_aside_not_lost(pipeline) -> None:
    planted = json.loads((pipeline.world / "world.json").read_text())["planted"]
    expected_events = (
        planted["malformed_json_lines"]
        + planted["events_without_message_id"]
        + planted["events_with_bad_timestamp"]
    )
    rejected = pipeline.query("select count(*) from raw_segment.rejected_records")
    assert rejected == [(expected_events,)]
    drops = pipeline.query("select count(*) from raw_file_drop.rejected_records")
    assert drops == [(planted["survey_csv_bad_score"] + planted["license_csv_bad_seats"],)]


def test_active_users_mart_matches_a_count_from_the_raw_files(pipeline) -> None:
    active, first_day, as_of = _expected_activity(pipeline.world)
    rows = pipeline.query(
        "select activity_date, dau, wau, mau, stickiness, new_users "
        "from marts.fct_active_users_daily order by activity_date",
    )
    assert rows[0][0] == first_day and rows[-1][0] == as_of
    assert len(rows) == (as_of - first_day).days + 1
    first_active: dict[str, date] = {}
    for day in sorted(active):
        for user in active[day]:
            first_active.setdefault(user, day)

    def window(day: date, days: int) -> set[str]:
        return set().union(*(active.get(day - timedelta(days=i), set()) for i in range(days)))

    for activity_date, dau, wau, mau, stickiness, new_users in rows:
        assert dau == len(active.get(activity_date, set())), activity_date
        assert wau == len(window(activity_date, 7)), activity_date
        assert mau == len(window(activity_date, 28)), activity_date
        assert stickiness == (pytest.approx(dau / mau) if mau else None)
        assert new_users == sum(1 for d in first_active.values() if d == activity_date)
    assert max(r[1] for r in rows) > 0


def test_tickets_mart_has_every_ticket_but_the_deleted(pipeline) -> None:
    tickets = [json.loads(line) for line in (pipeline.world / "zendesk" / "tickets.jsonl").open()]
    latest: dict[int, dict[str, Any]] = {}
    for t in tickets:  # versions of a ticket: the greatest updated_at, then the later, wins
        if int(t["id"]) not in latest or t["updated_at"] >= latest[int(t["id"])]["updated_at"]:
            latest[int(t["id"])] = t
    kept = {i for i, t in latest.items() if t["status"] != "deleted"}
    rows = pipeline.query("select ticket_id from marts.fct_tickets")
    assert {r[0] for r in rows} == kept
    assert len(kept) < len(tickets)  # the world plants deleted tickets


AREAS = {"usage": usage, "support": support, "accounts": accounts}


@pytest.fixture(scope="module")
def independent(pipelines) -> dict[str, list[Expected]]:
    """METRICS.md computed again from the raw tables and the seeds alone, per area."""
    with duckdb.connect(str(pipelines["duckdb"].warehouse), read_only=True) as con:
        return {
            name: area.expected_marts(con, DBT_PROJECT_DIR / "seeds")
            for name, area in AREAS.items()
        }


@pytest.mark.parametrize("area", list(AREAS))
def test_marts_equal_an_independent_computation_of_metrics_md(
    pipelines, independent, area: str
) -> None:
    """Every row and value of the area's marts, after two runs (the second incremental)."""
    with duckdb.connect(str(pipelines["duckdb"].warehouse), read_only=True) as con:
        found = [compare_with_mart(con, expected) for expected in independent[area]]
    assert not any(found), "\n\n".join(d.message() for d in found if d)
    empty = [e.label for e in independent[area] if e.frame.empty]
    assert empty == []  # two empty tables would prove nothing


def test_independent_checks_cover_every_mart_and_every_metrics_daily_row(
    pipelines, independent
) -> None:
    """A new mart or metric outside every area's check fails here, not silently."""
    checked = [e for area in independent.values() for e in area]
    marts = {
        row[0]
        for row in pipelines["duckdb"].query(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        )
    }
    assert {e.mart for e in checked} == marts - {"unresolved_records"}
    slices = " or ".join(f"({e.where})" for e in checked if e.mart == "metrics_daily")
    uncovered = pipelines["duckdb"].query(
        f"select distinct metric_name from marts.metrics_daily where not ({slices})"
    )
    assert uncovered == []


def test_full_refresh_rebuilds_the_days_an_incremental_run_keeps(pipelines) -> None:
    """An old day of an incremental mart, edited by hand, outlives a plain run.

    The day is before the restart day, so only `--full-refresh` rebuilds it from the events.
    """
    pipeline = pipelines["duckdb"]
    day_sql = "select min(activity_date) from marts.fct_account_activity_daily"
    first_day = pipeline.query(day_sql)[0][0]
    rows_sql = (
        "select account_id, active_users, events from marts.fct_account_activity_daily"
        f" where activity_date = '{first_day}' order by account_id"
    )
    expected = pipeline.query(rows_sql)
    with duckdb.connect(str(pipeline.warehouse)) as con:
        con.execute(
            "update marts.fct_account_activity_daily set events = events + 1000"
            f" where activity_date = '{first_day}'"
        )
    edited = [(account, users, events + 1000) for account, users, events in expected]

    plain = _run(pipeline.world, pipeline.env)
    assert plain.returncode == 0, plain.stdout[-3000:] + plain.stderr[-3000:]
    assert pipeline.query(rows_sql) == edited

    full = _run(pipeline.world, pipeline.env, "--full-refresh")
    assert full.returncode == 0, full.stdout[-3000:] + full.stderr[-3000:]
    assert "--full-refresh" in full.stdout
    assert pipeline.query(rows_sql) == expected


def test_planted_bad_raw_data_fails_its_blocking_check_and_leaves_marts_as_they_were(
    pipeline,
) -> None:
    """Runs last: it changes the world. A ticket with an unknown status reaches raw_zendesk."""
    sql = "select * from marts.fct_tickets order by ticket_id"
    marts_before = pipeline.query(sql)
    published = pipeline.root / "analytics.duckdb"
    published_before = query(published, sql) if pipeline.engine == "duckdb" else None
    path = pipeline.world / "zendesk" / "tickets.jsonl"
    tickets = [json.loads(line) for line in path.open()]
    bad = next(t for t in tickets if t["status"] == "open")
    bad["status"] = "exploded"
    bad["updated_at"] = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text("".join(json.dumps(t) + "\n" for t in tickets))

    run = _run(pipeline.world, pipeline.env)
    assert run.returncode == 1, run.stdout[-3000:]
    assert "FAILED raw_zendesk/tickets:great_expectations" in run.stdout
    raw = pipeline.query(f"select status from raw_zendesk.tickets where id = {bad['id']}")
    assert raw == [("exploded",)]  # loaded, then caught by the check
    assert pipeline.query(sql) == marts_before
    if published_before is not None:
        assert query(published, sql) == published_before
