"""The Segment events loader: typed rows, bad lines set aside, each message and file once."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from conftest import query

from ingestion import segment


def track(message_id: str, user: str | None = "u1", ts: str = "2026-01-05T10:00:00Z", **extra):
    message = {"type": "track", "messageId": message_id, "timestamp": ts, "event": "Report Created"}
    if user is not None:
        message["userId"] = user
    return {**message, **extra}


def write_events(path: Path, lines: list[object], gz: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    if gz:
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text)
    return path


def test_events_land_typed_in_utc_and_bad_lines_are_set_aside(tmp_path: Path, warehouse: Path):
    folder = tmp_path / "events"
    write_events(
        folder / "2026" / "01" / "05" / "part-0.jsonl.gz",
        [
            track("m1", ts="2026-01-05T23:30:00-02:00", context={"groupId": "acc_1"}),
            "{not json",
            track("", user="u2"),
            track("m3", ts="05/01/2026 10:00"),
            track("m4", user=None),
            track("m5", user="", anonymousId="anon-1"),
            {
                "type": "group",
                "messageId": "m6",
                "timestamp": "2026-01-05T09:00:00",
                "userId": "u1",
                "groupId": "acc_1",
                "traits": {"name": "Acme"},
                "channel": "server",
            },
        ],
    )
    segment.load(str(folder))

    rows = query(
        warehouse,
        "select message_id, type, timestamp, user_id, anonymous_id, context_group_id, channel "
        "from raw_segment.events order by message_id",
    )
    assert [r[0] for r in rows] == ["m1", "m5", "m6"]
    m1, m5, m6 = rows
    assert str(m1[2]) == "2026-01-06 01:30:00+00:00"  # -02:00 converted to UTC: next day
    assert m1[5] == "acc_1"
    assert m5[3] is None and m5[4] == "anon-1"  # empty-string userId is no user
    assert str(m6[2]) == "2026-01-05 09:00:00+00:00"  # no offset means UTC
    assert m6[6] == "server"  # an unknown top-level field lands as a new column

    rejects = query(
        warehouse, "select location, reason, record from raw_segment.rejected_records order by 1"
    )
    reasons = {location.rsplit(":", 1)[1]: reason for location, reason, _ in rejects}
    assert set(reasons) == {"2", "3", "4", "5"}
    assert reasons["2"].startswith("malformed JSON")
    assert reasons["3"] == "messageId is missing"
    assert "not an ISO-8601 timestamp" in reasons["4"]
    assert reasons["5"] == "neither userId nor anonymousId is present"
    assert all(record for _, _, record in rejects)


def test_second_run_reads_nothing_and_redelivery_never_duplicates(tmp_path: Path, warehouse):
    folder = tmp_path / "events"
    first = write_events(folder / "a" / "one.jsonl", [track("m1"), track("m2"), track("m1")], False)
    segment.load(str(folder))
    segment.load(str(folder))
    assert query(warehouse, "select count(*) from raw_segment.events") == [(2,)]

    # A later file re-delivers m2 (now with other content) and brings m3: m2 keeps its first copy.
    write_events(
        folder / "b" / "c" / "two.json", [track("m2", user="someone-else"), track("m3")], False
    )
    segment.load(str(folder))
    rows = query(warehouse, "select message_id, user_id from raw_segment.events order by 1")
    assert rows == [("m1", "u1"), ("m2", "u1"), ("m3", "u1")]

    # A replaced file (new modification time) is read again; dedup still holds.
    os.utime(first, (first.stat().st_atime + 60, first.stat().st_mtime + 60))
    segment.load(str(folder))
    assert query(warehouse, "select count(*) from raw_segment.events") == [(3,)]
    loads = query(warehouse, "select count(*) from raw_segment._dlt_loads where status = 0")
    assert loads[0][0] >= 3


def test_missing_folder_setting_names_the_env_var(warehouse: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SOURCES__SEGMENT__BUCKET_URL", raising=False)
    with pytest.raises(Exception, match="bucket_url"):
        segment.load()
