"""The one comparison of an independently computed table with its mart.

Rows are matched on the table's grain. Integers, dates, text and booleans must be equal;
floats agree to 1e-9 relative; a null matches only a null. The failure message lists rows only
expected, rows only in the mart and differing values, up to 10 examples of each.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb
import numpy as np
import pandas as pd

RELATIVE_TOLERANCE = 1e-9
EXAMPLES = 10


@dataclass(frozen=True)
class Expected:
    """The expected rows of one mart (or of the slice of it that `where` selects)."""

    mart: str
    keys: list[str]
    frame: pd.DataFrame
    where: str = ""

    @property
    def label(self) -> str:
        return f"{self.mart} ({self.where})" if self.where else self.mart

    def mart_frame(self, con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
        """The mart's rows, the expected frame's columns only, with Python values."""
        columns = ", ".join(self.frame.columns)
        where = f" where {self.where}" if self.where else ""
        return frame(con, f"select {columns} from marts.{self.mart}{where}")


@dataclass
class Differences:
    """What one comparison found; empty when the mart equals the expected table."""

    label: str
    expected_rows: int
    mart_rows: int
    only_expected: list[tuple[Any, ...]] = field(default_factory=list)
    only_mart: list[tuple[Any, ...]] = field(default_factory=list)
    differing: list[tuple[tuple[Any, ...], str, Any, Any]] = field(default_factory=list)
    duplicate_keys: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.only_expected or self.only_mart or self.differing or self.duplicate_keys)

    def message(self) -> str:
        """A readable account of the differences, up to 10 examples of each kind."""
        lines = [
            f"{self.label}: expected {self.expected_rows} rows, mart {self.mart_rows} rows; "
            f"only expected {len(self.only_expected)}, only in the mart {len(self.only_mart)}, "
            f"differing values {len(self.differing)}"
        ]
        if self.duplicate_keys:
            lines.append(f"  duplicate keys: {self.duplicate_keys}")
        lines += [f"  only expected: {row}" for row in self.only_expected[:EXAMPLES]]
        lines += [f"  only in the mart: {row}" for row in self.only_mart[:EXAMPLES]]
        lines += [
            f"  {key} {column}: expected {want!r}, mart {got!r}"
            for key, column, want, got in self.differing[:EXAMPLES]
        ]
        return "\n".join(lines)


def frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """Rows of `sql` as a DataFrame of plain Python values (a DATE stays a `date`)."""
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return pd.DataFrame(cursor.fetchall(), columns=names, dtype=object)


def normal(value: Any) -> Any:
    """One comparable Python value: None for every null, UTC datetimes, plain scalars.

    A naive midnight timestamp is a date pandas widened (marts hold only timestamptz).
    """
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.UTC)
        return value.date() if value.time() == dt.time() else value
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return normal(value.item())  # numpy scalars
    return value


def same(want: Any, got: Any) -> bool:
    """Exact on integers, dates, text and booleans; floats to 1e-9 relative."""
    want, got = normal(want), normal(got)
    if want is None or got is None:
        return want is None and got is None
    if isinstance(want, bool) or isinstance(got, bool):
        return type(want) is type(got) and want == got
    if isinstance(want, float) or isinstance(got, float):
        if not isinstance(want, int | float) or not isinstance(got, int | float):
            return False
        a, b = float(want), float(got)
        return a == b or abs(a - b) <= RELATIVE_TOLERANCE * max(abs(a), abs(b))
    return type(want) is type(got) and want == got


def _by_key(rows: pd.DataFrame, keys: Sequence[str]) -> tuple[dict[tuple[Any, ...], dict], int]:
    indexed: dict[tuple[Any, ...], dict] = {}
    duplicates = 0
    for record in rows.astype(object).to_dict("records"):
        key = tuple(normal(record[k]) for k in keys)
        duplicates += key in indexed
        indexed[key] = record
    return indexed, duplicates


def differences(
    label: str, expected: pd.DataFrame, mart: pd.DataFrame, keys: Sequence[str]
) -> Differences:
    """Compare `expected` with `mart` on the grain `keys`, over the expected frame's columns."""
    missing = [c for c in expected.columns if c not in mart.columns]
    if missing:
        raise ValueError(f"{label}: the mart has no column {missing}")
    want, want_dupes = _by_key(expected, keys)
    got, got_dupes = _by_key(mart, keys)
    found = Differences(label, len(expected), len(mart))
    if want_dupes or got_dupes:
        found.duplicate_keys = {"expected": want_dupes, "mart": got_dupes}
    columns = [c for c in expected.columns if c not in keys]
    found.only_expected = sorted(set(want) - set(got), key=str)
    found.only_mart = sorted(set(got) - set(want), key=str)
    for key in sorted(set(want) & set(got), key=str):
        for column in columns:
            if not same(want[key][column], got[key][column]):
                found.differing.append(
                    (key, column, normal(want[key][column]), normal(got[key][column]))
                )
    return found


def compare_with_mart(con: duckdb.DuckDBPyConnection, expected: Expected) -> Differences:
    """Compare one expected table with the mart it stands for, read through `con`."""
    return differences(expected.label, expected.frame, expected.mart_frame(con), expected.keys)
