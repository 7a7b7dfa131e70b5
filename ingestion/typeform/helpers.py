"""Typeform paging (newest first, `before` token) and flattening of one response to a row."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response

from ingestion.api import PagingGuard, VendorApi
from ingestion.parsing import parse_timestamp
from ingestion.pipeline import extra_column_name
from ingestion.plausibility import timestamp_problem
from ingestion.rejects import RecordRejected
from ingestion.typeform.settings import CREDENTIAL_HINT, PAGE_SIZE, SCORE_RANGES, SOURCE_NAME


def make_api(base_url: str, access_token: str, max_pages: int) -> VendorApi:
    """Typeform's API client: the personal access token as a bearer token."""
    return VendorApi(
        SOURCE_NAME,
        base_url,
        auth=BearerTokenAuth(access_token),
        credential_hint=CREDENTIAL_HINT,
        max_pages=max_pages,
    )


def _text(value: Any) -> str | None:
    """Hidden fields arrive as text or numbers; an empty string means absent."""
    if value is None or value == "" or isinstance(value, dict | list):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _answer_value(answer: dict[str, Any]) -> Any:
    """Read the value from the key its `type` names (number, text, choice...)."""
    kind = answer.get("type")
    value = answer.get(kind) if isinstance(kind, str) else None
    if kind == "choice" and isinstance(value, dict):
        return value.get("label") if value.get("label") is not None else value.get("other")
    return value


def _hidden_id(hidden: dict[str, Any], field: str) -> str | None:
    """A hidden id as text; an object or list there is set aside (it would become a repr)."""
    value = hidden.get(field)
    if isinstance(value, dict | list):
        raise RecordRejected(f"hidden.{field} is not text: {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordRejected(f"hidden.{field} is not text: {value!r}")
    return _text(value)


def _score(value: Any, survey: str) -> int:
    low, high = SCORE_RANGES[survey]
    if isinstance(value, str) and value.strip().lstrip("-").isdecimal():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordRejected(f"score is not an integer: {value!r}")
    if not low <= value <= high:
        raise RecordRejected(f"score {value} is outside {low}-{high} for survey {survey}")
    return value


# The fields the row's own columns are read from; the response's other fields are kept as dlt
# normalises them (SOURCES.md: unknown fields are kept), and so are hidden fields beyond the ids.
_READ_FIELDS = frozenset({"response_id", "submitted_at", "landed_at", "answers", "hidden"})
_HIDDEN_IDS = ("user_id", "account_id")


def _keep_other_fields(row: dict[str, Any], item: dict[str, Any], hidden: dict[str, Any]) -> None:
    """Add the response's fields the row does not read, under the names dlt gives them.

    They are `metadata`, `calculated`, `variables`, `token`, a field Typeform adds later...
    One that dlt would name like one of the row's own columns (a top-level `score`) gets
    `_extra` appended instead of replacing it.
    """
    others = {key: value for key, value in item.items() if key not in _READ_FIELDS}
    other_hidden = {key: value for key, value in hidden.items() if key not in _HIDDEN_IDS}
    if other_hidden:
        others["hidden"] = other_hidden  # dlt: hidden__<field>
    for key, value in others.items():
        row[extra_column_name(key, row)] = value


def flatten_response(
    item: dict[str, Any], *, form_id: str, survey: str, score_ref: str, comment_ref: str
) -> dict[str, Any]:
    """One row per response; score/comment are picked by field ref, answers kept as JSON."""
    response_id = _text(item.get("response_id")) or _text(item.get("token"))
    if response_id is None:
        raise RecordRejected("response_id is missing")
    submitted_at = parse_timestamp(item.get("submitted_at"))
    if submitted_at is None or not isinstance(item.get("submitted_at"), str):
        raise RecordRejected(f"submitted_at is not a timestamp: {item.get('submitted_at')!r}")
    problem = timestamp_problem(submitted_at)
    if problem:
        raise RecordRejected(f"submitted_at: {problem}")
    answers = item.get("answers") or []
    if not isinstance(answers, list):
        raise RecordRejected("answers is not a list")
    by_ref: dict[str, Any] = {}
    for answer in answers:
        if isinstance(answer, dict) and isinstance(answer.get("field"), dict):
            by_ref.setdefault(answer["field"].get("ref"), answer)
    score_answer = by_ref.get(score_ref)
    comment_answer = by_ref.get(comment_ref)
    hidden_field = item.get("hidden")
    if hidden_field is not None and not isinstance(hidden_field, dict):
        raise RecordRejected(f"hidden is not an object: {hidden_field!r}")
    hidden: dict[str, Any] = hidden_field or {}
    landed_at = item.get("landed_at")
    row = {
        "response_id": response_id,
        "submitted_at": submitted_at,
        "landed_at": parse_timestamp(landed_at) if isinstance(landed_at, str) else None,
        "form_id": form_id,
        "user_id": _hidden_id(hidden, "user_id"),
        "account_id": _hidden_id(hidden, "account_id"),
        "survey": survey,
        "score": None if score_answer is None else _score(_answer_value(score_answer), survey),
        "comment": None if comment_answer is None else _text(_answer_value(comment_answer)),
        "answers": json.dumps(answers, ensure_ascii=False),
    }
    _keep_other_fields(row, item, hidden)
    return row


class BeforeTokenPaginator(BasePaginator):
    """Newest to oldest: `before=<token of the last item>` until a page is empty or the last.

    A page with more to come but no token on it, or a token already used, is a paging
    problem (Typeform ignoring `before` would serve the first page forever).
    """

    def __init__(self, guard: PagingGuard) -> None:
        super().__init__()
        self.guard = guard
        self.token: str | None = None

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        """Continue before the page's last token unless this was the last page."""
        items = data or []
        if not items or response.json().get("page_count", 0) <= 1:
            self._has_next_page = False
            return
        tokens = [
            str(i.get("token") or i.get("response_id"))
            for i in items
            if isinstance(i, dict) and (i.get("token") or i.get("response_id"))
        ]
        self.token = tokens[-1] if tokens else None
        url = str(response.url)
        self._has_next_page = self.guard.allows(self.token, url, missing="<no token on the page>")

    def update_request(self, request: Request) -> None:
        """Ask for the responses before the last token."""
        request.params = {**(request.params or {}), "before": self.token}


def iter_responses(
    api: VendorApi,
    form_id: str,
    since: datetime | None,
    clean: Callable[[dict[str, Any]], dict[str, Any]],
) -> Iterator[Any]:
    """Responses of one form submitted since `since`, newest first.

    `since` is inclusive at Typeform, so the boundary response is re-read; dlt's incremental
    deduplicates it and the merge on response_id makes it harmless anyway. Newest first means
    a load cut short must commit nothing (its cursor would skip the older responses not yet
    read), so a failure here raises and the next run starts again from the same `since`.
    """
    params: dict[str, Any] = {"page_size": PAGE_SIZE}
    if since is not None:
        params["since"] = since.strftime("%Y-%m-%dT%H:%M:%S")
    yield from api.records(
        "responses",
        f"/forms/{form_id}/responses",
        params=params,
        records_key="items",
        paginator=BeforeTokenPaginator,
        clean=clean,
    )
