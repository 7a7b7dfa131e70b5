"""Small helpers the sample-world writers share: time formatting, ids, deterministic files."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

DAY = 86_400
ALNUM = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)
ALNUM_MIXED = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8
)


def epoch(day: date) -> int:
    """Unix seconds of a UTC day's midnight."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def iso_z(seconds: int | float) -> str:
    """Zendesk/Typeform style UTC timestamp, whole seconds: `2024-05-01T10:00:00Z`."""
    return datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_months(day: date, months: int) -> date:
    """Calendar month arithmetic as Stripe bills it (clamped to the month's last day)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - 28 always exists


def month_start(day: date) -> date:
    """First day of the day's month."""
    return day.replace(day=1)


def random_tokens(rng: np.random.Generator, n: int, length: int, mixed: bool = False) -> list[str]:
    """`n` random alphanumeric strings, as vendors' opaque ids look (Stripe, Typeform)."""
    alphabet = ALNUM_MIXED if mixed else ALNUM
    picks = rng.integers(0, len(alphabet), size=(n, length))
    return [row.tobytes().decode() for row in alphabet[picks]]


def uuid_strings(rng: np.random.Generator, n: int) -> list[str]:
    """`n` version-4-shaped UUID strings drawn from the seeded generator."""
    hexes = rng.bytes(16 * n).hex()
    out = []
    for i in range(n):
        h = hexes[32 * i : 32 * i + 32]
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}")
    return out


def dumps(record: Any) -> bytes:
    """One JSON line; key order is the order the record was built in, so output is stable."""
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def write_jsonl(path: Path, records: Iterable[Any]) -> int:
    """Write JSON Lines; returns the number of records."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [dumps(r) for r in records]
    path.write_bytes(b"".join(lines))
    return len(lines)


def write_json(path: Path, record: Any) -> None:
    """Pretty JSON with a final newline (world.json, form.json: files people open)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2) + b"\n")


def write_gzip(path: Path, lines: Sequence[bytes]) -> None:
    """Gzip with mtime 0 and no file name in the header, so the bytes depend on content only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b"".join(lines), compresslevel=1, mtime=0))


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """CSV with a header row and Unix line ends; returns the number of data rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
        count += 1
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return count
