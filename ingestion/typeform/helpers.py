"""Typeform paging (newest first, `before` token) and flattening of one response to a row."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import requests

from ingestion.common import (
    RecordRejected,
    check_page_budget,
    get_json,
    list_envelope,
    parse_timestamp,
    repeated_cursor,
    split_page,
)
from ingestion.plausibility import timestamp_problem
from ingestion.typeform.settings import CREDENTIAL_HINT, PAGE_SIZE, SCORE_RANGES, SOURCE_NAME

logger = logging.getLogger(__name__)


def make_session(access_token: str) -> Any:
    """Build a session carrying the Typeform bearer token."""
    session = requests.Session()
    session.headers.update(
        {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    )
    return session


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
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordRejected(f"score is not an integer: {value!r}")
    if not low <= value <= high:
        raise RecordRejected(f"score {value} is outside {low}-{high} for survey {survey}")
    return value


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
    return {
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


def iter_responses(
    session: Any,
    base_url: str,
    form_id: str,
    since: datetime | None,
    clean: Any,
    max_pages: int,
) -> Iterator[Any]:
    """Page newest to oldest with `before=<token of the last item>` until a page comes back empty.

    `since` is inclusive at Typeform, so the boundary response is re-read; dlt's incremental
    deduplicates it and the merge on response_id makes it harmless anyway. Newest first means
    a load cut short must commit nothing (its cursor would skip the older responses not yet
    read), so a failure here raises and the next run starts again from the same `since`.
    """
    url = f"{base_url}/forms/{form_id}/responses"
    params: dict[str, Any] = {"page_size": PAGE_SIZE}
    if since is not None:
        params["since"] = since.strftime("%Y-%m-%dT%H:%M:%S")
    counts: dict[str, int] = {}
    used_tokens: set[str] = set()
    pages = 0
    while True:
        body, location = get_json(
            session,
            url,
            params,
            source=SOURCE_NAME,
            credential_hint=CREDENTIAL_HINT,
            envelope=list_envelope("items"),
        )
        pages += 1
        items = body.get("items") or []
        yield from split_page(
            items, source=SOURCE_NAME, location=location, clean=clean, counts=counts
        )
        tokens = [
            str(i.get("token") or i.get("response_id"))
            for i in items
            if isinstance(i, dict) and (i.get("token") or i.get("response_id"))
        ]
        if not items or body.get("page_count", 0) <= 1:
            break
        if not tokens:
            raise repeated_cursor(SOURCE_NAME, "responses", "<no token on the page>", location)
        if tokens[-1] in used_tokens:
            raise repeated_cursor(SOURCE_NAME, "responses", tokens[-1], location)
        check_page_budget(SOURCE_NAME, "responses", pages, max_pages, location)
        used_tokens.add(tokens[-1])
        params = {**params, "before": tokens[-1]}
    rejected = counts.get("rejected", 0)
    (logger.warning if rejected else logger.info)(
        "typeform.responses: %d loaded, %d set aside", counts.get("loaded", 0), rejected
    )
