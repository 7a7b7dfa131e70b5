"""Zendesk HTTP paging and record checks, kept apart from the dlt wiring in __init__."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from dlt.sources.helpers.rest_client.auth import AuthConfigBase, BearerTokenAuth, HttpBasicAuth
from dlt.sources.helpers.rest_client.paginators import BasePaginator, JSONResponseCursorPaginator
from requests import Request, Response

from ingestion.api import PagingError, PagingGuard, VendorApi
from ingestion.parsing import normalize_ids, parse_timestamp
from ingestion.plausibility import timestamp_problem
from ingestion.rejects import RecordRejected
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


def make_api(
    base_url: str,
    email: str | None,
    api_token: str | None,
    oauth_token: str | None,
    max_pages: int,
) -> VendorApi:
    """Zendesk's API client: an OAuth bearer token wins over email/token basic auth."""
    auth: AuthConfigBase = (
        BearerTokenAuth(oauth_token)
        if oauth_token
        else HttpBasicAuth(f"{email}/token", str(api_token))
    )
    return VendorApi(
        SOURCE_NAME, base_url, auth=auth, credential_hint=CREDENTIAL_HINT, max_pages=max_pages
    )


def _zendesk_id(field: str, value: Any) -> int | None:
    """Zendesk ids are integers; JSON may carry them as 123, 123.0 or "123" (all accepted)."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdecimal():
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


class ExportPaginator(BasePaginator):
    """The incremental export: follow `after_url` (else `after_cursor`) to `end_of_stream`.

    The stream also ends on a page with no way on (older API shapes omit end_of_stream).
    """

    def __init__(self, guard: PagingGuard) -> None:
        super().__init__()
        self.guard = guard
        self.export_url = ""
        self.after_url: str | None = None
        self.cursor: str | None = None

    def init_request(self, request: Request) -> None:
        """Remember the export URL: a page with a cursor but no after_url goes back to it."""
        self.export_url = str(request.url)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        """Stop at end_of_stream (or an empty page without it, or no way on)."""
        body = response.json()
        end = body.get("end_of_stream")
        self.cursor, self.after_url = body.get("after_cursor"), body.get("after_url")
        ended = end is True or (end is None and not body.get("tickets"))
        if ended or not (self.cursor or self.after_url):
            self._has_next_page = False
        else:
            cursor = str(self.cursor or self.after_url)
            self._has_next_page = self.guard.allows(cursor, str(response.url))

    def update_request(self, request: Request) -> None:
        """Follow after_url, else ask the export URL for the cursor."""
        if self.after_url:
            request.url, request.params = self.after_url, {}
        else:
            request.url = self.export_url
            request.params = {"cursor": self.cursor, "per_page": INCREMENTAL_PAGE_SIZE}


class ListPaginator(JSONResponseCursorPaginator):
    """Cursor-paginated lists: `page[after]=meta.after_cursor` while `meta.has_more`."""

    def __init__(self, guard: PagingGuard) -> None:
        super().__init__(
            cursor_path="meta.after_cursor",
            cursor_param="page[after]",
            has_more_path="meta.has_more",
        )
        self.guard = guard
        self.url = ""

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        """Read cursor and has_more as dlt does, then apply our repeated-cursor/budget guard."""
        self.url = str(response.url)
        super().update_state(response, data)
        if self.has_next_page:
            self._has_next_page = self.guard.allows(str(self._next_reference), str(response.url))

    def _handle_missing_has_more(self, response_json: dict[str, Any]) -> None:
        """No `meta.has_more`: the list ended (dlt would raise ValueError)."""

    def _handle_invalid_has_more(self, has_more: Any) -> None:
        """A `meta.has_more` that is not a boolean: where the list ends cannot be told."""
        raise PagingError(
            f"{SOURCE_NAME}.{self.guard.resource}: meta.has_more is {has_more!r}, not a "
            f"boolean (page {self.url}); the load stops instead of guessing where the list ends."
        )


def incremental_tickets(api: VendorApi, start_time: int) -> Iterator[Any]:
    """Tickets changed since `start_time` (Unix seconds), following the export to its end.

    Zendesk returns a ticket once per change (deleted ones with status `deleted`), so one run
    may hold several versions of a ticket: each row carries its version order, and the merge
    keeps the latest. A cursor that repeats, or no `end_of_stream` within the page budget,
    raises PagingError instead of ending quietly on partial data.
    """
    stream = _Stream()
    yield from api.records(
        "tickets",
        INCREMENTAL_PATH,
        params={"start_time": start_time, "per_page": INCREMENTAL_PAGE_SIZE},
        records_key="tickets",
        paginator=ExportPaginator,
        clean=lambda record: stream.versioned("tickets", record),
    )


def cursor_list(api: VendorApi, resource: str) -> Iterator[Any]:
    """Read a cursor-paginated list from its first page (`page[size]`) to the last."""
    stream = _Stream()
    yield from api.records(
        resource,
        f"/api/v2/{resource}.json",
        params={"page[size]": LIST_PAGE_SIZE},
        records_key=resource,
        paginator=ListPaginator,
        clean=lambda record: stream.versioned(resource, record),
    )
