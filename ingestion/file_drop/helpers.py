"""Turning CSV rows into typed records; a row that cannot be typed is set aside with its reason."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from ingestion.common import RecordRejected, mark_reject, parse_timestamp, reject_row
from ingestion.file_drop.settings import LICENSE_COLUMNS, SCORE_RANGES, SOURCE_NAME, SURVEY_COLUMNS


def _blank_to_none(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _required(row: dict[str, str | None], name: str) -> str:
    value = row.get(name)
    if value is None:
        raise RecordRejected(f"{name} is missing")
    return value


def _integer(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise RecordRejected(f"{name} is not an integer: {value!r}") from None


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RecordRejected(f"{name} is not an ISO date (YYYY-MM-DD): {value!r}") from None


def clean_survey(row: dict[str, str | None]) -> dict[str, Any]:
    """A survey answer: nps 0-10 or csat 1-5; anything else is a bad record (SOURCES.md 3b)."""
    survey = _required(row, "survey").lower()
    if survey not in SCORE_RANGES:
        raise RecordRejected(f"survey must be one of {sorted(SCORE_RANGES)}, got {survey!r}")
    score = _integer(_required(row, "score"), "score")
    low, high = SCORE_RANGES[survey]
    if score is None or not low <= score <= high:
        raise RecordRejected(f"{survey} score must be {low}-{high}, got {score}")
    submitted_at = parse_timestamp(_required(row, "submitted_at"))
    if submitted_at is None:
        raise RecordRejected(f"submitted_at is not a timestamp: {row['submitted_at']!r}")
    return {
        "response_id": _required(row, "response_id"),
        "submitted_at": submitted_at,
        "user_id": row.get("user_id"),
        "account_id": row.get("account_id"),
        "survey": survey,
        "score": score,
        "comment": row.get("comment"),
    }


def clean_license(row: dict[str, str | None]) -> dict[str, Any]:
    """A license row; an empty account is kept (reported downstream), an empty end is open."""
    seats = _integer(_required(row, "seats"), "seats")
    if seats is not None and seats < 0:
        raise RecordRejected(f"seats must not be negative, got {seats}")
    starts_on = _date(_required(row, "starts_on"), "starts_on")
    ends_on = _date(row.get("ends_on"), "ends_on")
    if starts_on and ends_on and ends_on < starts_on:
        raise RecordRejected(f"ends_on {ends_on} is before starts_on {starts_on}")
    price_text = row.get("annual_price")
    try:
        annual_price = None if price_text is None else Decimal(price_text)
    except InvalidOperation:
        raise RecordRejected(f"annual_price is not a number: {price_text!r}") from None
    return {
        "license_id": _required(row, "license_id"),
        "account_id": row.get("account_id"),
        "product": row.get("product"),
        "plan": row.get("plan"),
        "seats": seats,
        "starts_on": starts_on,
        "ends_on": ends_on,
        "annual_price": annual_price,
        "currency": (row.get("currency") or "").upper() or None,
    }


CLEANERS: dict[str, tuple[tuple[str, ...], Callable[[dict[str, str | None]], dict[str, Any]]]] = {
    "survey_responses": (SURVEY_COLUMNS, clean_survey),
    "licenses": (LICENSE_COLUMNS, clean_license),
}


def read_csv(text: str, file_url: str, table: str, counts: dict[str, int]) -> Iterator[Any]:
    """Typed rows of one CSV file, and reject rows for the lines that cannot be typed."""
    expected, clean = CLEANERS[table]
    lines = text.splitlines()
    reader = csv.DictReader(io.StringIO(text))
    missing = [name for name in expected if name not in (reader.fieldnames or [])]
    if missing:
        counts["rejected"] = counts.get("rejected", 0) + 1
        reason = f"header lacks columns {missing}; expected {list(expected)}"
        yield mark_reject(
            reject_row(
                SOURCE_NAME,
                f"{file_url}:1",
                lines[0] if lines else "",
                reason,
                per_location=True,
            )
        )
        return
    for row in reader:
        line_number = reader.line_num
        try:
            if None in row:
                raise RecordRejected("row has more fields than the header")
            record = clean({key: _blank_to_none(value) for key, value in row.items()})
        except RecordRejected as exc:
            counts["rejected"] = counts.get("rejected", 0) + 1
            text_line = lines[line_number - 1] if line_number - 1 < len(lines) else str(row)
            yield mark_reject(
                reject_row(
                    SOURCE_NAME, f"{file_url}:{line_number}", text_line, str(exc), per_location=True
                )
            )
            continue
        counts["loaded"] = counts.get("loaded", 0) + 1
        record["_source_file"] = file_url
        yield record
