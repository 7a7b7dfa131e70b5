"""Any team's data: a source the team does not use, or a used source with nothing in it yet.

Fast tests load one source into a DuckDB file and look at the raw tables; the slow one runs
`python -m orchestration.run` on a world where Typeform and Stripe are not used (surveys and
licenses come from the CSV drop) and Zendesk has no satisfaction ratings, and checks the
marts against values worked out by hand from the CSV rows below.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from demo.sandbox import Sandbox
from ingestion import file_drop, segment, stripe, typeform, zendesk
from ingestion.settings import MissingSettingError
from ingestion.sources import BY_NAME, disabled_sources
from tests.toolkit.dbt import run_dbt
from tests.toolkit.runs import run_env, run_module, run_output
from tests.toolkit.sandbox import demo_settings, source_kwargs, write_world
from tests.toolkit.warehouse import (
    column_types,
    completed_loads,
    pg_query,
    query,
    table_counts,
)

TYPEFORM_SETTINGS = ("BASE_URL", "FORM_ID", "ACCESS_TOKEN")


def _raw_tables(warehouse: Path, dataset: str) -> dict[str, int]:
    return table_counts(warehouse, dataset)


def test_a_disabled_source_loads_nothing_and_creates_its_empty_tables(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for setting in TYPEFORM_SETTINGS:
        monkeypatch.delenv(f"SOURCES__TYPEFORM__{setting}", raising=False)
    monkeypatch.setenv("SOURCES__TYPEFORM__ENABLED", "false")
    assert "typeform" in disabled_sources()
    result = BY_NAME["typeform"].load()
    assert result.enabled is False
    assert sum(result.rows.values()) == 0 and result.rejected == 0
    assert _raw_tables(warehouse, "raw_typeform") == {"responses": 0}
    types = column_types(warehouse, "raw_typeform.responses")
    for name in ("response_id", "submitted_at", "survey", "score", "_dlt_load_id", "_dlt_id"):
        assert name in types, types
    assert types["score"] == "BIGINT"
    assert completed_loads(warehouse, "raw_typeform") == 1  # staging reads _dlt_loads


def test_a_source_without_settings_names_them_and_the_way_to_disable_it(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for setting in (*TYPEFORM_SETTINGS, "ENABLED"):
        monkeypatch.delenv(f"SOURCES__TYPEFORM__{setting}", raising=False)
    with pytest.raises(MissingSettingError) as error:
        BY_NAME["typeform"].load()
    message = str(error.value)
    assert "SOURCES__TYPEFORM__FORM_ID" in message
    assert "SOURCES__TYPEFORM__ENABLED=false" in message
    assert "enabled = false` under [sources.typeform]" in message
    assert len(f"{MissingSettingError.__module__}.MissingSettingError: {message}") < 400


def test_an_enabled_setting_that_is_not_a_boolean_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOURCES__STRIPE__ENABLED", "nope")
    with pytest.raises(MissingSettingError, match="SOURCES__STRIPE__ENABLED"):
        BY_NAME["stripe"].enabled()


def test_disabled_stripe_and_zendesk_create_their_root_tables(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__STRIPE__ENABLED", "false")
    monkeypatch.setenv("SOURCES__ZENDESK__ENABLED", "false")
    assert BY_NAME["stripe"].load().enabled is False
    assert BY_NAME["zendesk"].load().enabled is False
    assert _raw_tables(warehouse, "raw_stripe") == {"subscriptions": 0, "customers": 0}
    assert _raw_tables(warehouse, "raw_zendesk") == {
        "tickets": 0,
        "ticket_metrics": 0,
        "satisfaction_ratings": 0,
        "organizations": 0,
    }


def test_an_empty_form_and_zendesk_without_csat_leave_empty_tables(
    warehouse: Path, sandbox: Sandbox
) -> None:
    world = sandbox.data_dir
    (world / "typeform" / "responses.jsonl").write_text("")
    (world / "zendesk" / "satisfaction_ratings.jsonl").write_text("")
    typeform.load(**source_kwargs(sandbox, "typeform"))
    zendesk.load(**source_kwargs(sandbox, "zendesk"))
    assert _raw_tables(warehouse, "raw_typeform") == {"responses": 0}
    counts = _raw_tables(warehouse, "raw_zendesk")
    assert counts["satisfaction_ratings"] == 0
    assert counts["tickets"] == 5


def test_an_empty_events_bucket_and_an_unset_csv_folder_leave_empty_tables(
    warehouse: Path, tmp_path: Path
) -> None:
    (tmp_path / "events").mkdir()
    segment.load(str(tmp_path / "events"))
    assert _raw_tables(warehouse, "raw_segment") == {"events": 0}
    types = column_types(warehouse, "raw_segment.events")
    for name in ("message_id", "type", "timestamp", "context_group_id", "_source_file"):
        assert name in types, types
    (tmp_path / "surveys").mkdir()
    file_drop.load(surveys_url=str(tmp_path / "surveys"))
    assert _raw_tables(warehouse, "raw_file_drop") == {"survey_responses": 0, "licenses": 0}
    assert "seats" in column_types(warehouse, "raw_file_drop.licenses")
    # A second run on the same empty inputs keeps the tables and adds nothing.
    segment.load(str(tmp_path / "events"))
    assert _raw_tables(warehouse, "raw_segment") == {"events": 0}


@pytest.mark.slow
def test_disabled_and_empty_sources_create_their_tables_on_postgres(
    postgres_warehouse: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "ERROR")
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("SOURCES__STRIPE__ENABLED", "false")
    BY_NAME["stripe"].load()
    (tmp_path / "events").mkdir()
    segment.load(str(tmp_path / "events"))
    (tmp_path / "licenses").mkdir()
    file_drop.load(licenses_url=str(tmp_path / "licenses"))
    tables = pg_query(
        postgres_warehouse.url,
        "select table_schema || '.' || table_name from information_schema.tables"
        " where table_schema like 'raw\\_%' and table_name not like '\\_dlt%'"
        " and table_schema not like '%staging' order by 1",
    )
    assert [t for (t,) in tables] == [
        "raw_file_drop.licenses",
        "raw_file_drop.survey_responses",
        "raw_segment.events",
        "raw_stripe.customers",
        "raw_stripe.subscriptions",
    ]
    columns = pg_query(
        postgres_warehouse.url,
        "select column_name, data_type from information_schema.columns"
        " where table_schema = 'raw_stripe' and table_name = 'subscriptions'",
    )
    assert ("start_date", "bigint") in columns and ("_dlt_load_id", "character varying") in columns


@pytest.mark.slow
def test_dbt_builds_when_every_used_source_found_nothing(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A form with no answers, Zendesk with no CSAT and no tags, Stripe with no subscription,
    an empty events bucket and an empty survey folder: the build passes, the marts are empty
    (no as-of date), and the two dlt child tables were never created."""
    monkeypatch.setenv("WAREHOUSE", "duckdb")
    world = write_world(tmp_path / "world")
    for path in ("typeform/responses.jsonl", "zendesk/satisfaction_ratings.jsonl"):
        (world / path).write_text("")
    (world / "stripe" / "subscriptions.jsonl").write_text("")
    tickets = [
        json.loads(line) for line in (world / "zendesk/tickets.jsonl").read_text().splitlines()
    ]
    (world / "zendesk/tickets.jsonl").write_text(
        "".join(json.dumps({**ticket, "tags": []}) + "\n" for ticket in tickets)
    )
    (tmp_path / "events").mkdir()
    (tmp_path / "surveys").mkdir()
    with Sandbox(world, page_size=2) as box:
        for source, package in (("typeform", typeform), ("zendesk", zendesk), ("stripe", stripe)):
            package.load(**source_kwargs(box, source))
    segment.load(str(tmp_path / "events"))
    file_drop.load(surveys_url=str(tmp_path / "surveys"))
    children = query(
        warehouse,
        "select table_name from information_schema.tables"
        " where table_name in ('tickets__tags', 'subscriptions__items__data')",
    )
    assert children == []
    result = run_dbt(["build"], warehouse, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    marts = table_counts(warehouse, "marts")
    assert marts["fct_nps_monthly"] == 0 and marts["fct_csat_monthly"] == 0
    assert marts["fct_seat_utilization_daily"] == 0
    assert query(warehouse, "select count(*) from staging.stg_zendesk__ticket_tags") == [(0,)]


# Hand-checked CSV drops of the slow run (METRICS.md, "Surveys" and "Licenses").
SURVEYS_CSV = """response_id,submitted_at,user_id,account_id,survey,score,comment
a1,2026-01-10T10:00:00Z,u1,acc_0001,nps,10,
a2,2026-01-11T10:00:00Z,u2,acc_0001,nps,9,
a3,2026-01-12T10:00:00Z,u3,acc_0002,nps,3,
a4,2026-01-20T10:00:00Z,u3,acc_0002,nps,8,
a5,2026-02-03T10:00:00Z,u1,acc_0001,nps,6,
a6,2026-02-04T10:00:00Z,,acc_0001,nps,7,
c1,2026-01-15T10:00:00Z,u1,acc_0001,csat,5,
c2,2026-01-16T10:00:00Z,u2,acc_0001,csat,2,
c3,2026-03-01T10:00:00Z,u2,acc_0001,csat,4,
"""
# January: u1 10, u2 9, u3's latest 8 -> 3 responses, 2 promoters, 1 passive: 66.7.
# February: u1 6 (detractor), a response without a user 7 (passive): -50.0.
NPS_ROWS = [
    (date(2026, 1, 1), 3, 2, 1, 0, 66.7),
    (date(2026, 2, 1), 2, 0, 1, 1, -50.0),
]
# Survey CSAT only (Zendesk has no ratings): January 1 of 2 satisfied, March 1 of 1.
CSAT_ROWS = [
    (date(2026, 1, 1), "survey", 2, 1, 50.0),
    (date(2026, 3, 1), "survey", 1, 1, 100.0),
]
LICENSES_CSV = """license_id,account_id,product,plan,seats,starts_on,ends_on,annual_price,currency
L1,acc_0001,ProductOps Analytics,team,10,2026-01-01,,1200.00,USD
L2,acc_0001,ProductOps Analytics,team,5,2026-02-01,2026-03-01,600.00,USD
L3,acc_0002,ProductOps Analytics,team,20,2026-03-15,,2400.00,USD
"""
# acc_0001: 10 seats / 1200 until Feb 1, 15 / 1800 in February, 10 / 1200 from March 1
# (ends_on is the first day a license is no longer active); acc_0002 from March 15 only.
SEAT_ROWS = [
    ("acc_0001", date(2026, 1, 31), 10, 1200.0),
    ("acc_0001", date(2026, 2, 1), 15, 1800.0),
    ("acc_0001", date(2026, 2, 28), 15, 1800.0),
    ("acc_0001", date(2026, 3, 1), 10, 1200.0),
    ("acc_0002", date(2026, 3, 15), 20, 2400.0),
]


def _own_drops(world: Path) -> None:
    """Replace the world's CSV drops with the hand-checked ones above."""
    for folder, name, text in (
        ("surveys", "surveys.csv", SURVEYS_CSV),
        ("licenses", "licenses.csv", LICENSES_CSV),
    ):
        path = world / "file_drop" / folder
        for old in path.glob("*.csv"):
            old.unlink()
        (path / name).write_text(text)


def _plain(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with PostgreSQL's Decimal as float, so both engines compare alike."""
    return [tuple(float(v) if isinstance(v, Decimal) else v for v in row) for row in rows]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_a_team_without_typeform_and_stripe_gets_every_mart(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    from demo import generate_world

    world = tmp_path / "world"
    manifest = generate_world(world, scale=0.05, seed=5, end_date=date(2026, 3, 31))
    _own_drops(world)
    (world / "zendesk" / "satisfaction_ratings.jsonl").write_text("")  # CSAT never enabled
    warehouse = tmp_path / "warehouse.duckdb"
    with Sandbox(world, page_size=50) as sandbox:
        settings = {
            key: value
            for key, value in demo_settings(world, manifest, sandbox).items()
            if not key.startswith(("SOURCES__TYPEFORM__", "SOURCES__STRIPE__"))
        }
        env = run_env(
            tmp_path,
            settings,
            SOURCES__TYPEFORM__ENABLED="false",
            SOURCES__STRIPE__ENABLED="false",
            WAREHOUSE=engine,
            GX_DOCS_DIR=str(tmp_path / "gx_docs"),
        )
        if engine == "postgres":
            server = request.getfixturevalue("postgres_server")
            env.update(server.create_database(f"anysource_{uuid.uuid4().hex[:8]}").env())
        else:
            env.pop("DESTINATION__POSTGRES__CREDENTIALS", None)
        result = run_module("orchestration.run", env=env, timeout=900)
    printed = run_output(result)

    def rows(sql: str) -> list[tuple[Any, ...]]:
        if engine == "postgres":
            return _plain(pg_query(env["DESTINATION__POSTGRES__CREDENTIALS"], sql))
        return query(warehouse, sql)

    assert result.returncode == 0, printed[-4000:]
    summary = result.stdout
    assert "source typeform: not used (SOURCES__TYPEFORM__ENABLED=false)" in summary
    assert "source stripe: not used (SOURCES__STRIPE__ENABLED=false)" in summary
    assert "FAILED" not in summary, summary[-4000:]
    # The unused sources' raw checks say so instead of warning about empty tables.
    assert "WARN raw_typeform" not in summary and "WARN raw_stripe" not in summary, summary
    assert rows("select count(*) from raw_typeform.responses") == [(0,)]
    assert rows(
        "select month_start, responses, promoters, passives, detractors, nps"
        " from marts.fct_nps_monthly order by month_start"
    ) == [(m, r, p, pa, d, pytest.approx(n)) for m, r, p, pa, d, n in NPS_ROWS]
    assert rows(
        "select month_start, source, responses, satisfied, csat_pct"
        " from marts.fct_csat_monthly order by month_start, source"
    ) == [(m, s, r, sat, pytest.approx(pct)) for m, s, r, sat, pct in CSAT_ROWS]
    picked = ", ".join(f"('{a}', date '{d}')" for a, d, _, _ in SEAT_ROWS)
    assert rows(
        "select account_id, activity_date, seats_purchased, arr"
        " from marts.fct_seat_utilization_daily"
        f" where (account_id, activity_date) in ({picked}) order by account_id, activity_date"
    ) == [(a, d, s, pytest.approx(arr)) for a, d, s, arr in SEAT_ROWS]
    assert rows(
        "select account_id, min(activity_date) from marts.fct_seat_utilization_daily"
        " group by account_id order by account_id"
    )[1:] == [("acc_0002", date(2026, 3, 15))]


def test_an_unused_sources_freshness_checks_pass_saying_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dagster as dg

    from orchestration.lib.freshness import freshness_checks, not_used_checks

    monkeypatch.setenv("SOURCES__TYPEFORM__ENABLED", "false")
    key = dg.AssetKey(["raw_typeform", "responses"])
    stale_checked = {
        check_key.asset_key for check in freshness_checks([]) for check_key in check.check_keys
    }
    assert key not in stale_checked
    assert dg.AssetKey(["raw_zendesk", "tickets"]) in stale_checked
    (check,) = not_used_checks()
    (spec,) = check.check_specs
    assert (spec.asset_key, spec.name) == (key, "freshness_check")
    assert "Not used (SOURCES__TYPEFORM__ENABLED=false)" in (spec.description or "")
    result = dg.materialize(
        [dg.AssetSpec(key).with_io_manager_key("io_manager"), check],
        selection=dg.AssetSelection.checks(check),
        raise_on_error=False,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed


def test_python_m_ingestion_says_a_source_is_not_used(tmp_path: Path) -> None:
    env = run_env(tmp_path, SOURCES__TYPEFORM__ENABLED="false")
    result = run_module("ingestion", "typeform", env=env, timeout=300)
    assert result.returncode == 0, run_output(result)
    assert (
        "typeform: not used (SOURCES__TYPEFORM__ENABLED=false), nothing loaded; "
        "its tables exist empty" in result.stdout
    )
