"""Zendesk HTTP paging and record checks, kept apart from the dlt wiring in __init__."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import requests

from ingestion.common import RecordRejected, get_json, normalize_ids, parse_timestamp, split_page
from ingestion.zendesk.settings import (
    CREDENTIAL_HINT,
    INCREMENTAL_PAGE_SIZE,
    INCREMENTAL_PATH,
    LIST_PAGE_SIZE,
    SOURCE_NAME,
    TIMESTAMP_FIELDS,
)

logger = logging.getLogger(__name__)


def make_session(email: str | None, api_token: str | None, oauth_token: str | None) -> Any:
    """Build a session with Zendesk auth: an OAuth bearer token wins over email/token basic."""
    session = requests.Session()
    session.headers["Accept"] = "application/json"
    if oauth_token:
        session.headers["Authorization"] = f"Bearer {oauth_token}"
    else:
        session.auth = (f"{email}/token", str(api_token))
    return session


def clean_record(resource: str, record: dict[str, Any]) -> dict[str, Any]:
    """Normalise ids and parse timestamps; raise RecordRejected with the reason otherwise."""
    record = normalize_ids(record, frozenset({"generated_timestamp"}))
    record_id = record.get("id")
    if record_id is None:
        raise RecordRejected("id is missing")
    if not isinstance(record_id, int) or isinstance(record_id, bool):
        raise RecordRejected(f"id is not an integer: {record_id!r}")
    for field in TIMESTAMP_FIELDS[resource]:
        value = record.get(field)
        if value is None:
            if resource == "tickets" and field == "updated_at":
                raise RecordRejected("updated_at is missing")
            continue
        parsed = parse_timestamp(value) if isinstance(value, str) else None
        if parsed is None:
            raise RecordRejected(f"{field} is not an ISO-8601 timestamp: {value!r}")
        record[field] = parsed
    return record


def incremental_tickets(session: Any, base_url: str, start_time: int) -> Iterator[Any]:
    """Tickets changed since `start_time` (Unix seconds), following after_url to end_of_stream.

    Zendesk returns tickets with updated_at >= start_time, deleted ones included (status
    `deleted`), so the run that follows a load starts at that load's newest updated_at.
    """
    url: str | None = f"{base_url}{INCREMENTAL_PATH}"
    params: dict[str, Any] | None = {"start_time": start_time, "per_page": INCREMENTAL_PAGE_SIZE}
    counts: dict[str, int] = {}
    seen_cursors: set[str] = set()
    while url:
        body, location = get_json(
            session, url, params, source=SOURCE_NAME, credential_hint=CREDENTIAL_HINT
        )
        yield from split_page(
            body.get("tickets") or [],
            source=SOURCE_NAME,
            location=location,
            clean=lambda record: clean_record("tickets", record),
            counts=counts,
        )
        cursor = body.get("after_cursor")
        if body.get("end_of_stream", True) or not cursor or cursor in seen_cursors:
            break
        seen_cursors.add(cursor)
        url, params = body.get("after_url") or f"{base_url}{INCREMENTAL_PATH}", None
        if not body.get("after_url"):
            params = {"cursor": cursor, "per_page": INCREMENTAL_PAGE_SIZE}
    _report("tickets", counts)


def cursor_list(session: Any, base_url: str, resource: str) -> Iterator[Any]:
    """Read a cursor-paginated list: page[size] first, then links.next while has_more."""
    url: str | None = f"{base_url}/api/v2/{resource}.json"
    params: dict[str, Any] | None = {"page[size]": LIST_PAGE_SIZE}
    counts: dict[str, int] = {}
    visited: set[str] = set()
    while url:
        body, location = get_json(
            session, url, params, source=SOURCE_NAME, credential_hint=CREDENTIAL_HINT
        )
        yield from split_page(
            body.get(resource) or [],
            source=SOURCE_NAME,
            location=location,
            clean=lambda record: clean_record(resource, record),
            counts=counts,
        )
        visited.add(location)
        meta = body.get("meta") or {}
        next_url = (body.get("links") or {}).get("next")
        url, params = (next_url, None) if meta.get("has_more") and next_url else (None, None)
        if url in visited:  # a server repeating a page must not loop us forever
            break
    _report(resource, counts)


def _report(resource: str, counts: dict[str, int]) -> None:
    rejected = counts.get("rejected", 0)
    log = logger.warning if rejected else logger.info
    log("zendesk.%s: %d loaded, %d set aside", resource, counts.get("loaded", 0), rejected)
