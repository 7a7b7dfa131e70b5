"""Plausibility at the door: values no real record can carry are set aside, not loaded.

One 1970 event once made 20,788 rows of daily actives and one event dated next year held every
mart back; a seat count of 10^20 or a NaN price poisons every sum downstream. Loaders call
these checks and put the record in `rejected_records` with the returned reason.

Settings (dlt config, so `.dlt/config.toml` or environment variables):

- `plausibility.earliest_timestamp` / `PLAUSIBILITY__EARLIEST_TIMESTAMP`: the earliest
  believable time, ISO-8601 (default 2000-01-01T00:00:00Z).
- `plausibility.max_future_skew_hours` / `PLAUSIBILITY__MAX_FUTURE_SKEW_HOURS`: how far ahead
  of now a clock may run (default 1 hour). The Great Expectations "no timestamps in the
  future" check uses the same `max_future_skew()`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt

DEFAULT_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
DEFAULT_MAX_FUTURE_SKEW_HOURS = 1.0
EARLIEST_SETTING = "plausibility.earliest_timestamp"
SKEW_SETTING = "plausibility.max_future_skew_hours"

# Largest whole number loaded as a count (seats, quantities): fits a signed 64-bit integer
# with room to sum many of them; 10^20 does not fit any warehouse integer.
MAX_COUNT = 10**12


class PlausibilitySettingError(ValueError):
    """A plausibility setting cannot be read; the message names the setting and the fix."""


def _setting(key: str) -> Any:
    value: Any = dlt.config.get(key)
    return None if value is None or value == "" else value


def earliest_timestamp() -> datetime:
    """The earliest believable time (`plausibility.earliest_timestamp`), aware UTC."""
    value = _setting(EARLIEST_SETTING)
    if value is None:
        return DEFAULT_EARLIEST
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise PlausibilitySettingError(
                f"{EARLIEST_SETTING} (env PLAUSIBILITY__EARLIEST_TIMESTAMP) = {value!r} is not "
                "an ISO-8601 time; set e.g. 2000-01-01T00:00:00Z"
            ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def max_future_skew() -> timedelta:
    """How far past now a timestamp may be (`plausibility.max_future_skew_hours`)."""
    value = _setting(SKEW_SETTING)
    if value is None:
        return timedelta(hours=DEFAULT_MAX_FUTURE_SKEW_HOURS)
    try:
        hours = float(value)
    except (TypeError, ValueError):
        hours = math.nan
    if not math.isfinite(hours) or hours < 0:
        raise PlausibilitySettingError(
            f"{SKEW_SETTING} (env PLAUSIBILITY__MAX_FUTURE_SKEW_HOURS) = {value!r} is not a "
            "non-negative number of hours; set e.g. 1"
        )
    return timedelta(hours=hours)


# The two settings as one load read them (`settings_read_once`); None outside a load.
_READ_ONCE: ContextVar[tuple[datetime, timedelta] | None] = ContextVar(
    "plausibility_settings", default=None
)


@contextmanager
def settings_read_once() -> Iterator[None]:
    """Inside: the settings as read on entry, for every record of a load.

    dlt's config lookup walks every provider (environment, TOML files) each time: about 50 us
    per timestamp checked, 0.7 s of the demo world's 8 s Zendesk load. "Now" is still
    taken at each check, so a long load never sets aside what was written while it ran. A bad
    setting fails here, naming itself, before the load starts.
    """
    token = _READ_ONCE.set((earliest_timestamp(), max_future_skew()))
    try:
        yield
    finally:
        _READ_ONCE.reset(token)


def _settings() -> tuple[datetime, timedelta]:
    """(earliest, max future skew): as the load read them, else read now."""
    read = _READ_ONCE.get()
    return read if read is not None else (earliest_timestamp(), max_future_skew())


def timestamp_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """(earliest, latest) plausible times, read once so a large load can check fast."""
    earliest, skew = _settings()
    return earliest, (now or datetime.now(UTC)) + skew


def timestamp_problem(value: datetime, now: datetime | None = None) -> str | None:
    """Why `value` cannot be a real event time, or None when it is plausible.

    Naive datetimes are taken as UTC. `now` is for tests; it defaults to the current time.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    earliest, skew = _settings()
    if value < earliest:
        return (
            f"timestamp {value.isoformat()} is before {earliest.isoformat()} "
            f"(setting {EARLIEST_SETTING})"
        )
    latest = (now or datetime.now(UTC)) + skew
    if value > latest:
        return (
            f"timestamp {value.isoformat()} is in the future, after {latest.isoformat()} "
            f"(setting {SKEW_SETTING})"
        )
    return None


def number_problem(value: Any, *, allow_negative: bool = False) -> str | None:
    """Why `value` is not a usable amount (NaN, infinite, negative), or None when it is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{value!r} is not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if value < 0 and not allow_negative:
        return f"{value!r} is negative"
    return None


def count_problem(value: Any, *, maximum: int = MAX_COUNT) -> str | None:
    """Why `value` is not a plausible count (whole, 0..maximum), or None when it is."""
    problem = number_problem(value)
    if problem:
        return problem
    if isinstance(value, float) and not value.is_integer():
        return f"{value!r} is not a whole number"
    if value > maximum:
        return f"{value!r} is larger than the plausible maximum {maximum}"
    return None
