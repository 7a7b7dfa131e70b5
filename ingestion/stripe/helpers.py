"""Stripe list paging (`starting_after`, newest first) and record checks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response

from ingestion.api import PagingGuard, VendorApi
from ingestion.parsing import normalize_ids
from ingestion.plausibility import count_problem, timestamp_bounds, timestamp_problem
from ingestion.rejects import RecordRejected
from ingestion.stripe.settings import (
    CREDENTIAL_HINT,
    EPOCH_FIELDS,
    FUTURE_EPOCH_FIELDS,
    INT_FIELDS,
    PAGE_LIMIT,
    SOURCE_NAME,
)


def make_api(base_url: str, api_key: str, max_pages: int) -> VendorApi:
    """Stripe's API client: the secret key as a bearer token, as Stripe documents."""
    return VendorApi(
        SOURCE_NAME,
        base_url,
        auth=BearerTokenAuth(api_key),
        credential_hint=CREDENTIAL_HINT,
        max_pages=max_pages,
    )


def _epoch(field: str, value: Any, *, may_be_future: bool) -> None:
    """Reject a Unix-seconds field that is not an integer or not a plausible time."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordRejected(f"{field} is not a Unix timestamp: {value!r}")
    try:
        moment = datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise RecordRejected(f"{field} is not a Unix timestamp: {value!r}") from None
    if may_be_future:
        earliest = timestamp_bounds()[0]
        problem = (
            f"timestamp {moment.isoformat()} is before {earliest.isoformat()} "
            "(setting plausibility.earliest_timestamp)"
            if moment < earliest
            else None
        )
    else:
        problem = timestamp_problem(moment)
    if problem:
        raise RecordRejected(f"{field}: {problem}")


def _reference(field: str, value: Any) -> str | None:
    """An id reference: text, or an expanded object's `id` (Stripe's `expand[]`); else reject."""
    if value is None or value == "":
        return None
    if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
        return str(value["id"])
    if isinstance(value, str):
        return value
    raise RecordRejected(f"{field} is not an id: {value!r}")


def _count(field: str, value: Any) -> None:
    """Seats and minor-unit amounts: whole, finite, not negative, not absurdly large."""
    if value is None:
        return
    problem = count_problem(value)
    if problem:
        raise RecordRejected(f"{field}: {problem}")


def _check_items(record: dict[str, Any]) -> None:
    """Each subscription item's id, quantity (seats) and price amount must be usable."""
    items = record.get("items")
    if items is None:
        return
    if not isinstance(items, dict):
        raise RecordRejected(f"items is not a list object: {items!r}")
    data = items.get("data")
    if data is None:
        return
    if not isinstance(data, list):
        raise RecordRejected(f"items.data is not a list: {data!r}")
    if items.get("has_more") is True:  # Stripe's list object: more items than embedded
        total = items.get("total_count")
        raise RecordRejected(
            f"items.has_more is true: {len(data)} of {total if total is not None else 'more'} "
            "subscription items are embedded and the rest could not be read from "
            "/v1/subscription_items, so its seats and price would be short"
        )
    for position, item in enumerate(data):
        where = f"items.data[{position}]"
        if not isinstance(item, dict):
            raise RecordRejected(f"{where} is not an object: {item!r}")
        if not isinstance(item.get("id"), str | None):
            raise RecordRejected(f"{where}.id is not text: {item.get('id')!r}")
        _count(f"{where}.quantity", item.get("quantity"))
        price = item.get("price")
        if price is None:
            continue
        if not isinstance(price, dict):
            raise RecordRejected(f"{where}.price is not an object: {price!r}")
        _count(f"{where}.price.unit_amount", price.get("unit_amount"))
        if "product" in price:
            price["product"] = _reference(f"{where}.price.product", price["product"])


def clean_record(record: dict[str, Any]) -> dict[str, Any]:
    """Normalise ids and epochs; set aside what would make a number wrong, with the reason.

    As Stripe's API reference allows: `metadata` empty or absent, no `metadata.account_id`
    (the account is unresolved), several items and no top-level `quantity`/`plan`, `customer`
    expanded to an object. Set aside: no id, an epoch that is not a plausible time, a negative,
    non-finite or absurd quantity or unit_amount, an id that is an object.
    """
    record = normalize_ids(record, INT_FIELDS)
    record_id = record.get("id")
    if not isinstance(record_id, str) or not record_id:
        raise RecordRejected("id is missing" if not record_id else f"id is not text: {record_id!r}")
    for field in EPOCH_FIELDS:
        value = record.get(field)
        if value is not None:
            _epoch(field, value, may_be_future=field in FUTURE_EPOCH_FIELDS)
    if "customer" in record:
        record["customer"] = _reference("customer", record["customer"])
    _count("quantity", record.get("quantity"))
    metadata = record.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise RecordRejected(f"metadata is not an object: {metadata!r}")
    account = (metadata or {}).get("account_id")
    if isinstance(account, dict | list):
        raise RecordRejected(f"metadata.account_id is not text: {account!r}")
    if account is not None and not isinstance(account, str):
        metadata["account_id"] = str(account)  # type: ignore[index]
    _check_items(record)
    return record


class StartingAfterPaginator(BasePaginator):
    """Stripe lists: `starting_after=<last id on the page>` while `has_more`.

    A page with more to come but no id to continue from, or whose last id was already used,
    is a paging problem: the list would loop, and stopping there would report success on
    part of it.
    """

    def __init__(self, guard: PagingGuard) -> None:
        super().__init__()
        self.guard = guard
        self.last_id: str | None = None

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        """Continue after the page's last id while `has_more`, if the guard allows."""
        if not response.json().get("has_more"):
            self._has_next_page = False
            return
        ids = [
            i["id"]
            for i in data or []
            if isinstance(i, dict) and isinstance(i.get("id"), str) and i["id"]
        ]
        self.last_id = ids[-1] if ids else None
        url = str(response.url)
        self._has_next_page = self.guard.allows(self.last_id, url, missing="<no id on the page>")

    def update_request(self, request: Request) -> None:
        """Ask for the objects after the last id."""
        request.params = {**(request.params or {}), "starting_after": self.last_id}


def complete_items(api: VendorApi, record: dict[str, Any]) -> dict[str, Any]:
    """A subscription whose embedded `items` list says `has_more`, with all of its items.

    `items` is a Stripe list object: when it holds only the first items of the subscription
    (`has_more: true`), the whole list is read from `/v1/subscription_items?subscription=<id>`
    (`items.url`), so seats and price count every item. Anything else is returned as it is
    (`clean_record` judges it).
    """
    items = record.get("items")
    sub_id = record.get("id")
    if not (
        isinstance(items, dict)
        and items.get("has_more") is True
        and isinstance(sub_id, str)
        and sub_id
    ):
        return record
    data = items.get("data")
    embedded: list[Any] = data if isinstance(data, list) else []
    merged = list(embedded)
    known = {item.get("id") for item in embedded if isinstance(item, dict)}
    for item in api.records(
        "subscription_items",
        "/v1/subscription_items",
        params={"subscription": sub_id, "limit": PAGE_LIMIT},
        records_key="data",
        paginator=StartingAfterPaginator,
        clean=lambda item: item,
    ):
        if isinstance(item, dict) and item.get("id") not in known:
            known.add(item.get("id"))
            merged.append(item)
    total = items.get("total_count")
    whole = len(merged) >= total if isinstance(total, int) else len(merged) > len(embedded)
    # Not whole (the list came back short): `has_more` stays true and clean_record sets the
    # subscription aside with the reason, rather than count part of its seats.
    return {**record, "items": {**items, "data": merged, "has_more": not whole}}


def iter_list(api: VendorApi, resource: str, params: dict[str, str]) -> Iterator[Any]:
    """Every object of one list, newest first (Stripe's order).

    Subscriptions get every item: an embedded items list cut short is read whole
    (`complete_items`).
    """
    clean = (
        (lambda record: clean_record(complete_items(api, record)))
        if resource == "subscriptions"
        else clean_record
    )
    yield from api.records(
        resource,
        f"/v1/{resource}",
        params={**params, "limit": PAGE_LIMIT},
        records_key="data",
        paginator=StartingAfterPaginator,
        clean=clean,
    )
