"""Zendesk HTTP paging and record checks, kept apart from the dlt wiring in __init__."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import requests

from ingestion.common import (
    RecordRejected,
    check_page_budget,
    get_json,
    list_envelope,
    normalize_ids,
    parse_timestamp,
    repeated_cursor,
    split_page,
)
from ingestion.plausibility import timestamp_problem
from ingestion.zendesk.settings import (
    CREDENTIAL_HINT,
    ID_FIELDS,
    INCREMENTAL_PAGE_SIZE,
    INCREMENTAL_PATH,
    LIST_PAGE_SIZE,
    SOURCE_NAME,
    TIMESTAMP_FIELDS,
    VERSION_COLUMN,
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


def _zendesk_id(field: str, value: Any) -> int | None:
    """Zendesk ids are integers; JSON may carry them as 123, 123.0 or "123" (all accepted)."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise RecordRejected(f"{field} is not an integer id: {value!r}")


def clean_record(resource: str, record: dict[str, Any]) -> dict[str, Any]:
    """Normalise ids and parse timestamps; raise RecordRejected with the reason otherwise.

    Optional fields may be absent or null (the API reference allows it); only a missing id, a
    missing ticket `updated_at` (the version order), an id that is not an integer, or a
    timestamp that does not parse or is implausible (ingestion.plausibility) set it aside.
    """
    record = normalize_ids(record, frozenset({"generated_timestamp"}))
    if record.get("id") is None:
        raise RecordRejected("id is missing")
    for field in ID_FIELDS[resource]:
        if field in record:
            record[field] = _zendesk_id(field, record[field])
    for field in TIMESTAMP_FIELDS[resource]:
        value = record.get(field)
        if value is None:
            if resource == "tickets" and field == "updated_at":
                raise RecordRejected("updated_at is missing")
            continue
        parsed = parse_timestamp(value) if isinstance(value, str) else None
        if parsed is None:
            raise RecordRejected(f"{field} is not an ISO-8601 timestamp: {value!r}")
        problem = timestamp_problem(parsed)
        if problem:
            raise RecordRejected(f"{field}: {problem}")
        record[field] = parsed
    return record


def version_order(updated_at: datetime, position: int) -> str:
    """Text that sorts like (updated_at, position in the stream): the latest version wins.

    dlt's merge keeps, per key, the row with the greatest `dedup_sort` column, and takes one
    column only; fixed-width text carries both parts of the order.
    """
    return f"{updated_at.isoformat(timespec='microseconds')}#{position:012d}"


class _Stream:
    """Hands out positions in the export stream, so equal updated_at versions keep their order."""

    def __init__(self) -> None:
        self.position = 0

    def versioned(self, resource: str, record: dict[str, Any]) -> dict[str, Any]:
        record = clean_record(resource, record)
        self.position += 1
        updated_at = record.get("updated_at")
        record[VERSION_COLUMN] = (
            version_order(updated_at, self.position) if isinstance(updated_at, datetime) else None
        )
        return record


def incremental_tickets(
    session: Any, base_url: str, start_time: int, max_pages: int
) -> Iterator[Any]:
    """Tickets changed since `start_time` (Unix seconds), following after_url to end_of_stream.

    Zendesk returns a ticket once per change (deleted ones with status `deleted`), so one run
    may hold several versions of a ticket: each row carries its version order, and the merge
    keeps the latest. A cursor that repeats, or no `end_of_stream` within `max_pages`, raises
    PagingError instead of ending quietly on partial data.
    """
    url: str | None = f"{base_url}{INCREMENTAL_PATH}"
    params: dict[str, Any] | None = {"start_time": start_time, "per_page": INCREMENTAL_PAGE_SIZE}
    counts: dict[str, int] = {}
    seen_cursors: set[str] = set()
    stream = _Stream()
    pages = 0
    while url:
        body, location = get_json(
            session,
            url,
            params,
            source=SOURCE_NAME,
            credential_hint=CREDENTIAL_HINT,
            envelope=list_envelope("tickets"),
        )
        pages += 1
        yield from split_page(
            body.get("tickets") or [],
            source=SOURCE_NAME,
            location=location,
            clean=lambda record: stream.versioned("tickets", record),
            counts=counts,
        )
        end = body.get("end_of_stream")
        if end is True or (end is None and not body.get("tickets")):
            break
        cursor = body.get("after_cursor")
        if not cursor and not body.get("after_url"):
            break  # no way on: the stream ended (older API shapes omit end_of_stream)
        if cursor in seen_cursors:
            raise repeated_cursor(SOURCE_NAME, "tickets", str(cursor), location)
        seen_cursors.add(str(cursor))
        check_page_budget(SOURCE_NAME, "tickets", pages, max_pages, location)
        url, params = body.get("after_url") or f"{base_url}{INCREMENTAL_PATH}", None
        if not body.get("after_url"):
            params = {"cursor": cursor, "per_page": INCREMENTAL_PAGE_SIZE}
    _report("tickets", counts)


def cursor_list(session: Any, base_url: str, resource: str, max_pages: int) -> Iterator[Any]:
    """Read a cursor-paginated list: page[size] first, then links.next while has_more."""
    url: str | None = f"{base_url}/api/v2/{resource}.json"
    params: dict[str, Any] | None = {"page[size]": LIST_PAGE_SIZE}
    counts: dict[str, int] = {}
    visited: set[str] = set()
    stream = _Stream()
    pages = 0
    while url:
        body, location = get_json(
            session,
            url,
            params,
            source=SOURCE_NAME,
            credential_hint=CREDENTIAL_HINT,
            envelope=list_envelope(resource),
        )
        pages += 1
        yield from split_page(
            body.get(resource) or [],
            source=SOURCE_NAME,
            location=location,
            clean=lambda record: stream.versioned(resource, record),
            counts=counts,
        )
        visited.add(location)
        meta = body.get("meta") or {}
        next_url = (body.get("links") or {}).get("next")
        if not (meta.get("has_more") and next_url):
            break
        if next_url in visited:  # a server repeating a page must not loop us, nor end quietly
            raise repeated_cursor(SOURCE_NAME, resource, str(next_url), location)
        check_page_budget(SOURCE_NAME, resource, pages, max_pages, location)
        url, params = next_url, None
    _report(resource, counts)


def _report(resource: str, counts: dict[str, int]) -> None:
    rejected = counts.get("rejected", 0)
    log = logger.warning if rejected else logger.info
    log("zendesk.%s: %d loaded, %d set aside", resource, counts.get("loaded", 0), rejected)
