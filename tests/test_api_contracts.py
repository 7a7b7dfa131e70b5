"""Property tests: vendor-shaped records within each contract load, the latest version wins.

Hypothesis generates records the vendors' API references allow (optional fields absent or
null, ids as numbers or text, several versions of one ticket with equal `updated_at`, pages
in any order, several runs) and checks what lands in the raw tables against a model computed
here. Each example is a real dlt load into a fresh DuckDB file, so examples are bounded.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ingestion import stripe, typeform, zendesk
from ingestion.api import vendor_session as real_vendor_session

pytestmark = pytest.mark.slow

# Each example is a real dlt load (about a second), so examples are bounded and failures are
# not shrunk (shrinking would take minutes); the failing example is printed as generated.
LOAD_SETTINGS = settings(
    max_examples=15,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SMALL_LOAD_SETTINGS = settings(LOAD_SETTINGS, max_examples=8)
# Record cleaning without a load is fast: many examples, shrunk normally.
CLEAN_SETTINGS = settings(max_examples=200, deadline=None)
BASE = "https://vendor.test"


class FakeSession(requests.adapters.BaseAdapter):
    """Serves pre-made pages by URL: the stream is exactly the page order a test chose.

    A transport adapter mounted on the loaders' own session (dlt's retrying one), so the
    requests go through RESTClient, its paginators and our response checks as in production.
    """

    def __init__(self, pages: dict[str, Any], empty: dict[str, Any]) -> None:
        super().__init__()
        self.pages = pages
        self.empty = empty

    def body(self, url: str, query: dict[str, str]) -> Any:
        key = url.split("?")[0]
        for prefix, body in self.empty.items():
            if prefix in key and key not in self.pages:
                return body
        return self.pages[key]

    def send(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        url = str(request.url)
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        response = requests.Response()
        response.url = url
        response.request = request
        response.status_code = 200
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps(self.body(url, query)).encode()
        return response

    def close(self) -> None:
        pass


def serve(monkeypatch: pytest.MonkeyPatch, fake: FakeSession) -> None:
    """Route the loaders' HTTP (made by ingestion.api.vendor_session) to `fake`."""

    def session() -> requests.Session:
        vendor = real_vendor_session()
        vendor.mount(BASE, fake)
        return vendor

    monkeypatch.setattr("ingestion.api.vendor_session", session)


@contextmanager
def fresh_warehouse() -> Iterator[Path]:
    """A new DuckDB file per example (hypothesis cannot use function-scoped tmp_path)."""
    with tempfile.TemporaryDirectory(prefix="h1-contracts-") as folder:
        previous = os.environ.get("WAREHOUSE_PATH")
        os.environ["WAREHOUSE_PATH"] = str(Path(folder) / "warehouse.duckdb")
        try:
            yield Path(folder) / "warehouse.duckdb"
        finally:
            if previous is None:
                os.environ.pop("WAREHOUSE_PATH", None)
            else:
                os.environ["WAREHOUSE_PATH"] = previous


def query(warehouse: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


# --- Zendesk: the latest version of a ticket wins ---------------------------------------

STATUSES = ("new", "open", "pending", "hold", "solved", "closed", "deleted")
DAY = "2024-03-0{}T10:00:00Z"


def zendesk_ticket(ticket_id: int, day: int, serial: int, id_style: str) -> dict[str, Any]:
    """A ticket version; `serial` tags it so the test can tell versions apart."""
    shown: Any = {"int": ticket_id, "float": float(ticket_id), "text": str(ticket_id)}[id_style]
    record: dict[str, Any] = {
        "id": shown,
        "created_at": "2024-03-01T09:00:00Z",
        "updated_at": DAY.format(day),
        "status": STATUSES[serial % len(STATUSES)],
        "subject": f"version {serial}",
        "tags": [f"v{serial}"],
    }
    if serial % 3:  # optional fields absent, null, or set
        record["priority"] = None if serial % 3 == 1 else "high"
        record["organization_id"] = None if serial % 2 else 900
    return record


versions = st.lists(
    st.tuples(
        st.integers(1, 3),  # ticket id
        st.integers(1, 3),  # day of updated_at: few values, so ties are common
        st.sampled_from(["int", "float", "text"]),
    ),
    min_size=1,
    max_size=12,
)


def incremental_pages(tickets: list[dict[str, Any]], page_size: int, run: int) -> dict[str, Any]:
    """Zendesk's cursor export serving `tickets` in this order, `page_size` per page."""
    chunks = [tickets[i : i + page_size] for i in range(0, len(tickets), page_size)] or [[]]
    pages: dict[str, Any] = {}
    for number, chunk in enumerate(chunks):
        url = (
            f"{BASE}/api/v2/incremental/tickets/cursor.json"
            if number == 0
            else f"{BASE}/run{run}/page{number}"
        )
        last = number == len(chunks) - 1
        pages[url] = {
            "tickets": chunk,
            "after_cursor": None if last else f"r{run}p{number + 1}",
            "after_url": None if last else f"{BASE}/run{run}/page{number + 1}",
            "end_of_stream": last,
        }
    return pages


EMPTY_LISTS = {
    "ticket_metrics": {"ticket_metrics": [], "meta": {"has_more": False}, "links": {}},
    "satisfaction_ratings": {"satisfaction_ratings": [], "meta": {"has_more": False}},
    "organizations": {"organizations": [], "meta": {"has_more": False}},
}


def load_zendesk(monkeypatch: pytest.MonkeyPatch, pages: dict[str, Any]) -> None:
    serve(monkeypatch, FakeSession(pages, EMPTY_LISTS))
    zendesk.load(base_url=BASE, email="a@b.c", api_token="t")


@LOAD_SETTINGS
@given(
    runs=st.lists(versions, min_size=1, max_size=2),
    page_size=st.integers(1, 4),
    shuffle=st.randoms(use_true_random=False),
)
def test_latest_ticket_version_wins_in_any_page_order(
    monkeypatch: pytest.MonkeyPatch,
    runs: list[list[tuple[int, int, str]]],
    page_size: int,
    shuffle: Any,
) -> None:
    """Greatest updated_at wins, then the later one in the stream, within and across runs.

    Later runs serve only what Zendesk's export would (updated_at at or after the previous
    run's newest) plus stale older versions of known tickets, which must never win.
    """
    expected: dict[int, tuple[str, int, int, int]] = {}  # id -> (updated_at, run, position, serial)
    serial = 0
    newest = ""
    with fresh_warehouse() as warehouse:
        for run, run_versions in enumerate(runs):
            stream: list[dict[str, Any]] = []
            for ticket_id, day, id_style in run_versions:
                serial += 1
                record = zendesk_ticket(ticket_id, day, serial, id_style)
                stale = bool(newest) and record["updated_at"] < newest
                if stale and ticket_id not in expected:
                    continue  # Zendesk would have sent it in the earlier run
                stream.append(record)
            shuffle.shuffle(stream)  # pages in any order: the stream is what arrives
            for position, record in enumerate(stream):
                key = (record["updated_at"], run, position, int(record["subject"].split()[1]))
                ticket_id = int(float(record["id"]))
                if newest and record["updated_at"] < newest:
                    continue  # stale: older than what the last run already committed
                if ticket_id not in expected or key[:3] > expected[ticket_id][:3]:
                    expected[ticket_id] = key
            load_zendesk(monkeypatch, incremental_pages(stream, page_size, run))
            if stream:
                newest = max([newest, *(r["updated_at"] for r in stream)])
        rows = query(warehouse, "select id, subject, status from raw_zendesk.tickets order by id")
        tags = query(
            warehouse,
            "select t.id, g.value from raw_zendesk.tickets t "
            "join raw_zendesk.tickets__tags g on g._dlt_parent_id = t._dlt_id order by t.id",
        )
    assert [(r[0], r[1]) for r in rows] == [
        (ticket_id, f"version {key[3]}") for ticket_id, key in sorted(expected.items())
    ]
    assert tags == [(ticket_id, f"v{key[3]}") for ticket_id, key in sorted(expected.items())]
    for ticket_id, _, status in rows:  # status is the winning version's, `deleted` included
        assert status == STATUSES[expected[ticket_id][3] % len(STATUSES)]


def test_equal_updated_at_across_runs_later_wins_and_stale_never_does(
    monkeypatch: pytest.MonkeyPatch, warehouse: Path
) -> None:
    """Hand-worked: run 1 has t1@day2 (open) then t1@day2 (solved); run 2 has t1@day2
    (closed, later in the stream) and a stale t1@day1 (new): closed must win."""
    first = [
        {**zendesk_ticket(1, 2, 1, "int"), "status": "open"},
        {**zendesk_ticket(1, 2, 2, "int"), "status": "solved"},
    ]
    load_zendesk(monkeypatch, incremental_pages(first, 1, 0))
    assert query(warehouse, "select status from raw_zendesk.tickets") == [("solved",)]
    second = [
        {**zendesk_ticket(1, 2, 3, "text"), "status": "closed"},
        {**zendesk_ticket(1, 1, 4, "float"), "status": "new"},
    ]
    load_zendesk(monkeypatch, incremental_pages(second, 1, 1))
    assert query(warehouse, "select id, status, subject from raw_zendesk.tickets") == [
        (1, "closed", "version 3")
    ]


# --- Every allowed record loads or is set aside; nothing fails the run ---------------------

optional_text = st.one_of(st.none(), st.text(max_size=8))
stripe_id_text = st.text("abcdef0123456789", min_size=1, max_size=6)


@st.composite
def stripe_subscription(draw: st.DrawFn, number: int) -> dict[str, Any]:
    """A subscription as Stripe's reference allows: one or several items, deprecated
    shortcuts (`quantity`, `plan`) present only for single-item ones, optional fields
    absent or null, `customer` as an id or an expanded object."""
    created = draw(st.integers(1_600_000_000, 1_700_000_000))
    item_count = draw(st.integers(0, 3))
    items = []
    for position in range(item_count):
        price: dict[str, Any] = {
            "id": f"price_{position}",
            "product": draw(st.sampled_from(["prod_1", {"id": "prod_2", "object": "product"}])),
            "unit_amount": draw(st.one_of(st.none(), st.integers(0, 10**6))),
            "currency": "usd",
        }
        if draw(st.booleans()):
            price["recurring"] = {"interval": draw(st.sampled_from(["month", "year"]))}
        item: dict[str, Any] = {"id": f"si_{number}_{position}", "price": price}
        if draw(st.booleans()):
            item["quantity"] = draw(st.one_of(st.none(), st.integers(0, 500)))
        items.append(item)
    record: dict[str, Any] = {
        "id": f"sub_{number}",
        "object": "subscription",
        "customer": draw(st.sampled_from(["cus_1", {"id": "cus_2", "object": "customer"}, None])),
        "status": draw(st.sampled_from(["active", "canceled", "past_due", "trialing"])),
        "created": created,
        "start_date": draw(st.sampled_from([created, float(created)])),
        "items": {"object": "list", "data": items, "has_more": False},
        "metadata": draw(st.sampled_from([{}, {"account_id": "acct_1"}, {"other": "x"}])),
    }
    for optional in ("ended_at", "canceled_at", "current_period_start", "current_period_end"):
        choice = draw(st.sampled_from(["absent", "null", "set"]))
        if choice != "absent":
            record[optional] = None if choice == "null" else created + 86_400
    if item_count == 1 and draw(st.booleans()):
        record["quantity"] = items[0].get("quantity")
        record["plan"] = {"id": "plan_1", "amount": items[0]["price"]["unit_amount"]}
    return record


@st.composite
def stripe_customer(draw: st.DrawFn, number: int) -> dict[str, Any]:
    record: dict[str, Any] = {"id": f"cus_{number}", "object": "customer"}
    record["created"] = draw(st.integers(1_600_000_000, 1_700_000_000))
    metadata = draw(
        st.sampled_from([None, {}, {"account_id": f"acct_{number}"}, {"account_id": ""}])
    )
    if metadata is not None:
        record["metadata"] = metadata
    for optional in ("email", "name", "description"):
        if draw(st.booleans()):
            record[optional] = draw(optional_text)
    return record


def stripe_pages(resource: str, records: list[dict[str, Any]], size: int) -> dict[str, Any]:
    pages: dict[str, Any] = {}
    chunks = [records[i : i + size] for i in range(0, len(records), size)] or [[]]
    for number, chunk in enumerate(chunks):
        url = f"{BASE}/v1/{resource}"
        if number:
            url += f"?starting_after={chunks[number - 1][-1]['id']}"
        pages[url] = {
            "object": "list",
            "data": chunk,
            "has_more": number < len(chunks) - 1,
        }
    return pages


class StripeSession(FakeSession):
    def body(self, url: str, query: dict[str, str]) -> Any:
        after = query.get("starting_after")
        key = url.split("?")[0]
        return self.pages[f"{key}?starting_after={after}" if after else key]


@CLEAN_SETTINGS
@given(data=st.data())
def test_stripe_records_within_the_contract_are_never_set_aside(data: st.DataObject) -> None:
    """Any subscription or customer the reference allows passes the loader's checks as is."""
    from ingestion.stripe.helpers import clean_record

    subscription = data.draw(stripe_subscription(1))
    cleaned = clean_record(json.loads(json.dumps(subscription)))
    assert cleaned["customer"] in ("cus_1", "cus_2", None)
    assert isinstance(cleaned["start_date"], int)
    assert len(cleaned["items"]["data"]) == len(subscription["items"]["data"])
    customer = clean_record(data.draw(stripe_customer(1)))
    assert customer["id"] == "cus_1"


@SMALL_LOAD_SETTINGS
@given(data=st.data(), count=st.integers(1, 6), size=st.integers(1, 3))
def test_stripe_records_within_the_contract_all_load(
    monkeypatch: pytest.MonkeyPatch, data: st.DataObject, count: int, size: int
) -> None:
    subscriptions = [data.draw(stripe_subscription(n)) for n in range(count)]
    customers = [data.draw(stripe_customer(n)) for n in range(count)]
    pages = {
        **stripe_pages("subscriptions", subscriptions, size),
        **stripe_pages("customers", customers, size),
    }
    serve(monkeypatch, StripeSession(pages, {}))
    with fresh_warehouse() as warehouse:
        stripe.load(base_url=BASE, api_key="sk_test")
        assert query(warehouse, "select count(*) from raw_stripe.subscriptions") == [(count,)]
        assert query(warehouse, "select count(*) from raw_stripe.customers") == [(count,)]
        item_count = sum(len(s["items"]["data"]) for s in subscriptions)
        if item_count:  # dlt creates the items table with its first row
            items = query(warehouse, "select count(*) from raw_stripe.subscriptions__items__data")
            assert items == [(item_count,)]
        resolved = query(
            warehouse,
            "select id, metadata__account_id from raw_stripe.customers order by id",
        )
        assert resolved == sorted(
            (c["id"], (c.get("metadata") or {}).get("account_id") or None) for c in customers
        )
        expanded = query(
            warehouse, "select count(*) from raw_stripe.subscriptions where customer = 'cus_2'"
        )
        assert expanded == [
            (
                sum(
                    1
                    for s in subscriptions
                    if s["customer"] == {"id": "cus_2", "object": "customer"}
                ),
            )
        ]
        assert not query(
            warehouse,
            "select 1 from information_schema.tables where table_name = 'rejected_records'",
        )


@st.composite
def typeform_response(draw: st.DrawFn, number: int) -> dict[str, Any]:
    """A response as Typeform documents it: hidden fields or not, score answered or not."""
    answers: list[dict[str, Any]] = []
    score = draw(st.one_of(st.none(), st.integers(0, 10)))
    if score is not None:
        answers.append(
            {
                "field": {"id": "s", "ref": "nps_score", "type": "opinion_scale"},
                "type": "number",
                "number": score,
            }
        )
    if draw(st.booleans()):
        answers.append(
            {
                "field": {"id": "c", "ref": "nps_comment", "type": "long_text"},
                "type": "text",
                "text": draw(st.text(max_size=20)),
            }
        )
    if draw(st.booleans()):
        answers.append(
            {
                "field": {"id": "x", "ref": "other", "type": "multiple_choice"},
                "type": "choice",
                "choice": {"label": "A"},
            }
        )
    record: dict[str, Any] = {
        "landing_id": f"r{number}",
        "token": f"r{number}",
        "submitted_at": f"2024-03-{1 + number % 28:02d}T10:{number % 60:02d}:00Z",
        "answers": answers or draw(st.sampled_from([None, []])),
    }
    hidden = draw(
        st.sampled_from(
            ["absent", {}, {"user_id": f"u{number}"}, {"user_id": number, "account_id": "acct_1"}]
        )
    )
    if hidden != "absent":
        record["hidden"] = hidden
    if draw(st.booleans()):
        record["response_id"] = f"r{number}"
    return record


class TypeformSession(FakeSession):
    def body(self, url: str, query: dict[str, str]) -> Any:
        return self.pages[query.get("before") or "first"]


@CLEAN_SETTINGS
@given(data=st.data())
def test_typeform_responses_within_the_contract_are_never_set_aside(data: st.DataObject) -> None:
    """Any documented response shape flattens to one row: no hidden fields, no score, ..."""
    from ingestion.typeform.helpers import flatten_response

    item = data.draw(typeform_response(data.draw(st.integers(0, 500))))
    row = flatten_response(
        item, form_id="F", survey="nps", score_ref="nps_score", comment_ref="nps_comment"
    )
    assert row["response_id"] == item["token"]
    hidden = item.get("hidden") if isinstance(item.get("hidden"), dict) else {}
    assert row["account_id"] == hidden.get("account_id")
    assert row["user_id"] == (None if hidden.get("user_id") is None else str(hidden["user_id"]))


@SMALL_LOAD_SETTINGS
@given(data=st.data(), count=st.integers(1, 6), size=st.integers(1, 3))
def test_typeform_responses_within_the_contract_all_load(
    monkeypatch: pytest.MonkeyPatch, data: st.DataObject, count: int, size: int
) -> None:
    responses = [data.draw(typeform_response(n)) for n in range(count)]
    ordered = sorted(responses, key=lambda r: r["submitted_at"], reverse=True)
    chunks = [ordered[i : i + size] for i in range(0, len(ordered), size)]
    pages: dict[str, Any] = {}
    for number, chunk in enumerate(chunks):
        key = "first" if number == 0 else chunks[number - 1][-1]["token"]
        pages[key] = {"total_items": count, "page_count": len(chunks) - number, "items": chunk}
    pages[chunks[-1][-1]["token"]] = {"total_items": count, "page_count": 0, "items": []}
    serve(monkeypatch, TypeformSession(pages, {}))
    with fresh_warehouse() as warehouse:
        typeform.load(base_url=BASE, form_id="F", access_token="t")
        rows = query(
            warehouse,
            "select response_id, score, account_id from raw_typeform.responses order by 1",
        )
    expected = []
    for r in responses:
        score = next(
            (a["number"] for a in r["answers"] or [] if a["field"]["ref"] == "nps_score"), None
        )
        account = (
            (r.get("hidden") or {}).get("account_id") if isinstance(r.get("hidden"), dict) else None
        )
        expected.append((r["token"], score, account))
    assert rows == sorted(expected)
