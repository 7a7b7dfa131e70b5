"""The Zendesk, Typeform and Stripe loaders end to end: sandbox -> dlt -> DuckDB raw tables."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from demo.sandbox import Sandbox
from ingestion import pipeline, plausibility, stripe, typeform, zendesk
from ingestion.settings import MissingSettingError
from tests.toolkit.sandbox import CREDS, response, ticket, write_jsonl, write_world
from tests.toolkit.warehouse import pg_query

pytestmark = pytest.mark.slow

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("WAREHOUSE_PATH", str(path))
    return path


@pytest.fixture
def sandbox(tmp_path: Path, warehouse: Path) -> Iterator[Sandbox]:
    with Sandbox(write_world(tmp_path / "world"), page_size=2) as box:
        yield box


def query(warehouse: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def count(warehouse: Path, table: str) -> int:
    return int(query(warehouse, f"select count(*) from {table}")[0][0])


def zendesk_kwargs(box: Sandbox) -> dict[str, Any]:
    return {"base_url": box.base_urls["zendesk"], **CREDS["zendesk"]}


def typeform_kwargs(box: Sandbox) -> dict[str, Any]:
    return {"base_url": box.base_urls["typeform"], **CREDS["typeform"]}


def stripe_kwargs(box: Sandbox) -> dict[str, Any]:
    return {"base_url": box.base_urls["stripe"], **CREDS["stripe"]}


def touch_later(path: Path) -> None:
    """Make sure the sandbox notices an edit even on coarse-mtime filesystems."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_zendesk_loads_merges_and_updates(sandbox: Sandbox, warehouse: Path) -> None:
    zendesk.load(**zendesk_kwargs(sandbox))
    tables = {
        "tickets": 5,
        "tickets__tags": 10,
        "ticket_metrics": 5,
        "satisfaction_ratings": 3,
        "organizations": 3,
    }
    assert {t: count(warehouse, f"raw_zendesk.{t}") for t in tables} == tables
    assert query(
        warehouse, "select id, organization_id from raw_zendesk.tickets where id in (4, 5)"
    )
    assert query(warehouse, "select organization_id from raw_zendesk.tickets where id = 5") == [
        (None,)
    ]  # empty-string id became null
    assert query(
        warehouse, "select via__channel, status from raw_zendesk.tickets where id = 3"
    ) == [("email", "deleted")]

    zendesk.load(**zendesk_kwargs(sandbox))  # nothing changed: no new rows
    assert count(warehouse, "raw_zendesk.tickets") == 5
    assert count(warehouse, "raw_zendesk.ticket_metrics") == 5

    path = sandbox.data_dir / "zendesk" / "tickets.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0] = ticket(1, "2024-04-01T09:00:00Z", status="solved", tags=["billing"])
    write_jsonl(path, records)
    touch_later(path)
    requests_before = len(sandbox.requests_log)
    zendesk.load(**zendesk_kwargs(sandbox))
    incremental = [p for _, p, _ in sandbox.requests_log[requests_before:] if "incremental" in p]
    assert "start_time=1709632800" in incremental[0]  # newest loaded updated_at (2024-03-05)
    assert count(warehouse, "raw_zendesk.tickets") == 5
    assert query(warehouse, "select status from raw_zendesk.tickets where id = 1") == [("solved",)]
    assert count(warehouse, "raw_zendesk.tickets__tags") == 9


def test_a_load_reads_the_plausibility_settings_once(
    sandbox: Sandbox, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not twice per timestamp: dlt's config lookup takes ~50 us (0.7 s of the demo's Zendesk)."""
    real, reads = plausibility._setting, []
    monkeypatch.setattr(
        plausibility, "_setting", lambda key: reads.append(key) or real(key)
    )  # every record's timestamps still checked: test_bad_records_are_set_aside_with_reasons
    zendesk.load(**zendesk_kwargs(sandbox))
    assert count(warehouse, "raw_zendesk.tickets") == 5
    assert sorted(reads) == sorted([plausibility.EARLIEST_SETTING, plausibility.SKEW_SETTING])
    # A bad setting stops the load before it starts, naming the setting.
    monkeypatch.setenv("PLAUSIBILITY__MAX_FUTURE_SKEW_HOURS", "soon")
    with pytest.raises(plausibility.PlausibilitySettingError, match="MAX_FUTURE_SKEW_HOURS"):
        typeform.load(**typeform_kwargs(sandbox))
    assert not query(
        warehouse, "select 1 from information_schema.schemata where schema_name = 'raw_typeform'"
    )


def test_typeform_flattens_scores_and_loads_once(sandbox: Sandbox, warehouse: Path) -> None:
    typeform.load(**typeform_kwargs(sandbox))
    rows = query(
        warehouse,
        "select response_id, score, comment, user_id, account_id, survey, answers "
        "from raw_typeform.responses order by response_id",
    )
    assert [(r[0], r[1]) for r in rows] == [
        ("r1", 10),
        ("r2", 0),
        ("r3", 7),
        ("r4", None),
        ("r5", 6),
    ]
    assert rows[0][2:6] == ("comment r1", "u_r1", "acct_1", "nps")
    assert json.loads(rows[0][6])[0]["field"]["ref"] == "nps_score"

    path = sandbox.data_dir / "typeform" / "responses.jsonl"
    with path.open("a") as handle:
        handle.write(json.dumps(response("r6", "2024-03-06T10:00:00Z", 8)) + "\n")
    touch_later(path)
    mark = len(sandbox.requests_log)
    typeform.load(**typeform_kwargs(sandbox))
    assert "since=2024-03-05T10%3A00%3A00" in sandbox.requests_log[mark][1]
    typeform.load(**typeform_kwargs(sandbox))
    assert count(warehouse, "raw_typeform.responses") == 6


def test_typeform_keeps_the_fields_it_does_not_read(tmp_path: Path, warehouse: Path) -> None:
    """SOURCES.md: unknown fields are kept. The loader used to keep only the ones it read."""
    extra = {
        **response("r1", "2024-03-01T10:00:00Z", 9),
        "metadata": {"user_agent": "Mozilla/5.0", "platform": "other", "browser": "default"},
        "calculated": {"score": 4},
        "variables": [{"key": "price", "type": "number", "number": 12}],
        "hidden": {"user_id": "u_r1", "account_id": "acct_1", "Plan": "pro"},
        "score": "not ours",  # a top-level field named like the row's own column
        "thankyou_screen_ref": "default_tys",
    }
    world = write_world(tmp_path / "world")
    write_jsonl(
        world / "typeform" / "responses.jsonl", [extra, response("r2", "2024-03-02T10:00:00Z")]
    )
    with Sandbox(world, page_size=2) as box:
        typeform.load(**typeform_kwargs(box))
    rows = query(
        warehouse,
        "select response_id, score, user_id, token, landing_id, metadata__user_agent, "
        "metadata__platform, calculated__score, hidden__plan, score_extra, thankyou_screen_ref "
        "from raw_typeform.responses order by response_id",
    )
    assert rows == [
        ("r1", 9, "u_r1", "r1", "r1", "Mozilla/5.0", "other", 4, "pro", "not ours", "default_tys"),
        ("r2", 9, "u_r2", "r2", "r2", None, None, None, None, None, None),
    ]
    assert query(warehouse, "select key, type, number from raw_typeform.responses__variables") == [
        ("price", "number", 12)
    ]


def test_stripe_loads_all_statuses_with_integer_epochs(sandbox: Sandbox, warehouse: Path) -> None:
    stripe.load(**stripe_kwargs(sandbox))
    stripe.load(**stripe_kwargs(sandbox))
    assert count(warehouse, "raw_stripe.subscriptions") == 5
    assert count(warehouse, "raw_stripe.customers") == 3
    assert query(
        warehouse, "select status, start_date from raw_stripe.subscriptions where id = 'sub_b'"
    ) == [("canceled", 1_700_000_300)]
    assert query(
        warehouse,
        "select quantity, price__unit_amount, price__recurring__interval "
        "from raw_stripe.subscriptions__items__data limit 1",
    ) == [(5, 1200, "month")]
    assert query(
        warehouse, "select metadata__account_id from raw_stripe.customers where id = 'cus_2'"
    ) == [("acct_2",)]


def test_stripe_subscription_with_more_items_than_embedded_gets_them_all(
    tmp_path: Path, warehouse: Path
) -> None:
    """`items` is a list object: with `has_more` the rest come from /v1/subscription_items."""
    world = write_world(tmp_path / "world")
    record = json.loads((world / "stripe" / "subscriptions.jsonl").read_text().splitlines()[0])
    every = [
        {
            **record["items"]["data"][0],
            "id": f"si_many_{k}",
            "subscription": record["id"],
            "created": 1_700_000_000 - k,
            "quantity": 1,
        }
        for k in range(12)
    ]
    record["items"] = {**record["items"], "data": every[:3], "has_more": True, "total_count": 12}
    write_jsonl(world / "stripe" / "subscriptions.jsonl", [record])
    write_jsonl(world / "stripe" / "subscription_items.jsonl", every)
    with Sandbox(world, page_size=2) as box:
        stripe.load(**stripe_kwargs(box))
    assert query(
        warehouse, "select count(*), sum(quantity) from raw_stripe.subscriptions__items__data"
    ) == [(12, 12)]


def test_rate_limit_and_server_errors_are_ridden_out(
    sandbox: Sandbox, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ingestion.api.HTTP_BACKOFF_SECONDS", 0.05)
    sandbox.inject("stripe", 429, 500, 503, retry_after=1)
    started = time.monotonic()
    stripe.load(**stripe_kwargs(sandbox))
    assert time.monotonic() - started >= 1.0  # waited the Retry-After
    statuses = [status for _, _, status in sandbox.requests_log]
    assert statuses[:4] == [429, 500, 503, 200]
    assert count(warehouse, "raw_stripe.subscriptions") == 5


def test_revoked_credential_fails_naming_the_setting(sandbox: Sandbox, warehouse: Path) -> None:
    sandbox.revoke("zendesk")
    with pytest.raises(Exception, match=r"SOURCES__ZENDESK__API_TOKEN") as info:
        zendesk.load(**zendesk_kwargs(sandbox))
    assert "HTTP 401" in str(info.value)
    assert sum(1 for _, _, status in sandbox.requests_log if status == 401) == 1  # no retries


def test_missing_setting_names_the_env_var(warehouse: Path) -> None:
    with pytest.raises(Exception, match="SOURCES__TYPEFORM__ACCESS_TOKEN"):
        typeform.load(form_id="abc")
    with pytest.raises(MissingSettingError, match="SOURCES__STRIPE__API_KEY"):
        stripe.stripe_source()
    with pytest.raises(Exception, match="SOURCES__ZENDESK__SUBDOMAIN"):
        zendesk.zendesk_support(email="a@b.c", api_token="t")


def test_settings_resolve_from_env_vars(
    sandbox: Sandbox, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__STRIPE__BASE_URL", sandbox.base_urls["stripe"])
    monkeypatch.setenv("SOURCES__STRIPE__API_KEY", CREDS["stripe"]["api_key"])
    monkeypatch.setenv("SOURCES__ZENDESK__BASE_URL", sandbox.base_urls["zendesk"])
    monkeypatch.setenv("SOURCES__ZENDESK__EMAIL", CREDS["zendesk"]["email"])
    monkeypatch.setenv("SOURCES__ZENDESK__API_TOKEN", CREDS["zendesk"]["api_token"])
    monkeypatch.setenv("SOURCES__TYPEFORM__BASE_URL", sandbox.base_urls["typeform"])
    monkeypatch.setenv("SOURCES__TYPEFORM__FORM_ID", CREDS["typeform"]["form_id"])
    monkeypatch.setenv("SOURCES__TYPEFORM__ACCESS_TOKEN", CREDS["typeform"]["access_token"])
    monkeypatch.setenv("SOURCES__TYPEFORM__SURVEY", "csat")  # 0 and 10 are not CSAT scores
    stripe.load()
    typeform.load()
    zendesk.zendesk_support()  # resolves without arguments
    assert count(warehouse, "raw_stripe.customers") == 3
    assert count(warehouse, "raw_typeform.responses") == 1  # only r4 (no score) is valid CSAT
    assert count(warehouse, "raw_typeform.rejected_records") == 4


def test_bad_records_are_set_aside_with_reasons(sandbox: Sandbox, warehouse: Path) -> None:
    world = sandbox.data_dir
    with (world / "zendesk" / "tickets.jsonl").open("a") as handle:
        handle.write('"just a string"\n')
        handle.write(json.dumps(ticket(None, "2024-03-01T00:00:00Z")) + "\n")
        handle.write(json.dumps(ticket(77, "last tuesday")) + "\n")
    with (world / "typeform" / "responses.jsonl").open("a") as handle:
        handle.write(json.dumps(response("r9", "2024-03-09T10:00:00Z", 11)) + "\n")
        handle.write("[1, 2]\n")
    with (world / "stripe" / "customers.jsonl").open("a") as handle:
        handle.write(json.dumps({"id": "", "created": 1_600_000_000}) + "\n")
        handle.write(json.dumps({"id": "cus_x", "created": "yesterday"}) + "\n")

    zendesk.load(**zendesk_kwargs(sandbox))
    typeform.load(**typeform_kwargs(sandbox))
    stripe.load(**stripe_kwargs(sandbox))

    def reasons(dataset: str) -> list[str]:
        return sorted(
            r[0] for r in query(warehouse, f"select reason from {dataset}.rejected_records")
        )

    assert reasons("raw_zendesk") == [
        "id is missing",
        "page item is not a JSON object (str)",
        "updated_at is not an ISO-8601 timestamp: 'last tuesday'",
    ]
    assert reasons("raw_typeform") == [
        "page item is not a JSON object (list)",
        "score 11 is outside 0-10 for survey nps",
    ]
    assert reasons("raw_stripe") == [
        "created is not a Unix timestamp: 'yesterday'",
        "id is missing",
    ]
    assert count(warehouse, "raw_zendesk.tickets") == 5
    assert count(warehouse, "raw_typeform.responses") == 5
    assert count(warehouse, "raw_stripe.customers") == 3
    location, record = query(
        warehouse,
        "select location, record from raw_typeform.rejected_records where record like '%r9%'",
    )[0]
    assert (
        location.startswith(sandbox.base_urls["typeform"]) and json.loads(record)["token"] == "r9"
    )

    zendesk.load(**zendesk_kwargs(sandbox))  # re-reading the same bad records adds no rows
    assert count(warehouse, "raw_zendesk.rejected_records") == 3


def _realdata_world(root: Path) -> dict[str, int]:
    """Copy the real vendor records into the sandbox layout; return records per file."""
    totals: dict[str, int] = {}
    (root / "zendesk").mkdir(parents=True)
    for name in ("tickets", "ticket_metrics", "satisfaction_ratings", "organizations"):
        shutil.copy(REALDATA / "zendesk" / f"{name}.jsonl", root / "zendesk" / f"{name}.jsonl")
        totals[name] = len((root / "zendesk" / f"{name}.jsonl").read_text().splitlines())
    lines = (REALDATA / "typeform" / "airbyte_expected_records.jsonl").read_text().splitlines()
    responses = [r["data"] for r in map(json.loads, lines) if r.get("stream") == "responses"]
    write_jsonl(root / "typeform" / "responses.jsonl", responses)
    totals["responses"] = len(responses)
    (root / "stripe").mkdir()
    for name in ("subscriptions", "customers"):
        shutil.copy(REALDATA / "stripe" / f"{name}.jsonl", root / "stripe" / f"{name}.jsonl")
        totals[name] = len((root / "stripe" / f"{name}.jsonl").read_text().splitlines())
    (root / "world.json").write_text(json.dumps({"sandbox": CREDS}))
    return totals


@pytest.mark.skipif(not REALDATA.exists(), reason="shared realdata fixtures not present")
def test_real_vendor_records_load_or_are_set_aside(tmp_path: Path, warehouse: Path) -> None:
    totals = _realdata_world(tmp_path / "real")
    with Sandbox(tmp_path / "real", page_size=2) as box:
        zendesk.load(**zendesk_kwargs(box))
        typeform.load(**typeform_kwargs(box))
        stripe.load(**stripe_kwargs(box))
    datasets = {
        "tickets": "raw_zendesk",
        "ticket_metrics": "raw_zendesk",
        "satisfaction_ratings": "raw_zendesk",
        "organizations": "raw_zendesk",
        "responses": "raw_typeform",
        "subscriptions": "raw_stripe",
        "customers": "raw_stripe",
    }
    rejected = {
        dataset: count(warehouse, f"{dataset}.rejected_records")
        if query(
            warehouse,
            "select 1 from information_schema.tables "
            f"where table_schema = '{dataset}' and table_name = 'rejected_records'",
        )
        else 0
        for dataset in set(datasets.values())
    }
    loaded = {table: count(warehouse, f"{dataset}.{table}") for table, dataset in datasets.items()}
    for dataset in set(datasets.values()):
        expected = sum(totals[t] for t, d in datasets.items() if d == dataset)
        got = sum(loaded[t] for t, d in datasets.items() if d == dataset) + rejected[dataset]
        assert got == expected, (dataset, loaded, rejected)
    assert loaded == totals  # the real shapes are all valid: nothing needed setting aside
    assert query(warehouse, "select max(id) from raw_zendesk.ticket_metrics")[0][0] > 10**12
    assert query(
        warehouse, "select count(*) from raw_stripe.subscriptions where status = 'canceled'"
    ) == [(12,)]
    assert query(warehouse, "select count(*) from raw_typeform.responses where score is null") == [
        (totals["responses"],)
    ]


@pytest.mark.skipif(not REALDATA.exists(), reason="shared realdata fixtures not present")
def test_duckdb_gets_the_tables_dlt_default_format_gives(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows reach DuckDB as Parquet (`pipeline.duckdb_destination`): on the vendors' real
    records, the same tables, column types and values as dlt's default (`insert_values`);
    only a NUL character in a string is kept, where `insert_values` drops it."""
    world = tmp_path / "real"
    _realdata_world(world)
    tickets = world / "zendesk" / "tickets.jsonl"
    with tickets.open("a") as handle:
        handle.write(json.dumps(ticket(77, "2024-03-01T10:00:00Z", subject="a\x00b")) + "\n")

    def load_all() -> None:
        with Sandbox(world, page_size=2) as box:
            zendesk.load(**zendesk_kwargs(box))
            typeform.load(**typeform_kwargs(box))
            stripe.load(**stripe_kwargs(box))

    load_all()
    default = tmp_path / "default" / "warehouse.duckdb"
    monkeypatch.setenv("WAREHOUSE_PATH", str(default))
    monkeypatch.setattr(
        pipeline,
        "duckdb_destination",
        lambda global_config=None: dlt.destinations.duckdb(str(default)),
    )
    load_all()

    def tables(path: Path) -> dict[str, Any]:
        columns = query(
            path,
            "select table_schema || '.' || table_name, column_name, data_type "
            "from information_schema.columns where table_schema like 'raw_%' "
            "and table_schema not like '%_staging' "  # dlt's merge staging
            "and table_name not like '\\_dlt%' escape '\\' order by all",
        )
        found: dict[str, Any] = {}
        for table in sorted({name for name, _, _ in columns}):
            typed = [(c, t) for name, c, t in columns if name == table]
            kept = [c for c, _ in typed if c not in ("_dlt_load_id", "_dlt_id", "rejected_at")]
            # child rows point at their parent's `_dlt_id`: compare them through the parent
            kept = [c for c in kept if c not in ("_dlt_parent_id", "_dlt_root_id")]
            quoted = ", ".join(f'"{c}"' for c in kept)
            rows = query(path, f"select {quoted} from {table}")
            found[table] = (typed, sorted(map(repr, rows)))
        return found

    parquet, insert_values = tables(warehouse), tables(default)
    subject = "select subject from raw_zendesk.tickets where id = 77"
    assert query(warehouse, subject) == [("a\x00b",)]
    assert query(default, subject) == [("ab",)]
    parquet["raw_zendesk.tickets"] = (
        parquet["raw_zendesk.tickets"][0],
        [row.replace("a\\x00b", "ab") for row in parquet["raw_zendesk.tickets"][1]],
    )
    assert parquet.keys() == insert_values.keys()
    assert len(parquet) >= 10
    for table in parquet:
        assert parquet[table] == insert_values[table], table


def _versions_world(root: Path) -> Path:
    """Tickets changed several times (two versions share an updated_at), and a ticket metric
    listed twice in one read (a page shift) with different updated_at."""
    world = write_world(root)
    write_jsonl(
        world / "zendesk" / "tickets.jsonl",
        [
            ticket(1, "2024-03-01T10:00:00Z", status="new", priority=None),
            ticket(1, "2024-03-02T10:00:00Z", status="open", priority="high"),
            ticket(1, "2024-03-02T10:00:00Z", status="solved", priority="high"),  # later: wins
            ticket(2, "2024-03-03T10:00:00Z", status="deleted"),
            ticket(2, "2024-03-01T10:00:00Z", status="open"),  # older, even if later in file
            ticket("3", "2024-03-01T12:00:00Z", status="pending"),  # id as text
        ],
    )
    metrics = [
        {"id": 11, "ticket_id": 1, "replies": 1, "updated_at": "2024-03-01T10:00:00Z"},
        {"id": 11, "ticket_id": 1, "replies": 3, "updated_at": "2024-03-02T10:00:00Z"},
        {"id": 12, "ticket_id": "2", "replies": 2, "updated_at": "2024-03-03T10:00:00Z"},
    ]
    write_jsonl(world / "zendesk" / "ticket_metrics.jsonl", metrics)
    ratings = [  # for a deleted ticket and for a ticket the export never sent: both valid
        {"id": 21, "ticket_id": 2, "score": "bad", "created_at": "2024-03-03T11:00:00Z"},
        {"id": 22, "ticket_id": 99, "score": "good", "created_at": "2024-03-03T12:00:00Z"},
    ]
    write_jsonl(world / "zendesk" / "satisfaction_ratings.jsonl", ratings)
    return world


def _check_versions(read: Any) -> None:
    assert read("select id, status, priority from raw_zendesk.tickets order by id") == [
        (1, "solved", "high"),
        (2, "deleted", "normal"),
        (3, "pending", "normal"),
    ]
    assert read("select id, replies from raw_zendesk.ticket_metrics order by id") == [
        (11, 3),
        (12, 2),
    ]
    assert read("select ticket_id from raw_zendesk.satisfaction_ratings order by id") == [
        (2,),
        (99,),
    ]


def test_latest_ticket_version_wins_on_duckdb(tmp_path: Path, warehouse: Path) -> None:
    with Sandbox(_versions_world(tmp_path / "world"), page_size=2) as box:
        zendesk.load(**zendesk_kwargs(box))
        _check_versions(lambda sql: query(warehouse, sql))
        path = box.data_dir / "zendesk" / "tickets.jsonl"
        with path.open("a") as handle:  # next run: a stale version and an equal-time later one
            handle.write(json.dumps(ticket(1, "2024-03-01T11:00:00Z", status="open")) + "\n")
            handle.write(json.dumps(ticket(2, "2024-03-03T10:00:00Z", status="closed")) + "\n")
        touch_later(path)
        zendesk.load(**zendesk_kwargs(box))
    assert query(warehouse, "select id, status from raw_zendesk.tickets order by id") == [
        (1, "solved"),
        (2, "closed"),
        (3, "pending"),
    ]


def test_latest_ticket_version_wins_on_postgres(tmp_path: Path, postgres_warehouse: Any) -> None:
    with Sandbox(_versions_world(tmp_path / "world"), page_size=2) as box:
        zendesk.load(**zendesk_kwargs(box))
    _check_versions(lambda sql: pg_query(postgres_warehouse.url, sql))


def test_dagster_does_not_retry_a_refused_credential(tmp_path: Path) -> None:
    """The API assets carry a RetryPolicy; a 401/403 must fail at once, naming the setting."""
    from dataclasses import fields

    import dagster as dg

    from ingestion.api import CredentialRejectedError
    from ingestion.settings import WarehouseSettings
    from ingestion.sources import BY_NAME, SourceSystem
    from orchestration.lib.dlt_assets import build_source_assets

    attempts: list[int] = []

    class Refused(SourceSystem):
        def load(self, **kwargs: Any) -> Any:
            attempts.append(1)
            raise CredentialRejectedError("zendesk: HTTP 401. Check SOURCES__ZENDESK__API_TOKEN")

    zendesk_system = BY_NAME["zendesk"]  # the real registry entry, whatever its fields
    system = Refused(**{f.name: getattr(zendesk_system, f.name) for f in fields(SourceSystem)})
    settings = WarehouseSettings(engine="duckdb", path=tmp_path / "warehouse.duckdb")
    asset = build_source_assets(system, {}, settings)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize([asset], instance=instance, raise_on_error=False)
    assert not result.success and attempts == [1]
    failure = result.get_step_failure_events()[0]
    assert "SOURCES__ZENDESK__API_TOKEN" in str(failure.event_specific_data)
