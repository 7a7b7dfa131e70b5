"""Catalogue of bad input for the Zendesk, Stripe and Typeform loaders (issue #17).

Each case is one kind of bad record or bad page, with what must happen: a bad record is set
aside in `rejected_records` with its reason while the good records of the same page load; a
bad page is retried, then the load fails naming the page URL (never a quiet success on
partial data), keeping what was already fetched; a refused credential fails at once.

Record cases share one load per vendor (a sandbox world holding every bad record beside the
good ones); page cases each run their own load against a sandbox with the fault injected.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from demo.sandbox import RawBody, Sandbox
from ingestion import stripe, typeform, zendesk
from ingestion.api import CredentialRejectedError, VendorApiError
from tests.toolkit.sandbox import CREDS, response, subscription, ticket, write_world

pytestmark = pytest.mark.slow

FUTURE = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
FUTURE_EPOCH = int((datetime.now(UTC) + timedelta(days=2)).timestamp())


@dataclass(frozen=True)
class RecordCase:
    """A bad record: the file it is served from, its JSON line, and the reason expected."""

    kind: str
    vendor: str
    file: str
    line: str
    reason: str


def _line(record: Any) -> str:
    return json.dumps(record)  # allow_nan: NaN/Infinity tokens as a lax server sends them


def _sub(sub_id: str, **changes: Any) -> dict[str, Any]:
    record = subscription(sub_id, 1_700_000_500)
    record.update(changes)
    return record


def _sub_item(sub_id: str, quantity: Any = 5, unit_amount: Any = 1200) -> dict[str, Any]:
    record = subscription(sub_id, 1_700_000_500)
    item = record["items"]["data"][0]
    item["quantity"] = quantity
    item["price"]["unit_amount"] = unit_amount
    return record


RECORD_CASES = [
    RecordCase(
        "ticket id missing",
        "zendesk",
        "tickets",
        _line(ticket(None, "2024-03-01T00:00:00Z")),
        "id is missing",
    ),
    RecordCase(
        "ticket id is an object",
        "zendesk",
        "tickets",
        _line(ticket({"value": 61}, "2024-03-01T00:00:00Z")),
        "id is not an integer id: {'value': 61}",
    ),
    RecordCase(
        "ticket id is not numeric text",
        "zendesk",
        "tickets",
        _line(ticket("T-62", "2024-03-01T00:00:00Z")),
        "id is not an integer id: 'T-62'",
    ),
    RecordCase(
        "ticket updated_at missing",
        "zendesk",
        "tickets",
        _line({**ticket(63, "x"), "updated_at": None}),
        "updated_at is missing",
    ),
    RecordCase(
        "ticket updated_at unparsable",
        "zendesk",
        "tickets",
        _line(ticket(64, "last tuesday")),
        "updated_at is not an ISO-8601 timestamp: 'last tuesday'",
    ),
    RecordCase(
        "ticket created in 1970",
        "zendesk",
        "tickets",
        _line(ticket(65, "2024-03-01T00:00:00Z", created_at="1970-01-01T00:00:00Z")),
        "created_at: timestamp 1970-01-01T00:00:00+00:00 is before 2000-01-01T00:00:00+00:00",
    ),
    RecordCase(
        "ticket updated in the future",
        "zendesk",
        "tickets",
        _line(ticket(66, FUTURE)),
        "updated_at: timestamp",
    ),
    RecordCase(
        "ticket organization_id is an object",
        "zendesk",
        "tickets",
        _line(ticket(67, "2024-03-01T00:00:00Z", organization_id={"id": 900})),
        "organization_id is not an integer id: {'id': 900}",
    ),
    RecordCase(
        "ticket page item is not an object",
        "zendesk",
        "tickets",
        '"just a string"',
        "page item is not a JSON object (str)",
    ),
    RecordCase(
        "metric ticket_id is an object",
        "zendesk",
        "ticket_metrics",
        _line({"id": 71, "ticket_id": {"id": 1}, "updated_at": "2024-01-02T00:00:00Z"}),
        "ticket_id is not an integer id: {'id': 1}",
    ),
    RecordCase(
        "metric solved_at unparsable",
        "zendesk",
        "ticket_metrics",
        _line(
            {"id": 72, "ticket_id": 2, "updated_at": "2024-01-02T00:00:00Z", "solved_at": "soon"}
        ),
        "solved_at is not an ISO-8601 timestamp: 'soon'",
    ),
    RecordCase(
        "rating created in the future",
        "zendesk",
        "satisfaction_ratings",
        _line({"id": 73, "ticket_id": 1, "score": "good", "created_at": FUTURE}),
        "created_at: timestamp",
    ),
    RecordCase(
        "organization id is a list",
        "zendesk",
        "organizations",
        _line({"id": [74], "name": "Org X"}),
        "id is not an integer id: [74]",
    ),
    RecordCase(
        "negative item quantity",
        "stripe",
        "subscriptions",
        _line(_sub_item("sub_neg_qty", quantity=-5)),
        "items.data[0].quantity: -5 is negative",
    ),
    RecordCase(
        "negative unit_amount",
        "stripe",
        "subscriptions",
        _line(_sub_item("sub_neg_amt", unit_amount=-1200)),
        "items.data[0].price.unit_amount: -1200 is negative",
    ),
    RecordCase(
        "NaN quantity",
        "stripe",
        "subscriptions",
        _line(_sub_item("sub_nan", quantity=float("nan"))),
        "items.data[0].quantity: nan is not a finite number",
    ),
    RecordCase(
        "infinite unit_amount",
        "stripe",
        "subscriptions",
        _line(_sub_item("sub_inf", unit_amount=float("inf"))),
        "items.data[0].price.unit_amount: inf is not a finite number",
    ),
    RecordCase(
        "seats of 10^20",
        "stripe",
        "subscriptions",
        _line(_sub_item("sub_huge", quantity=10**20)),
        "items.data[0].quantity: 100000000000000000000 is larger than the plausible maximum",
    ),
    RecordCase(
        "fractional seats",
        "stripe",
        "subscriptions",
        _line(_sub_item("sub_frac", quantity=2.5)),
        "items.data[0].quantity: 2.5 is not a whole number",
    ),
    RecordCase(
        "negative top-level quantity",
        "stripe",
        "subscriptions",
        _line(_sub("sub_neg_top", quantity=-1)),
        "quantity: -1 is negative",
    ),
    RecordCase(
        "subscription id is an object",
        "stripe",
        "subscriptions",
        _line(_sub("sub_x", id={"id": "sub_obj"})),
        "id is not text: {'id': 'sub_obj'}",
    ),
    RecordCase(
        "start_date in 1970",
        "stripe",
        "subscriptions",
        _line(_sub("sub_1970", start_date=0)),
        "start_date: timestamp 1970-01-01T00:00:00+00:00 is before",
    ),
    RecordCase(
        "created in the future",
        "stripe",
        "subscriptions",
        _line(_sub("sub_future", created=FUTURE_EPOCH)),
        "created: timestamp",
    ),
    RecordCase(
        "customer is an object without id",
        "stripe",
        "subscriptions",
        _line(_sub("sub_cusobj", customer={"email": "a@b.c"})),
        "customer is not an id: {'email': 'a@b.c'}",
    ),
    RecordCase(
        "items.data is not a list",
        "stripe",
        "subscriptions",
        _line(_sub("sub_items", items={"object": "list", "data": {"id": "si_1"}})),
        "items.data is not a list",
    ),
    RecordCase(
        "item id is an object",
        "stripe",
        "subscriptions",
        _line(
            _sub("sub_itemid", items={"object": "list", "data": [{"id": {"x": 1}, "quantity": 1}]})
        ),
        "items.data[0].id is not text: {'x': 1}",
    ),
    RecordCase(
        "customer account_id is an object",
        "stripe",
        "customers",
        _line(
            {
                "id": "cus_obj",
                "created": 1_600_000_000,
                "metadata": {"account_id": {"id": "acct_1"}},
            }
        ),
        "metadata.account_id is not text: {'id': 'acct_1'}",
    ),
    RecordCase(
        "customer created unreadable",
        "stripe",
        "customers",
        _line({"id": "cus_bad", "created": "yesterday"}),
        "created is not a Unix timestamp: 'yesterday'",
    ),
    RecordCase(
        "response account_id is an object",
        "typeform",
        "responses",
        _line(
            response(
                "r_obj",
                "2024-03-07T10:00:00Z",
                8,
                hidden={"user_id": "u", "account_id": {"id": "acct_1"}},
            )
        ),
        "hidden.account_id is not text: {'id': 'acct_1'}",
    ),
    RecordCase(
        "response submitted in 1970",
        "typeform",
        "responses",
        _line(response("r_1970", "1970-01-02T10:00:00Z", 8)),
        "submitted_at: timestamp 1970-01-02T10:00:00+00:00 is before",
    ),
    RecordCase(
        "response submitted in the future",
        "typeform",
        "responses",
        _line(response("r_future", FUTURE, 8)),
        "submitted_at: timestamp",
    ),
    RecordCase(
        "response score NaN",
        "typeform",
        "responses",
        _line(response("r_nan", "2024-03-07T11:00:00Z", float("nan"))),
        "score is not an integer: nan",
    ),
    RecordCase(
        "response score out of range",
        "typeform",
        "responses",
        _line(response("r_11", "2024-03-07T12:00:00Z", 11)),
        "score 11 is outside 0-10 for survey nps",
    ),
    RecordCase(
        "response hidden is a list",
        "typeform",
        "responses",
        _line(response("r_hid", "2024-03-07T13:00:00Z", 8, hidden=["acct_1"])),
        "hidden is not an object: ['acct_1']",
    ),
    RecordCase(
        "response without id or token",
        "typeform",
        "responses",
        _line(
            {**response("r_none", "2024-03-07T14:00:00Z", 8), "token": None, "response_id": None}
        ),
        "response_id is missing",
    ),
    RecordCase(  # "9²".isdigit() is True, but int() refuses it: it must not stop the load
        "response score is a choice label with a superscript digit",
        "typeform",
        "responses",
        _line(
            {
                **response("r_sup", "2024-03-07T15:00:00Z", None),
                "answers": [
                    {
                        "field": {"id": "s1", "ref": "nps_score", "type": "multiple_choice"},
                        "type": "choice",
                        "choice": {"label": "9\u00b2"},
                    }
                ],
            }
        ),
        "score is not an integer: '9\u00b2'",
    ),
    RecordCase(  # Stripe's items list says it holds more items than it embeds, and the
        # subscription_items endpoint has none of them: counting part of the seats is wrong
        "subscription items list cut short (has_more)",
        "stripe",
        "subscriptions",
        _line(
            _sub(
                "sub_has_more",
                items={**_sub_item("sub_has_more")["items"], "has_more": True, "total_count": 12},
            )
        ),
        "items.has_more is true: 1 of 12 subscription items are embedded",
    ),
]

GOOD_ROWS = {  # what write_world serves, all of which must still load beside the bad records
    "zendesk": {"tickets": 5, "ticket_metrics": 5, "satisfaction_ratings": 3, "organizations": 3},
    "stripe": {"subscriptions": 5, "customers": 3},
    "typeform": {"responses": 5},
}
DATASETS = {"zendesk": "raw_zendesk", "stripe": "raw_stripe", "typeform": "raw_typeform"}
VENDOR_DIR = {"tickets": "zendesk", "ticket_metrics": "zendesk", "satisfaction_ratings": "zendesk"}


def query(warehouse: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def kwargs(box: Sandbox, vendor: str) -> dict[str, Any]:
    return {"base_url": box.base_urls[vendor], **CREDS[vendor]}


LOADERS: dict[str, Any] = {"zendesk": zendesk, "stripe": stripe, "typeform": typeform}


@pytest.fixture(scope="module")
def record_catalogue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One world with every bad record appended to the good ones; every vendor loaded once."""
    root = tmp_path_factory.mktemp("catalogue")
    world = write_world(root / "world")
    for case in RECORD_CASES:
        with (world / case.vendor / f"{case.file}.jsonl").open("a") as handle:
            handle.write(case.line + "\n")
    warehouse = root / "warehouse.duckdb"
    patch = pytest.MonkeyPatch()
    patch.setenv("WAREHOUSE_PATH", str(warehouse))
    patch.setenv("RUNTIME__LOG_LEVEL", "ERROR")
    try:
        with Sandbox(world, page_size=3) as box:
            for vendor, loader in LOADERS.items():
                loader.load(**kwargs(box, vendor))
        yield warehouse
    finally:
        patch.undo()


@pytest.mark.parametrize("case", RECORD_CASES, ids=[c.kind for c in RECORD_CASES])
def test_bad_record_is_set_aside_with_its_reason(record_catalogue: Path, case: RecordCase) -> None:
    dataset = DATASETS[case.vendor]
    rows = query(
        record_catalogue, f"select record, reason, location from {dataset}.rejected_records"
    )
    record = json.loads(case.line)
    matches = [
        (reason, location)
        for text, reason, location in rows
        if json.loads(text) == record or (isinstance(record, dict) and json.loads(text) == record)
    ]
    assert len(matches) == 1, (case.kind, rows)
    reason, location = matches[0]
    assert reason.startswith(case.reason), (reason, case.reason)
    assert location.startswith("http://127.0.0.1:")  # the page it came from


@pytest.mark.parametrize("vendor", sorted(GOOD_ROWS))
def test_good_records_beside_bad_ones_all_load(record_catalogue: Path, vendor: str) -> None:
    dataset = DATASETS[vendor]
    loaded = {
        table: query(record_catalogue, f"select count(*) from {dataset}.{table}")[0][0]
        for table in GOOD_ROWS[vendor]
    }
    assert loaded == GOOD_ROWS[vendor]
    rejected = query(record_catalogue, f"select count(*) from {dataset}.rejected_records")[0][0]
    assert rejected == sum(1 for case in RECORD_CASES if case.vendor == vendor)


# --- Page faults: one load each ------------------------------------------------------------


@dataclass(frozen=True)
class PageCase:
    """A fault on the wire, and what the load must do about it."""

    kind: str
    vendor: str
    statuses: tuple[int, ...] = ()
    path_contains: str = ""
    body: RawBody | None = None
    paging: str = ""
    error: type[Exception] = VendorApiError
    message: str = ""
    retried: bool = True
    kept: dict[str, int] = field(default_factory=dict)  # rows that must be committed anyway


HTML = RawBody("<html><body><h1>502 Bad Gateway</h1></body></html>")
STORM = (500,) * 5

PAGE_CASES = [
    PageCase(
        "zendesk non-JSON 200 page",
        "zendesk",
        (200,) * 5,
        "incremental",
        RawBody('{"tickets": [', "application/json"),
        message="not JSON",
        kept={"organizations": 3},
    ),
    PageCase(
        "zendesk HTML 200 page",
        "zendesk",
        (200,) * 5,
        "incremental",
        HTML,
        message="not JSON (text/html",
    ),
    PageCase(
        "zendesk 404 storm",
        "zendesk",
        (404,) * 5,
        "ticket_metrics",
        message="HTTP 404",
        kept={"tickets": 5},
    ),
    PageCase(
        "zendesk 500 storm",
        "zendesk",
        STORM,
        "organizations",
        message="HTTP 500",
        kept={"tickets": 5},
    ),
    PageCase(
        "zendesk body is a JSON list",
        "zendesk",
        (200,) * 5,
        "satisfaction",
        RawBody("[1, 2]", "application/json"),
        message="the body is a JSON list",
    ),
    PageCase(
        "zendesk tickets not a list",
        "zendesk",
        (200,) * 5,
        "incremental",
        RawBody('{"tickets": {"id": 1}, "end_of_stream": true}', "application/json"),
        message="`tickets` is dict, not a list",
    ),
    PageCase(
        "zendesk 500 storm after the first page",
        "zendesk",
        (0, *STORM),
        "incremental",
        message="HTTP 500",
        kept={"tickets": 2},
    ),
    PageCase(
        "zendesk cursor loops",
        "zendesk",
        paging="loop",
        message="cursor it had already given",
        retried=False,
        kept={"tickets": 2},
    ),
    PageCase(
        "zendesk export never ends",
        "zendesk",
        paging="endless",
        message="pages without reaching the end",
        retried=False,
        kept={"tickets": 5},
    ),
    PageCase(
        "zendesk credential refused",
        "zendesk",
        (401,),
        error=CredentialRejectedError,
        message="SOURCES__ZENDESK__API_TOKEN",
        retried=False,
    ),
    PageCase(
        "zendesk credential forbidden",
        "zendesk",
        (403,),
        error=CredentialRejectedError,
        message="HTTP 403",
        retried=False,
    ),
    PageCase(
        "stripe HTML 503 storm",
        "stripe",
        (503,) * 5,
        "subscriptions",
        HTML,
        message="HTTP 503",
        kept={"customers": 3},
    ),
    PageCase(
        "stripe non-JSON 200",
        "stripe",
        (200,) * 5,
        "customers",
        RawBody("OK", "text/plain"),
        message="not JSON (text/plain",
        kept={"subscriptions": 5},
    ),
    PageCase(
        "stripe data not a list",
        "stripe",
        (200,) * 5,
        "customers",
        RawBody('{"object": "list", "data": "none", "has_more": false}', "application/json"),
        message="`data` is str",
    ),
    PageCase(
        "stripe cursor loops",
        "stripe",
        paging="loop",
        message="cursor it had already given",
        retried=False,
        kept={"subscriptions": 2},
    ),
    PageCase(
        "stripe key refused",
        "stripe",
        (401,),
        error=CredentialRejectedError,
        message="SOURCES__STRIPE__API_KEY",
        retried=False,
    ),
    PageCase("typeform 404 storm", "typeform", (404,) * 5, message="HTTP 404"),
    PageCase(
        "typeform non-JSON 200",
        "typeform",
        (200,) * 5,
        body=RawBody("<!doctype html>", "text/html"),
        message="not JSON",
    ),
    PageCase(
        "typeform token loops",
        "typeform",
        paging="loop",
        message="cursor it had already given",
        retried=False,
    ),
    PageCase(
        "typeform token forbidden",
        "typeform",
        (403,),
        error=CredentialRejectedError,
        message="SOURCES__TYPEFORM__ACCESS_TOKEN",
        retried=False,
    ),
]


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ingestion.api.HTTP_BACKOFF_SECONDS", 0.01)


@pytest.mark.parametrize("case", PAGE_CASES, ids=[c.kind for c in PAGE_CASES])
def test_bad_page_fails_loudly_naming_the_page(
    case: PageCase, tmp_path: Path, warehouse: Path, fast_retries: None
) -> None:
    with Sandbox(write_world(tmp_path / "world"), page_size=2) as box:
        if case.statuses:
            box.inject(
                case.vendor, *case.statuses, path_contains=case.path_contains, body=case.body
            )
        if case.paging:
            box.fault_paging(case.vendor, case.paging)
        extra = {"max_pages": 6} if case.paging == "endless" else {}
        with pytest.raises(case.error) as info:
            LOADERS[case.vendor].load(**kwargs(box, case.vendor), **extra)
        log = list(box.requests_log)
    message = str(info.value)
    assert case.message in message, message
    assert "http://127.0.0.1:" in message  # the page (or the credential's URL) is named
    failing = [status for _, _, status in log if status in case.statuses and status != 200]
    if case.error is CredentialRejectedError:
        assert failing == [case.statuses[0]]  # refused once, never retried
    elif case.retried:
        assert "after 5 tries" in message
    dataset = DATASETS[case.vendor]
    for table, rows in case.kept.items():
        got = query(warehouse, f"select count(*) from {dataset}.{table}")[0][0]
        assert got == rows, (table, got)
    if case.vendor == "typeform" and warehouse.exists():  # newest first: nothing half-read kept
        tables = query(
            warehouse,
            "select count(*) from information_schema.tables "
            "where table_schema = 'raw_typeform' and table_name = 'responses'",
        )[0][0]
        assert tables == 0 or query(warehouse, "select count(*) from raw_typeform.responses") == [
            (0,)
        ]


def test_a_failed_zendesk_run_resumes_and_completes(
    tmp_path: Path, warehouse: Path, fast_retries: None
) -> None:
    """After a 500 storm cut the export short, the next run reads the rest: nothing is lost."""
    with Sandbox(write_world(tmp_path / "world"), page_size=2) as box:
        box.inject("zendesk", 0, *STORM, path_contains="incremental")
        with pytest.raises(VendorApiError, match="kept every page fetched"):
            zendesk.load(**kwargs(box, "zendesk"))
        assert query(warehouse, "select count(*) from raw_zendesk.tickets") == [(2,)]
        mark = len(box.requests_log)
        zendesk.load(**kwargs(box, "zendesk"))
        resumed = [p for _, p, _ in box.requests_log[mark:] if "incremental" in p][0]
    assert "start_time=1709287200" in resumed  # newest updated_at committed (2024-03-01 10:00)
    assert query(warehouse, "select count(*) from raw_zendesk.tickets") == [(5,)]


def test_transient_bad_pages_are_retried_and_the_load_completes(
    tmp_path: Path, warehouse: Path, fast_retries: None
) -> None:
    with Sandbox(write_world(tmp_path / "world"), page_size=2) as box:
        box.inject("zendesk", 0, 200, 404, 502, path_contains="incremental", body=HTML)
        zendesk.load(**kwargs(box, "zendesk"))
        statuses = [s for _, p, s in box.requests_log if "incremental" in p]
    assert statuses[:4] == [200, 200, 404, 502] and statuses[4] == 200
    assert query(warehouse, "select count(*) from raw_zendesk.tickets") == [(5,)]


def test_catalogue_size() -> None:
    """Issue #17 asks for at least 25 kinds of bad API input."""
    assert len(RECORD_CASES) + len(PAGE_CASES) + 2 >= 25
