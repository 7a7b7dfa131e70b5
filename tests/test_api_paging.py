"""dlt's RESTClient with our additions (ingestion/api.py), against a scripted transport.

No server and no load: a requests adapter answers each URL with scripted replies, so these
run in well under a second each and pin what the sandbox tests cannot easily reach: the
Retry-After cap, connection errors, has_more that is missing or not a boolean, and two lists
paged at once through one client (each with its own paginator).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from requests.adapters import BaseAdapter

from ingestion import api as vendor_api
from ingestion.api import CredentialRejectedError, PagingError, VendorApi, VendorApiError
from ingestion.stripe.helpers import iter_list
from ingestion.zendesk.helpers import cursor_list

BASE = "https://vendor.test"
ORGS = f"{BASE}/api/v2/organizations.json?page%5Bsize%5D=100"
Reply = tuple[int, Any, dict[str, str]] | Exception


def page(*ids: int, after: str | None = None, more: Any = False, key: str = "organizations") -> Any:
    """A Zendesk cursor-list page holding records with these ids."""
    meta: dict[str, Any] = {"after_cursor": after}
    if more is not None:
        meta["has_more"] = more
    return {key: [{"id": i, "name": f"org {i}"} for i in ids], "meta": meta}


class Script(BaseAdapter):
    """Answers each URL with its scripted replies in turn (the last one repeats)."""

    def __init__(self, replies: dict[str, list[Reply]]) -> None:
        super().__init__()
        self.replies = replies
        self.asked: list[str] = []

    def send(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        url = str(request.url)
        self.asked.append(url)
        queue = self.replies[url]
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        status, body, headers = reply
        response = requests.Response()
        response.url, response.request, response.status_code = url, request, status
        response.headers.update({"Content-Type": "application/json", **headers})
        response._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        return response

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vendor_api, "HTTP_BACKOFF_SECONDS", 0.001)


def client(script: Script, source: str = "zendesk", max_pages: int = 100) -> VendorApi:
    session = vendor_api.vendor_session()
    session.mount(BASE, script)
    return VendorApi(
        source,
        BASE,
        auth=BearerTokenAuth("t"),
        credential_hint=f"SOURCES__{source.upper()}__TOKEN",
        max_pages=max_pages,
        session=session,
    )


def ids(rows: Iterator[Any]) -> list[Any]:
    return [row["id"] for row in rows]


def test_zendesk_list_follows_after_cursor_until_has_more_is_false() -> None:
    script = Script(
        {
            ORGS: [(200, page(1, 2, after="c1", more=True), {})],
            f"{ORGS}&page%5Bafter%5D=c1": [(200, page(3, after="c2", more=False), {})],
        }
    )
    assert ids(cursor_list(client(script), "organizations")) == [1, 2, 3]
    assert len(script.asked) == 2


def test_two_lists_paged_at_once_each_keep_their_own_cursor() -> None:
    """dlt interleaves resources; one paginator shared between them would cut a list short."""
    metrics = f"{BASE}/api/v2/ticket_metrics.json?page%5Bsize%5D=100"
    script = Script(
        {
            ORGS: [(200, page(1, after="o1", more=True), {})],
            f"{ORGS}&page%5Bafter%5D=o1": [(200, page(2), {})],
            metrics: [(200, page(11, after="m1", more=True, key="ticket_metrics"), {})],
            f"{metrics}&page%5Bafter%5D=m1": [
                (200, page(12, after="m2", more=True, key="ticket_metrics"), {})
            ],
            f"{metrics}&page%5Bafter%5D=m2": [(200, page(13, key="ticket_metrics"), {})],
        }
    )
    shared = client(script)
    lists = [cursor_list(shared, "organizations"), cursor_list(shared, "ticket_metrics")]
    seen: list[int] = []
    while lists:
        for rows in list(lists):
            row = next(rows, None)
            if row is None:
                lists.remove(rows)
            else:
                seen.append(row["id"])
    assert sorted(seen) == [1, 2, 11, 12, 13]


def test_missing_has_more_ends_the_list_and_a_non_boolean_one_fails() -> None:
    script = Script({ORGS: [(200, page(1, after="c1", more=None), {})]})
    assert ids(cursor_list(client(script), "organizations")) == [1]
    script = Script({ORGS: [(200, page(1, after="c1", more=[1]), {})]})
    with pytest.raises(PagingError, match=r"meta.has_more is \[1\], not a boolean"):
        list(cursor_list(client(script), "organizations"))


def test_a_repeated_cursor_fails_after_the_page_that_repeated_it_loads() -> None:
    script = Script(
        {
            ORGS: [(200, page(1, after="c1", more=True), {})],
            f"{ORGS}&page%5Bafter%5D=c1": [(200, page(2, after="c1", more=True), {})],
        }
    )
    rows = cursor_list(client(script), "organizations")
    assert [next(rows)["id"], next(rows)["id"]] == [1, 2]
    with pytest.raises(PagingError, match="cursor it had already given \\('c1'"):
        next(rows)


def test_the_page_budget_stops_an_endless_list() -> None:
    replies: dict[str, list[Reply]] = {ORGS: [(200, page(1, after="c1", more=True), {})]}
    for n in range(1, 5):
        url = f"{ORGS}&page%5Bafter%5D=c{n}"
        replies[url] = [(200, page(n + 1, after=f"c{n + 1}", more=True), {})]
    script = Script(replies)
    with pytest.raises(PagingError, match="read 3 pages without reaching the end") as info:
        list(cursor_list(client(script, max_pages=3), "organizations"))
    assert "SOURCES__ZENDESK__MAX_PAGES" in str(info.value)
    assert len(script.asked) == 3


def test_retry_after_is_waited_but_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vendor_api, "HTTP_MAX_WAIT_SECONDS", 0.3)
    script = Script(
        {ORGS: [(429, {"error": "slow down"}, {"Retry-After": "3600"}), (200, page(1), {})]}
    )
    started = time.monotonic()
    assert ids(cursor_list(client(script), "organizations")) == [1]
    assert 0.3 <= time.monotonic() - started < 5  # waited the cap, not an hour
    assert len(script.asked) == 2


def test_connection_errors_are_retried_then_name_the_page() -> None:
    script = Script({ORGS: [requests.ConnectionError("connection refused")]})
    with pytest.raises(VendorApiError) as info:
        list(cursor_list(client(script), "organizations"))
    assert f"gave up on page {ORGS} after 5 tries: connection error" in str(info.value)
    assert len(script.asked) == 5


def test_a_refused_credential_and_a_bad_request_fail_at_once() -> None:
    script = Script({ORGS: [(401, {"error": "Couldn't authenticate you"}, {})]})
    with pytest.raises(CredentialRejectedError, match="HTTP 401.*SOURCES__ZENDESK__TOKEN"):
        list(cursor_list(client(script), "organizations"))
    assert len(script.asked) == 1
    script = Script({ORGS: [(400, {"error": "InvalidPaginationParameter"}, {})]})
    with pytest.raises(VendorApiError, match="HTTP 400 for"):
        list(cursor_list(client(script), "organizations"))
    assert len(script.asked) == 1


def test_a_page_without_its_list_is_retried_then_fails() -> None:
    script = Script({ORGS: [(200, {"organizations": "none"}, {})]})
    with pytest.raises(VendorApiError, match="after 5 tries: not the documented page"):
        list(cursor_list(client(script), "organizations"))
    assert len(script.asked) == 5


def test_nan_in_one_record_sets_only_that_record_aside() -> None:
    """The standard json module reads NaN (requests' simplejson would refuse the page)."""
    url = f"{BASE}/v1/customers?limit=100"
    body = '{"object": "list", "has_more": false, "data": [{"id": "cus_1", "created": NaN}, '
    body += '{"id": "cus_2", "created": 1600000000}]}'
    rows = list(iter_list(client(Script({url: [(200, body, {})]}), "stripe"), "customers", {}))
    assert rows[1]["id"] == "cus_2"
    reject = rows[0].data  # a row for rejected_records, located by the page URL
    assert reject["location"] == url
    assert reject["reason"] == "created is not a Unix timestamp: nan"
    assert math.isnan(json.loads(reject["record"])["created"])
