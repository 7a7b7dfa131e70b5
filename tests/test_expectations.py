# ruff: noqa: E501  (the fixture SQL reads better with one row per line)
"""Great Expectations suites as asset checks: the severity rule of docs/checks.md.

Valid data the vendor contracts allow (a customer without account, a multi-item subscription
table without `quantity`/`plan`, a ticket without priority) gives WARN with counts; data that
would make a number wrong (null or duplicated key, future timestamp, value outside its domain,
absent required column) gives ERROR, which alone stops the marts.

The warehouse here is hand-made (a few rows per table, only the columns the suites name) so the
tests run in seconds; the full pipeline run validates the same suites on the sample world.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.lib.gx_checks import (
    Outcome,
    Suite,
    build_gx_check,
    load_suites,
    runtime_parameters,
    severity_of,
    validate_table,
)

NOW = datetime(2026, 4, 1, 12, tzinfo=UTC)

CLEAN = """
create schema raw_segment; create schema raw_zendesk; create schema raw_typeform;
create schema raw_stripe; create schema raw_file_drop; create schema marts;
create table raw_segment.events as select * from (values
  ('m1', 'track', timestamptz '2026-03-30 10:00:00+00', 'u1', null, 'Report Created', 'acc_1',
   timestamptz '2026-03-30 10:00:05+00'),
  ('m2', 'page', timestamptz '2026-03-31 10:00:00+00', null, 'a1', null, null,
   timestamptz '2026-03-31 10:00:05+00'),
  ('m3', 'identify', timestamptz '2026-03-31 11:00:00+00', 'u2', 'a2', null, null,
   timestamptz '2026-03-31 11:00:01+00')
) t(message_id, type, timestamp, user_id, anonymous_id, event, context_group_id, received_at);
create table raw_zendesk.tickets as select * from (values
  (1::bigint, timestamptz '2026-03-01 09:00:00+00', timestamptz '2026-03-02 09:00:00+00',
   'solved', 'high', 'question', 10::bigint, 20::bigint, 'email'),
  (2::bigint, timestamptz '2026-03-03 09:00:00+00', timestamptz '2026-03-03 10:00:00+00',
   'open', null, null, null::bigint, 21::bigint, 'web')
) t(id, created_at, updated_at, status, priority, type, organization_id, requester_id, via__channel);
create table raw_zendesk.ticket_metrics as select * from (values
  (100::bigint, 1::bigint, timestamptz '2026-03-01 09:00:00+00', timestamptz '2026-03-02 09:00:00+00',
   timestamptz '2026-03-02 09:00:00+00', 30::bigint, 20::bigint, 1440::bigint, 0::bigint),
  (101::bigint, 2::bigint, timestamptz '2026-03-03 09:00:00+00', timestamptz '2026-03-03 10:00:00+00',
   null, null, null, null, 0::bigint)
) t(id, ticket_id, created_at, updated_at, solved_at, reply_time_in_minutes__calendar,
    reply_time_in_minutes__business, full_resolution_time_in_minutes__calendar, reopens);
create table raw_zendesk.satisfaction_ratings as select * from (values
  (7::bigint, 1::bigint, 'good', timestamptz '2026-03-02 10:00:00+00', timestamptz '2026-03-02 10:00:00+00')
) t(id, ticket_id, score, created_at, updated_at);
create table raw_zendesk.organizations as select * from (values
  (10::bigint, 'Acme', 'acc_1', timestamptz '2025-01-01 00:00:00+00', timestamptz '2025-01-01 00:00:00+00')
) t(id, name, external_id, created_at, updated_at);
create table raw_typeform.responses as select * from (values
  ('r1', timestamptz '2026-03-05 08:00:00+00', 'u1', 'acc_1', 'nps', 9::bigint),
  ('r2', timestamptz '2026-03-06 08:00:00+00', null, 'acc_1', 'nps', null::bigint)
) t(response_id, submitted_at, user_id, account_id, survey, score);
create table raw_stripe.subscriptions as select * from (values
  ('sub_1', 'cus_1', 'active', 1735689600::bigint, 1735689600::bigint, 1790000000::bigint, 5::bigint, 1000::bigint)
) t(id, customer, status, created, start_date, current_period_end, quantity, plan__amount);
create table raw_stripe.customers as select * from (values
  ('cus_1', 1735689600::bigint, 'billing@acme.example.com', 'acc_1')
) t(id, created, email, metadata__account_id);
create table raw_file_drop.survey_responses as select * from (values
  ('fd_1', timestamptz '2026-03-07 08:00:00+00', 'u1', 'acc_1', 'csat', 5::bigint),
  ('fd_2', timestamptz '2026-03-08 08:00:00+00', 'u2', 'acc_1', 'nps', 0::bigint)
) t(response_id, submitted_at, user_id, account_id, survey, score);
create table raw_file_drop.licenses as select * from (values
  ('LIC-1', 'acc_1', 10::bigint, date '2025-01-01', null::date, 1200.0::double, 'USD')
) t(license_id, account_id, seats, starts_on, ends_on, annual_price, currency);
create table marts.fct_active_users_daily as select * from (values
  (date '2026-03-30', 1::bigint, 1::bigint, 1::bigint, 1.0::double, 1::bigint),
  (date '2026-03-31', 0::bigint, 1::bigint, 2::bigint, 0.0::double, 0::bigint)
) t(activity_date, dau, wau, mau, stickiness, new_users);
create table marts.fct_tickets as select * from (values
  (1::bigint, 'acc_1', timestamptz '2026-03-01 09:00:00+00', timestamptz '2026-03-02 09:00:00+00',
   'solved', 'high', 30::bigint, 1440::bigint, 0::bigint, 'good', false),
  (2::bigint, null, timestamptz '2026-03-03 09:00:00+00', null, 'open', null, null, null,
   0::bigint, null, null::boolean)
) t(ticket_id, account_id, created_at, solved_at, status, priority, first_reply_minutes_calendar,
    full_resolution_minutes_calendar, reopens, satisfaction, is_first_reply_sla_breached);
create table marts.fct_seat_utilization_daily as select * from (values
  ('acc_1', date '2026-03-31', 10::bigint, 12::bigint, 1.2::double, 0::bigint, 1200.0::double),
  ('acc_1', date '2026-03-30', 10::bigint, 5::bigint, 0.5::double, 5::bigint, 1200.0::double)
) t(account_id, activity_date, seats_purchased, active_users_28d, utilization, unused_seats, arr);
"""


@pytest.fixture
def clean_warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(CLEAN)
    return path


@pytest.fixture(autouse=True)
def docs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "gx_docs"
    monkeypatch.setenv("GX_DOCS_DIR", str(folder))
    return folder


def suite(table: str) -> Suite:
    return next(s for s in load_suites() if s.table == table)


def run(warehouse: Path, table: str, **kwargs: object) -> Outcome:
    return validate_table(suite(table), warehouse=warehouse, now=NOW, **kwargs)  # type: ignore[arg-type]


def failing(outcome: Outcome) -> set[tuple[str, str]]:
    return {(f["expectation"], str(f["column"])) for f in outcome.failures}


def levels(outcome: Outcome) -> set[tuple[str, str, str]]:
    return {(f["severity"], f["expectation"], str(f["column"])) for f in outcome.failures}


# The hand-made warehouse carries three nulls the contracts allow; each is a warning, no more.
FIXTURE_WARNINGS = {
    ("raw_typeform.responses", "warn", "expect_column_values_to_not_be_null", "user_id"),
    ("raw_zendesk.tickets", "warn", "expect_column_values_to_not_be_null", "priority"),
    ("raw_zendesk.tickets", "warn", "expect_column_values_to_not_be_null", "organization_id"),
}


def test_one_suite_per_raw_table_and_checked_mart() -> None:
    tables = {s.table for s in load_suites()}
    assert len(tables) == 13
    assert {"raw_segment.events", "raw_file_drop.licenses", "marts.fct_tickets"} <= tables
    for s in load_suites():
        kinds = {e["type"] for e in s.expectations}
        assert "expect_table_row_count_to_be_between" in kinds, s.name
        assert "expect_column_values_to_not_be_null" in kinds, s.name
        assert kinds & {"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"}


def test_every_expectation_has_a_severity_and_keys_block() -> None:
    for s in load_suites():
        named = {c for e in s.expectations for c in _named(e)}
        assert s.required_columns and set(s.required_columns) <= named, s.name
        for expectation in s.expectations:
            severity = severity_of(expectation)
            assert expectation["meta"]["why"], (s.name, expectation)
            kind = expectation["type"]
            # A ticket may carry several metric records; staging keeps the latest (docs/metrics.md).
            # Raw events are an append-only log: a message re-delivered in a later load is
            # there again, and staging keeps its first copy.
            several_allowed = (s.name, expectation["kwargs"].get("column")) in {
                ("raw_zendesk__ticket_metrics", "ticket_id"),
                ("raw_segment__events", "message_id"),
            }
            if kind in {"expect_column_values_to_be_unique", "expect_column_max_to_be_between"}:
                assert (severity == "error") != several_allowed, (s.name, expectation)
            if kind == "expect_column_values_to_not_be_null":
                column = expectation["kwargs"]["column"]
                assert (severity == "error") == (column in s.required_columns), (s.name, column)
    warned = {
        (s.name, e["kwargs"].get("column"))
        for s in load_suites()
        for e in s.expectations
        if severity_of(e) == "warn" and e["type"] == "expect_column_values_to_not_be_null"
    }
    # What the vendor contracts allow is a warning, never a block (docs/checks.md).
    assert {
        ("raw_stripe__customers", "metadata__account_id"),
        ("raw_zendesk__tickets", "priority"),
        ("raw_zendesk__tickets", "organization_id"),
        ("raw_zendesk__organizations", "external_id"),
        ("raw_typeform__responses", "user_id"),
        ("raw_typeform__responses", "account_id"),
        ("raw_file_drop__survey_responses", "user_id"),
        ("raw_file_drop__licenses", "account_id"),
    } <= warned


def _named(expectation: dict[str, object]) -> list[str]:
    kwargs = expectation["kwargs"]
    assert isinstance(kwargs, dict)
    names = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
    return names + list(kwargs.get("column_list", []))


def test_fixture_blocks_nothing_and_warns_only_the_allowed_nulls(
    clean_warehouse: Path, docs_dir: Path
) -> None:
    warnings = set()
    for s in load_suites():
        outcome = validate_table(s, warehouse=clean_warehouse, now=NOW)
        assert outcome.severity in {"passed", "warn"}, outcome.describe()
        assert not outcome.blocking_failures and not outcome.absent_columns
        assert outcome.evaluated >= 8
        assert outcome.docs_path is not None and outcome.docs_path.exists()
        warnings |= {(s.table, *level) for level in levels(outcome)}
    assert warnings == FIXTURE_WARNINGS
    tickets = run(clean_warehouse, "raw_zendesk.tickets")
    assert {f["column"]: f["unexpected_count"] for f in tickets.warnings} == {
        "priority": 1,
        "organization_id": 1,
    }
    assert "2 warning(s), nothing blocking" in tickets.describe()
    assert "WARN expect_column_values_to_not_be_null(priority): 1 of 2 rows" in tickets.describe()
    index = (docs_dir / "index.html").read_text()
    assert index.count("passed") >= 13 and "FAILED" not in index
    assert index.count("passed with warnings") == 2


def test_customer_without_account_id_warns_with_its_count(clean_warehouse: Path) -> None:
    with duckdb.connect(str(clean_warehouse)) as con:
        con.execute(
            "insert into raw_stripe.customers values ('cus_2', 1735689700, null, null),"
            " ('cus_3', 1735689800, 'x@example.com', '')"
        )
    outcome = run(clean_warehouse, "raw_stripe.customers")
    assert outcome.severity == "warn", outcome.describe()
    assert [(f["column"], f["unexpected_count"]) for f in outcome.failures] == [
        ("metadata__account_id", 1)
    ]


def test_multi_item_subscriptions_without_quantity_or_plan_columns_warn_absent(
    clean_warehouse: Path,
) -> None:
    """Stripe's multi-item subscriptions have no top-level quantity/plan: dlt makes no column."""
    with duckdb.connect(str(clean_warehouse)) as con:
        con.execute("alter table raw_stripe.subscriptions drop column quantity")
        con.execute("alter table raw_stripe.subscriptions drop column plan__amount")
        con.execute(
            "insert into raw_stripe.subscriptions values"
            " ('sub_2', 'cus_1', 'active', 1735689600, 1735689600, 1790000000)"
        )
    outcome = run(clean_warehouse, "raw_stripe.subscriptions")
    assert outcome.severity == "warn", outcome.describe()
    assert outcome.absent_columns == ["quantity", "plan__amount"]
    assert levels(outcome) == {
        ("warn", "expect_column_to_exist", "quantity"),
        ("warn", "expect_column_to_exist", "plan__amount"),
    }
    assert "column absent from raw_stripe.subscriptions" in outcome.describe()
    assert outcome.rows == 2


def test_absent_required_column_blocks_without_crashing(clean_warehouse: Path) -> None:
    with duckdb.connect(str(clean_warehouse)) as con:
        con.execute("alter table raw_zendesk.tickets drop column status")
        con.execute("alter table raw_zendesk.tickets drop column type")
    outcome = run(clean_warehouse, "raw_zendesk.tickets")
    assert outcome.severity == "error"
    assert {
        ("error", "expect_column_to_exist", "status"),
        ("warn", "expect_column_to_exist", "type"),
    } <= levels(outcome)
    assert outcome.absent_columns == ["status", "type"]


def test_absent_table_is_a_warning(clean_warehouse: Path) -> None:
    with duckdb.connect(str(clean_warehouse)) as con:
        con.execute("drop table raw_zendesk.satisfaction_ratings")
    outcome = run(clean_warehouse, "raw_zendesk.satisfaction_ratings")
    assert outcome.severity == "warn" and outcome.rows == 0
    assert "has delivered no record yet" in outcome.describe()


def test_empty_table_and_column_without_values_block_nothing(clean_warehouse: Path) -> None:
    """No ticket solved yet, no rating yet: nothing is in the future, nothing is wrong."""
    with duckdb.connect(str(clean_warehouse)) as con:
        con.execute("update raw_zendesk.ticket_metrics set solved_at = null")
        con.execute("delete from raw_zendesk.satisfaction_ratings")
    metrics = run(clean_warehouse, "raw_zendesk.ticket_metrics")
    assert metrics.severity == "passed", metrics.describe()
    ratings = run(clean_warehouse, "raw_zendesk.satisfaction_ratings")
    assert levels(ratings) == {("warn", "expect_table_row_count_to_be_between", "None")}


def test_duplicated_key_blocks(clean_warehouse: Path) -> None:
    with duckdb.connect(str(clean_warehouse)) as con:
        con.execute("insert into raw_stripe.customers values ('cus_1', 1735689600, null, 'acc_2')")
    outcome = run(clean_warehouse, "raw_stripe.customers")
    assert outcome.severity == "error"
    assert levels(outcome) == {("error", "expect_column_values_to_be_unique", "id")}


def test_future_skew_is_the_loaders_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAUSIBILITY__MAX_FUTURE_SKEW_HOURS", "36")
    assert str(runtime_parameters(NOW)["max_timestamp"]) == "2026-04-03 00:00:00"
    monkeypatch.delenv("PLAUSIBILITY__MAX_FUTURE_SKEW_HOURS")
    assert str(runtime_parameters(NOW)["max_timestamp"]) == "2026-04-01 13:00:00"


def test_no_progress_bars_in_the_output(
    clean_warehouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    run(clean_warehouse, "raw_zendesk.tickets")
    out, err = capfd.readouterr()
    assert "Calculating Metrics" not in out + err


def test_null_id_fails_the_not_null_and_names_it(clean_warehouse: Path) -> None:
    with duckdb.connect(str(clean_warehouse)) as con:
        con.execute("update raw_zendesk.tickets set id = null where id = 2")
    outcome = run(clean_warehouse, "raw_zendesk.tickets")
    assert not outcome.success and outcome.severity == "error"
    assert ("error", "expect_column_values_to_not_be_null", "id") in levels(outcome)
    assert "ERROR expect_column_values_to_not_be_null(id)" in outcome.describe()


def test_out_of_range_score_fails_between(clean_warehouse: Path) -> None:
    with duckdb.connect(str(clean_warehouse)) as con:
        con.execute(
            "update raw_file_drop.survey_responses set score = 11 where response_id = 'fd_2'"
        )
    outcome = run(clean_warehouse, "raw_file_drop.survey_responses")
    assert levels(outcome) == {("error", "expect_column_values_to_be_between", "score")}
    failure = outcome.failures[0]
    assert failure["observed"]["unexpected_count"] == 1 and failure["observed"]["sample"] == [11]


def test_future_timestamp_fails_max_bound(clean_warehouse: Path) -> None:
    with duckdb.connect(str(clean_warehouse)) as con:
        con.execute(
            "update raw_segment.events set timestamp = timestamptz '2026-04-02 00:00:00+00' "
            "where message_id = 'm1'"
        )
    outcome = run(clean_warehouse, "raw_segment.events")
    assert levels(outcome) == {("error", "expect_column_max_to_be_between", "timestamp")}
    assert "2026-04-02" in str(outcome.failures[0]["observed"])
    # The bound is now + tolerance at run time: a day later the same row is fine.
    later = validate_table(
        suite("raw_segment.events"), warehouse=clean_warehouse, now=datetime(2026, 4, 3, tzinfo=UTC)
    )
    assert later.success, later.describe()


def test_chunked_validation_matches_whole_table(clean_warehouse: Path) -> None:
    """Duplicates in different rows are found across chunks; counts add up over chunks."""
    with duckdb.connect(str(clean_warehouse)) as con:
        con.execute(
            "insert into raw_segment.events select 'm' || i, 'track', "
            "timestamptz '2026-03-01 00:00:00+00' + i * interval 1 minute, 'u' || (i % 7), null, "
            "'Signed In', null, timestamptz '2026-03-01 00:00:00+00' from range(10, 500) t(i)"
        )
        con.execute(
            "insert into raw_segment.events select * from raw_segment.events where message_id = 'm77'"
        )
        con.execute(
            "update raw_segment.events set type = 'bogus' where message_id in ('m10', 'm400')"
        )
    whole = run(clean_warehouse, "raw_segment.events", chunk_rows=1_000_000)
    chunked = run(clean_warehouse, "raw_segment.events", chunk_rows=100)
    assert whole.chunks == 1 and chunked.chunks >= 5
    assert whole.rows == chunked.rows == 494
    expected = {
        ("expect_column_values_to_be_unique", "message_id"),
        ("expect_column_values_to_be_in_set", "type"),
    }
    assert failing(whole) == failing(chunked) == expected
    counts = {f["expectation"]: f["observed"]["unexpected_count"] for f in chunked.failures}
    assert counts == {
        "expect_column_values_to_be_unique": 2,
        "expect_column_values_to_be_in_set": 2,
    }


def test_definitions_attach_one_check_per_suite_blocking_on_raw(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    gx_keys = {k for k in graph.asset_check_keys if k.name == "great_expectations"}
    assert {k.asset_key.to_user_string() for k in gx_keys} == {
        s.asset_key.to_user_string() for s in load_suites()
    }
    for key in gx_keys:
        spec = graph.get_check_spec(key)
        assert spec.blocking == (key.asset_key.path[0] != "marts"), key


def test_blocking_check_on_raw_table_stops_downstream(
    clean_warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAREHOUSE_PATH", str(clean_warehouse))
    tickets = suite("raw_zendesk.tickets")

    @dg.asset(key=tickets.asset_key)
    def raw_tickets() -> None:
        with duckdb.connect(str(clean_warehouse)) as con:
            con.execute("update raw_zendesk.tickets set status = 'exploded' where id = 1")

    @dg.asset(key=["marts", "fct_tickets"], deps=[raw_tickets])
    def fct_tickets() -> None:
        raise AssertionError("the mart must not be rebuilt from bad raw data")

    result = dg.materialize(
        [raw_tickets, fct_tickets, build_gx_check(tickets)],
        raise_on_error=False,
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert not result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 1 and not evaluations[0].passed
    assert "expect_column_values_to_be_in_set(status)" in (evaluations[0].description or "")
    failed = evaluations[0].metadata["failing_expectations"].value
    # The fixture's two allowed nulls are listed too, as warnings; the bad status blocks.
    assert evaluations[0].severity == dg.AssetCheckSeverity.ERROR
    assert evaluations[0].metadata["severity"].value == "error"
    assert evaluations[0].metadata["blocking_failures"].value == 1
    assert [f for f in failed if f["severity"] == "error"] == [
        {
            "expectation": "expect_column_values_to_be_in_set",
            "column": "status",
            "severity": "error",
            "unexpected_count": 1,
            "observed": {"unexpected_count": 1, "element_count": 2, "sample": ["exploded"]},
        }
    ]
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {tickets.asset_key}


def test_warn_only_check_lets_the_marts_build_and_carries_counts(
    clean_warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAREHOUSE_PATH", str(clean_warehouse))
    customers = suite("raw_stripe.customers")

    @dg.asset(key=customers.asset_key)
    def raw_customers() -> None:
        with duckdb.connect(str(clean_warehouse)) as con:
            con.execute("insert into raw_stripe.customers values ('cus_9', 1735689600, null, null)")

    @dg.asset(key=["marts", "dim_accounts"], deps=[raw_customers])
    def dim_accounts() -> None:
        pass

    result = dg.materialize(
        [raw_customers, dim_accounts, build_gx_check(customers)],
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.blocking is True
    assert (evaluation.description or "").startswith(
        "raw_stripe__customers: 1 warning(s), nothing blocking"
    )
    metadata = {k: v.value for k, v in evaluation.metadata.items()}
    assert metadata["severity"] == "warn" and metadata["warnings"] == 1
    assert metadata["blocking_failures"] == 0
    (warning,) = metadata["failing_expectations"]
    assert {k: warning[k] for k in ("expectation", "column", "severity", "unexpected_count")} == {
        "expectation": "expect_column_values_to_not_be_null",
        "column": "metadata__account_id",
        "severity": "warn",
        "unexpected_count": 1,
    }
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["marts", "dim_accounts"]) in materialized


@pytest.mark.slow
def test_postgres_warns_on_absent_optional_column_and_blocks_a_duplicate(
    postgres_warehouse,  # noqa: ANN001 (conftest's Cluster database)
) -> None:
    """The same rule through GX's SQL datasource: customers without the metadata column."""
    import psycopg2

    url = postgres_warehouse.url
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        cursor.execute(
            "create schema raw_stripe;"
            "create table raw_stripe.customers (id varchar, created bigint, email varchar);"
            "insert into raw_stripe.customers values ('cus_1', 1735689600, 'a@example.com'),"
            " ('cus_2', 1735689700, null)"
        )
    customers = suite("raw_stripe.customers")
    outcome = validate_table(customers, engine="postgres", connection_string=url, now=NOW)
    assert outcome.severity == "warn", outcome.describe()
    assert outcome.absent_columns == ["metadata__account_id"]
    assert outcome.rows == 2
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        cursor.execute("insert into raw_stripe.customers values ('cus_1', 1735689600, null)")
    outcome = validate_table(customers, engine="postgres", connection_string=url, now=NOW)
    assert outcome.severity == "error"
    assert ("error", "expect_column_values_to_be_unique", "id") in levels(outcome)


def test_null_samples_render_in_the_data_docs_page(
    clean_warehouse: Path, docs_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Nullable columns read as pandas' NA: GX's page renderer once raised on those samples,
    # printing a traceback on every run and leaving the failed expectations off the page.
    with duckdb.connect(str(clean_warehouse)) as con:
        con.execute(
            "insert into raw_zendesk.tickets select 2 + i, created_at, updated_at, status, null,"
            " type, null, requester_id, via__channel from raw_zendesk.tickets, range(1, 6) r(i)"
            " where id = 2"
        )
    outcome = run(clean_warehouse, "raw_zendesk.tickets")
    assert {f["column"]: f["unexpected_count"] for f in outcome.warnings} == {
        "priority": 6,
        "organization_id": 6,
    }
    assert "data docs rendering" not in caplog.text
    assert outcome.docs_path is not None
    page = outcome.docs_path.read_text()
    assert "organization_id" in page and "Unexpected Value" in page
