"""Parsing vendor values: ids that arrive as floats or empty strings, timestamps in any form."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def _is_id_key(key: str) -> bool:
    return key == "id" or key.endswith("_id")


def normalize_ids(value: Any, int_keys: frozenset[str] = frozenset()) -> Any:
    """Integral float ids/epochs (7253394974479.0) become ints; empty-string ids become null.

    Applies to `id`, `*_id`, `*_ids` and the given `int_keys`, at any depth. Other floats are
    left alone: turning 25.0 into 25 elsewhere would split a column into two dlt variants.
    """
    if isinstance(value, list):
        return [normalize_ids(item, int_keys) for item in value]
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    for key, item in value.items():
        if _is_id_key(key) or key in int_keys:
            item = _int_or_same(item)
            if item == "" and _is_id_key(key):
                item = None
        elif key.endswith("_ids") and isinstance(item, list):
            item = [_int_or_same(element) for element in item]
        elif isinstance(item, dict | list):
            item = normalize_ids(item, int_keys)
        result[key] = item
    return result


def _int_or_same(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def parse_timestamp(value: Any) -> datetime | None:
    """Read ISO-8601 text or Unix seconds as an aware UTC datetime; None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
