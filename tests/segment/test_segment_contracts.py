"""Property tests: any message the Segment Spec (or RudderStack) allows loads or is set aside.

Hypothesis generates files of Spec-shaped messages: optional fields present, absent or null,
ids as text or numbers, `context.groupId` or not, Segment's and RudderStack's layouts, copies
of one messageId, and now and then a record no contract allows (an object as id, a 1970 or
future timestamp, no user at all). An oracle written from the Segment Spec and
docs/metrics.md, independent of the loader, says what each line must become; the test checks
the loader agrees line by line, and that nothing is lost: input lines = loaded distinct
messageIds + set aside + duplicates.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion import segment
from ingestion.segment.columnar import ColumnarParser
from ingestion.segment.helpers import read_lines, read_parsed
from tests.toolkit.warehouse import query, table_counts

ABSENT = object()  # a field left out of the message
NOW = datetime.now(UTC)
IMPLAUSIBLE = ["1970-01-01T00:00:00Z", (NOW + timedelta(days=3)).isoformat()]

ids = st.one_of(
    st.text("abcdef0123456789-_", min_size=1, max_size=10),
    st.integers(min_value=0, max_value=10**15),
)
maybe_id = st.one_of(st.just(ABSENT), st.none(), st.just(""), ids)
bad_id = st.sampled_from([{"id": "acc_1"}, ["acc_1"], True])
offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]
)
times = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2026, 6, 30), timezones=offsets
)


def spelled(moment: datetime, style: int) -> str:
    """ISO-8601 as different libraries write it."""
    if style == 0:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if style == 1:
        return moment.isoformat()
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    """One message, valid by the Spec most of the time."""
    kind = draw(st.sampled_from(["track", "identify", "group", "page", "screen"]))
    fields: dict[str, Any] = {"type": kind}
    fields["messageId"] = draw(
        st.one_of(st.sampled_from(["m1", "m2", "m3", 4, 5]), ids, st.just(ABSENT), bad_id)
        if draw(st.integers(0, 9)) == 0
        else st.one_of(st.sampled_from(["m1", "m2", "m3", 4, 5]), ids)
    )
    fields["userId"] = draw(st.one_of(maybe_id, bad_id) if draw(st.booleans()) else maybe_id)
    fields["anonymousId"] = draw(maybe_id)
    moment = draw(times)
    style = draw(st.integers(0, 2))
    timestamp: Any = spelled(moment, style)
    if draw(st.integers(0, 9)) == 0:
        timestamp = draw(st.sampled_from([*IMPLAUSIBLE, ABSENT]))
    fields["timestamp"] = timestamp
    if draw(st.booleans()):  # RudderStack's layout, or a raw library message
        fields.update(
            channel=draw(st.sampled_from(["web", "server", "android"])),
            rudderId=draw(st.uuids()).hex,
            originalTimestamp=spelled(moment, style),
            request_ip="10.0.0.1",
        )
    for optional in ("receivedAt", "sentAt"):
        fields[optional] = draw(st.sampled_from([ABSENT, None, spelled(moment, style)]))
    if kind == "track":
        fields["event"] = draw(st.sampled_from(["Report Created", "Signed In", ABSENT]))
    if kind == "page":
        fields["name"] = draw(st.sampled_from(["Home", None, ABSENT]))
    if kind == "group":
        fields["groupId"] = draw(maybe_id)
    payload = st.one_of(
        st.just(ABSENT),
        st.none(),
        st.dictionaries(st.sampled_from("abc"), st.integers(), max_size=2),
    )
    fields["properties" if kind in ("track", "page", "screen") else "traits"] = draw(payload)
    context = draw(st.sampled_from(["absent", "null", "plain", "group", "numeric", "bad"]))
    if context != "absent":
        fields["context"] = {
            "null": None,
            "plain": {"library": {"name": "analytics-python", "version": "2.3"}},
            "group": {"groupId": draw(st.sampled_from(["acc_1", "acc_2", ""]))},
            "numeric": {"groupId": draw(st.integers(0, 99))},
            "bad": {"groupId": draw(bad_id)},
        }[context]
    return {key: value for key, value in fields.items() if value is not ABSENT}


def _id_text(value: Any) -> str | None:
    """The oracle's reading of an id (the Spec: text; numbers are their decimal text)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError("not an id")


@dataclass
class Expected:
    loaded: dict[str, dict[str, Any]]  # messageId -> columns of its first good copy
    rejected: list[int]  # line numbers
    duplicates: int


def oracle(lines: list[dict[str, Any]]) -> Expected:
    """What each line must become, written from the contract, not from the loader."""
    earliest, latest = datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(hours=1)
    loaded: dict[str, dict[str, Any]] = {}
    rejected: list[int] = []
    duplicates = 0
    for number, message in enumerate(lines, start=1):
        # A copy of a message already loaded is a duplicate whatever it holds: the first wins.
        message_id = message.get("messageId")
        readable = isinstance(message_id, str | int) and not isinstance(message_id, bool)
        if readable and str(message_id) in loaded:
            duplicates += 1
            continue
        try:
            texts = {
                key: _id_text(message.get(key))
                for key in ("messageId", "userId", "anonymousId", "groupId")
            }
            context = message.get("context")
            group = _id_text(context.get("groupId")) if isinstance(context, dict) else None
        except ValueError:
            rejected.append(number)
            continue
        stamp = message.get("timestamp")  # only `timestamp` decides (docs/metrics.md)
        when = (
            datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC) if stamp else None
        )
        if (
            texts["messageId"] is None
            or (texts["userId"] is None and texts["anonymousId"] is None)
            or when is None
            or not earliest <= when <= latest
        ):
            rejected.append(number)
            continue
        if texts["messageId"] in loaded:
            duplicates += 1
            continue
        loaded[texts["messageId"]] = {
            "user_id": texts["userId"],
            "anonymous_id": texts["anonymousId"],
            "group_id": texts["groupId"],
            "context_group_id": group,
            "timestamp": when,
        }
    return Expected(loaded, rejected, duplicates)


def _write(path: Path, lines: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


COLUMNS = ["message_id", "user_id", "anonymous_id", "group_id", "context_group_id", "timestamp"]


def _rows(tables: list[pa.Table]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for table in tables:
        for row in table.select(COLUMNS).to_pylist():
            assert row["message_id"] not in rows
            rows[row.pop("message_id")] = row
    return rows


@settings(
    max_examples=50,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(messages(), min_size=1, max_size=25))
def test_every_message_loads_or_is_set_aside_and_counts_add_up(lines: list[dict[str, Any]]):
    expected = oracle(lines)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.jsonl"
        _write(path, lines)
        items = list(read_lines(iter(path.open("rb")), str(path), 7, set()))
        parsed = ColumnarParser(threads=1).parse(str(path))
        fast = None if parsed is None else list(read_parsed(parsed, str(path), 7, set()))
    tables = [item for item in items if isinstance(item, pa.Table)]
    rejects = [item for item in items if isinstance(item, dict)]
    assert all(reject["reason"] for reject in rejects)
    assert sorted(int(r["location"].rsplit(":", 1)[1]) for r in rejects) == expected.rejected
    assert _rows(tables) == expected.loaded
    assert len(lines) == len(expected.loaded) + len(rejects) + expected.duplicates
    if fast is not None:  # the fast path takes only files it reads exactly as the lines path
        assert rejects == []
        assert [t.to_pylist() for t in fast] == [t.to_pylist() for t in tables]


@settings(
    max_examples=10, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    st.lists(messages(), min_size=1, max_size=15),
    st.lists(messages(), min_size=0, max_size=15),
)
def test_a_load_keeps_each_message_once_and_every_bad_one_aside(
    first: list[dict[str, Any]], second: list[dict[str, Any]]
):
    """Two files of one folder, through dlt into DuckDB: the warehouse adds up too."""
    expected = oracle([*first, *second])
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        root = Path(folder)
        _write(root / "events" / "2026" / "a.jsonl", first)
        _write(root / "events" / "2026" / "b.jsonl", second)
        warehouse = root / "warehouse.duckdb"
        patch.setenv("WAREHOUSE_PATH", str(warehouse))
        patch.setenv("RUNTIME__LOG_LEVEL", "ERROR")
        segment.load(str(root / "events"))
        counts = table_counts(warehouse, "raw_segment")
        columns = ", ".join(COLUMNS)
        loaded = (
            query(warehouse, f"select {columns} from raw_segment.events")
            if "events" in counts
            else []
        )
        rejected = counts.get("rejected_records", 0)
    rows = {row[0]: dict(zip(COLUMNS[1:], row[1:], strict=True)) for row in loaded}
    assert len(rows) == len(loaded)
    assert rows == expected.loaded
    assert rejected == len(expected.rejected)
    total = len(first) + len(second)
    assert total == len(rows) + len(expected.rejected) + expected.duplicates
