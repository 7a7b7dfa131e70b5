"""Parsing Segment Spec lines into Arrow batches, with bad lines set aside with their reason."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from ingestion.common import reject_row
from ingestion.segment.settings import (
    JSON_FIELDS,
    KNOWN_FIELDS,
    SOURCE_NAME,
    TEXT_FIELDS,
    TIMESTAMP_FIELDS,
)

_COLUMN_ORDER = [
    "message_id",
    "type",
    "timestamp",
    "user_id",
    "anonymous_id",
    "event",
    "name",
    "group_id",
    "context_group_id",
    "received_at",
    "sent_at",
    "properties",
    "traits",
    "context",
]
_TS_TYPE = pa.timestamp("us", tz="UTC")
_FRACTION = re.compile(r"(\.\d{1,6})\d*")


class BadRecord(ValueError):
    """A line that cannot become an event; its message is the reason stored with it."""


def parse_timestamp(value: Any, field_name: str) -> datetime:
    """ISO-8601 to an aware UTC datetime; a timestamp without offset is UTC (METRICS.md)."""
    if not isinstance(value, str) or not value:
        raise BadRecord(f"{field_name} is missing or not a string")
    text = _FRACTION.sub(r"\1", value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRecord(f"{field_name} is not an ISO-8601 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _text(value: Any) -> str | None:
    """Ids may arrive as numbers; an empty string is the same as an absent id."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | dict | list):
        raise BadRecord(f"expected text, got {type(value).__name__}")
    return str(value)


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


@dataclass
class EventBatch:
    """Column lists for one Arrow table; unknown top-level fields become extra columns."""

    columns: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in _COLUMN_ORDER})
    extras: dict[str, list[Any]] = field(default_factory=dict)
    source_files: list[str] = field(default_factory=list)
    rows: int = 0

    def add(self, message: dict[str, Any], source_file: str) -> None:
        """Validate and append one message, or raise BadRecord without touching the batch."""
        row: dict[str, Any] = {}
        for key, column in TEXT_FIELDS.items():
            try:
                row[column] = _text(message.get(key))
            except BadRecord as exc:
                raise BadRecord(f"{key}: {exc}") from None
        if row["message_id"] is None:
            raise BadRecord("messageId is missing")
        if row["type"] is None:
            raise BadRecord("type is missing")
        if row["user_id"] is None and row["anonymous_id"] is None:
            raise BadRecord("neither userId nor anonymousId is present")
        row["timestamp"] = parse_timestamp(message.get("timestamp"), "timestamp")
        for key in ("receivedAt", "sentAt"):
            value = message.get(key)
            row[TIMESTAMP_FIELDS[key]] = (
                None if value in (None, "") else parse_timestamp(value, key)
            )
        context = message.get("context")
        group = context.get("groupId") if isinstance(context, dict) else None
        row["context_group_id"] = None if group in (None, "") else str(group)
        for key, column in JSON_FIELDS.items():
            row[column] = _json_text(message.get(key))

        extra = {k: v for k, v in message.items() if k not in KNOWN_FIELDS}
        for key, values in self.extras.items():
            values.append(extra.pop(key, None))
        for key, value in extra.items():
            self.extras[key] = [None] * self.rows + [value]
        for column, values in self.columns.items():
            values.append(row[column])
        self.source_files.append(source_file)
        self.rows += 1

    def to_arrow(self) -> pa.Table:
        """Typed Arrow table; nested extra fields are stored as JSON text."""
        arrays: dict[str, pa.Array] = {}
        for column, values in self.columns.items():
            kind = _TS_TYPE if column in TIMESTAMP_FIELDS.values() else pa.string()
            arrays[column] = pa.array(values, type=kind)
        for key, values in self.extras.items():
            arrays[_extra_column(key)] = _extra_array(values)
        arrays["_source_file"] = pa.array(self.source_files, type=pa.string())
        return pa.table(arrays)


def _extra_column(key: str) -> str:
    """Snake-case a vendor field name the way dlt's naming convention would."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()
    return re.sub(r"[^a-z0-9_]+", "_", snake).strip("_") or "field"


def _extra_array(values: list[Any]) -> pa.Array:
    """Scalars keep their type when consistent; nested or mixed values become JSON text."""
    if any(isinstance(v, dict | list) for v in values):
        return pa.array([_json_text(v) for v in values], type=pa.string())
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def read_lines(
    lines: Iterator[bytes], source_file: str, batch_rows: int, seen_ids: set[str]
) -> Iterator[pa.Table | dict[str, Any]]:
    """Yield Arrow batches of good events and reject rows (dicts) for bad lines.

    `seen_ids` holds the messageIds already taken in this load: a copy delivered again in the
    same load is skipped here, one delivered in an earlier load is skipped by the merge.
    """
    batch = EventBatch()
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            message = orjson.loads(line)
            if not isinstance(message, dict):
                raise BadRecord("line is not a JSON object")
            if message.get("messageId") in seen_ids:
                continue
            batch.add(message, source_file)
            seen_ids.add(batch.columns["message_id"][-1])
        except orjson.JSONDecodeError as exc:
            yield _reject(source_file, number, line, f"malformed JSON: {exc}")
        except BadRecord as exc:
            yield _reject(source_file, number, line, str(exc))
        if batch.rows >= batch_rows:
            yield batch.to_arrow()
            batch = EventBatch()
    if batch.rows:
        yield batch.to_arrow()


def _reject(source_file: str, line_number: int, line: bytes, reason: str) -> dict[str, Any]:
    return reject_row(
        SOURCE_NAME,
        f"{source_file}:{line_number}",
        line.decode("utf-8", errors="replace"),
        reason,
    )
