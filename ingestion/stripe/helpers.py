"""Stripe list paging (`starting_after`, newest first) and record checks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import requests

from ingestion.common import RecordRejected, get_json, normalize_ids, split_page
from ingestion.stripe.settings import (
    CREDENTIAL_HINT,
    EPOCH_FIELDS,
    INT_FIELDS,
    PAGE_LIMIT,
    SOURCE_NAME,
)

logger = logging.getLogger(__name__)


def make_session(api_key: str) -> Any:
    """Build a session carrying the secret key as a bearer token, as Stripe documents."""
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {api_key}", "Accept": "application/json"})
    return session


def clean_record(record: dict[str, Any]) -> dict[str, Any]:
    """Integral-float epochs to int, empty ids to null; no id or a bad epoch sets it aside."""
    record = normalize_ids(record, INT_FIELDS)
    record_id = record.get("id")
    if not isinstance(record_id, str) or not record_id:
        raise RecordRejected("id is missing" if not record_id else f"id is not text: {record_id!r}")
    for field in EPOCH_FIELDS:
        value = record.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise RecordRejected(f"{field} is not a Unix timestamp: {value!r}")
    if "customer" in record and record["customer"] == "":
        record["customer"] = None
    return record


def iter_list(session: Any, base_url: str, resource: str, params: dict[str, str]) -> Iterator[Any]:
    """Follow `starting_after=<last id>` while `has_more`; Stripe lists newest first."""
    url = f"{base_url}/v1/{resource}"
    query: dict[str, Any] = {**params, "limit": PAGE_LIMIT}
    counts: dict[str, int] = {}
    anchors: set[str] = set()
    while True:
        body, location = get_json(
            session, url, query, source=SOURCE_NAME, credential_hint=CREDENTIAL_HINT
        )
        items = body.get("data") or []
        yield from split_page(
            items, source=SOURCE_NAME, location=location, clean=clean_record, counts=counts
        )
        ids = [
            i["id"]
            for i in items
            if isinstance(i, dict) and isinstance(i.get("id"), str) and i["id"]
        ]
        if not body.get("has_more") or not ids or ids[-1] in anchors:
            break
        anchors.add(ids[-1])
        query = {**query, "starting_after": ids[-1]}
    rejected = counts.get("rejected", 0)
    (logger.warning if rejected else logger.info)(
        "stripe.%s: %d loaded, %d set aside", resource, counts.get("loaded", 0), rejected
    )
