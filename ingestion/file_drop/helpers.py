"""Turning CSV rows into typed records; a row that cannot be typed is set aside with its reason."""

from __future__ import annotations

import codecs
import csv
import logging
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any

from ingestion.file_drop.settings import (
    FALLBACK_ENCODING,
    LICENSE_COLUMNS,
    SCORE_RANGES,
    SOURCE_NAME,
    SURVEY_COLUMNS,
)
from ingestion.parsing import parse_timestamp
from ingestion.pipeline import extra_column_name
from ingestion.plausibility import count_problem, number_problem, timestamp_problem
from ingestion.rejects import RecordRejected, mark_reject, reject_row

log = logging.getLogger(__name__)

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_csv(data: bytes, file_url: str) -> str:
    """The file's text: by its byte-order mark, else UTF-8, else Windows-1252 (with a warning).

    Spreadsheet exports come as UTF-8 with or without a BOM, UTF-16 with a BOM ("Unicode
    text"), or Windows-1252/Latin-1. Bytes that are not valid UTF-8 are almost never valid
    text in another reading by chance, so the fallback is safe; a file none of them reads (or
    UTF-16 without its BOM) raises RecordRejected and is set aside whole.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise RecordRejected(
                    f"file starts with a {encoding} byte-order mark but is not {encoding} "
                    f"({exc.reason} at byte {exc.start}); save it as UTF-8"
                ) from None
    if b"\x00" in data[:4096]:
        raise RecordRejected(
            "file contains NUL bytes: UTF-16 or UTF-32 without a byte-order mark? Save it as "
            "UTF-8 (or UTF-16 with a BOM)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf8_problem = f"{exc.reason} at byte {exc.start}"
    try:
        text = data.decode(FALLBACK_ENCODING)
    except UnicodeDecodeError:
        raise RecordRejected(
            f"file is neither UTF-8 ({utf8_problem}) nor {FALLBACK_ENCODING}; save it as UTF-8"
        ) from None
    log.warning(
        "%s: not UTF-8 (%s); read as %s. Save CSV drops as UTF-8 to be sure of accents.",
        file_url,
        utf8_problem,
        FALLBACK_ENCODING,
    )
    return text


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


def _problem(name: str, problem: str | None) -> None:
    if problem:
        raise RecordRejected(f"{name}: {problem}")


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RecordRejected(f"{name} is not an ISO date (YYYY-MM-DD): {value!r}") from None


def clean_survey(row: dict[str, str | None]) -> dict[str, Any]:
    """A survey answer: nps 0-10 or csat 1-5; anything else is a bad record."""
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
    _problem("submitted_at", timestamp_problem(submitted_at))
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
    _problem("seats", None if seats is None else count_problem(seats))
    starts_on = _date(_required(row, "starts_on"), "starts_on")
    ends_on = _date(row.get("ends_on"), "ends_on")
    if starts_on and ends_on and ends_on < starts_on:
        raise RecordRejected(f"ends_on {ends_on} is before starts_on {starts_on}")
    price_text = row.get("annual_price")
    try:
        annual_price = None if price_text is None else Decimal(price_text)
    except InvalidOperation:
        raise RecordRejected(f"annual_price is not a number: {price_text!r}") from None
    if annual_price is not None:
        if not annual_price.is_finite():
            raise RecordRejected(f"annual_price is not a finite number: {price_text!r}")
        _problem("annual_price", number_problem(float(annual_price)))
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


def _lines(text: str) -> list[str]:
    """Physical lines, each with its line break; only a newline ends a line (not U+2028)."""
    lines = text.split("\n")
    last = lines.pop()
    return [line + "\n" for line in lines] + ([last] if last else [])


class CsvRecords:
    """(first line, last line, fields) of each CSV record, or (line, line, reason) if broken.

    Parsed strictly: a quote that is never closed, or text after a closing quote, is a broken
    record. Only its first line is set aside; parsing resumes on the next line, so one stray
    quote can never swallow the rest of the file into one field. `restart(line)` resumes
    after `line` (1-based), for a record the caller finds swallowed other rows.
    """

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self._start = 0
        self._consumed = 0
        self._reader: Any = None

    def __iter__(self) -> CsvRecords:
        return self

    def __next__(self) -> tuple[int, int, list[str] | str]:
        if self._start >= len(self._lines):
            raise StopIteration
        if self._reader is None:
            self._reader = csv.reader(islice(self._lines, self._start, None), strict=True)
            self._consumed = 0
        try:
            fields = next(self._reader)
        except StopIteration:
            self._start = len(self._lines)
            raise
        except csv.Error as exc:
            line = self._start + self._consumed + 1
            self.restart(line)
            problem = "a quoted field is never closed" if "end of data" in str(exc) else exc
            return line, line, f"line {line} is not valid CSV: {problem}"
        first = self._start + self._consumed + 1
        self._consumed = self._reader.line_num
        return first, self._start + self._consumed, fields

    def restart(self, line: int) -> None:
        """Parse on from the line after `line`."""
        self._start = line
        self._reader = None


def _swallowed_rows(
    lines: list[str],
    first: int,
    last: int,
    header: list[str],
    clean: Callable[[dict[str, str | None]], dict[str, Any]],
) -> int:
    """How many continuation lines of a multi-line record are whole good rows by themselves.

    A comment may span lines, and a line of it may hold as many commas as a row ("Issues:
    a, b, c, d, e, f, g"); only a continuation line that splits into the header's number of
    fields *and* reads as a good record (an id, a time, a valid score ...) is a row caught in
    an unclosed quote.
    """
    count = 0
    for line in lines[first:last]:
        try:
            fields = next(csv.reader([line]), [])
        except csv.Error:
            continue
        if len(fields) != len(header):
            continue
        try:
            clean({name: _blank_to_none(value) for name, value in zip(header, fields, strict=True)})
        except RecordRejected:
            continue
        count += 1
    return count


def read_csv(text: str, file_url: str, table: str, counts: dict[str, int]) -> Iterator[Any]:
    """Typed rows of one CSV file, and reject rows for the records that cannot be typed.

    Each record must have the header's number of fields. Columns beyond the expected ones
    are kept as extra columns (dlt adds them to the table) and named in a warning.
    """
    expected, clean = CLEANERS[table]
    lines = _lines(text)

    def reject(first: int, last: int, reason: str) -> Any:
        counts["rejected"] = counts.get("rejected", 0) + 1
        record = "".join(lines[first - 1 : last]).rstrip("\r\n")
        location = f"{file_url}:{first}"
        return mark_reject(reject_row(SOURCE_NAME, location, record, reason, per_location=True))

    records = CsvRecords(lines)
    header: list[str] = []
    for first, last, fields in records:
        if isinstance(fields, str):
            yield reject(first, last, fields)
            continue
        if fields:
            header = [name.strip() for name in fields]
            break
    missing = [name for name in expected if name not in header]
    if missing:
        yield reject(1, 1, f"header lacks columns {missing}; expected {list(expected)}")
        return
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:  # which of the two is the value? Nothing in the file says
        yield reject(1, 1, f"header repeats columns {repeated}; name each column once")
        return
    extras = _extra_names(header, expected)
    if extras:
        log.warning(
            "%s: columns %s are not in the %s layout; kept as extra columns",
            file_url,
            [header[index] for index in extras],
            table,
        )
    width = len(header)
    for first, last, fields in records:
        if isinstance(fields, str):
            yield reject(first, last, fields)
            continue
        if not fields:
            continue  # a blank line
        if last > first and (
            len(fields) != width or _swallowed_rows(lines, first, last, header, clean)
        ):  # a quote left open swallowed the lines after it: set aside its first line only,
            # and read the swallowed lines again as the rows they are
            reason = (
                f"a quoted field opened on line {first} runs to line {last} over lines that "
                "look like rows of their own: a quote is not closed"
            )
            yield reject(first, first, reason)
            records.restart(first)
            continue
        try:
            if len(fields) != width:
                raise RecordRejected(f"row has {len(fields)} fields, the header has {width}")
            row = {name: _blank_to_none(value) for name, value in zip(header, fields, strict=True)}
            record = clean(row)
        except RecordRejected as exc:
            yield reject(first, last, str(exc))
            continue
        counts["loaded"] = counts.get("loaded", 0) + 1
        for index, name in extras.items():
            record[name] = _blank_to_none(fields[index])
        record["_source_file"] = file_url
        yield record


def _extra_names(header: list[str], expected: tuple[str, ...]) -> dict[int, str]:
    """Column index -> column name for header columns beyond the expected layout.

    Named as dlt will name them (snake_case), so that `Account ID` beside `account_id` becomes
    `account_id_extra` instead of overwriting it in the row.
    """
    extras: dict[int, str] = {}
    taken = set(expected) | {"_source_file"}
    for index, name in enumerate(header):
        if name in expected:
            continue
        column = extra_column_name(name or f"column_{index + 1}", taken)
        taken.add(column)
        extras[index] = column
    return extras
