"""The Segment events loader: typed rows, bad lines set aside, each message and file once."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
from pathlib import Path

import pytest
from dlt.common.schema.utils import dlt_id_column

from ingestion import segment
from ingestion.segment import columnar
from ingestion.segment.columnar import ColumnarParser
from ingestion.segment.helpers import read_lines, read_parsed
from tests.toolkit.files import track, write_events
from tests.toolkit.warehouse import completed_loads, query, rejects, row_count


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

    set_aside = query(
        warehouse, "select location, reason, record from raw_segment.rejected_records order by 1"
    )
    reasons = {location.rsplit(":", 1)[1]: reason for location, reason, _ in set_aside}
    assert set(reasons) == {"2", "3", "4", "5"}
    assert reasons["2"].startswith("malformed JSON")
    assert reasons["3"] == "messageId is missing"
    assert "not an ISO-8601 timestamp" in reasons["4"]
    assert reasons["5"] == "neither userId nor anonymousId is present"
    assert all(record for _, _, record in set_aside)


def test_second_run_reads_nothing_and_redelivery_is_logged_per_load(tmp_path: Path, warehouse):
    """raw_segment.events is an append-only log of loads (staging counts a message once)."""
    folder = tmp_path / "events"
    first = write_events(folder / "a" / "one.jsonl", [track("m1"), track("m2"), track("m1")], False)
    segment.load(str(folder))
    segment.load(str(folder))
    assert row_count(warehouse, "raw_segment.events") == 3  # every copy, in one load

    # A later file re-delivers m2 (now with other content) and brings m3: both copies of m2
    # are in raw, each with its load (the first-copy rule is staging's).
    write_events(
        folder / "b" / "c" / "two.json", [track("m2", user="someone-else"), track("m3")], False
    )
    segment.load(str(folder))
    rows = query(
        warehouse,
        "select message_id, user_id, dense_rank() over (order by _dlt_load_id) "
        "from raw_segment.events order by 3, 1",
    )
    assert rows == [
        ("m1", "u1", 1),
        ("m1", "u1", 1),
        ("m2", "u1", 1),
        ("m2", "someone-else", 2),
        ("m3", "u1", 2),
    ]

    # A replaced file (new modification time) is read again, as one more load.
    os.utime(first, (first.stat().st_atime + 60, first.stat().st_mtime + 60))
    segment.load(str(folder))
    assert row_count(warehouse, "raw_segment.events") == 8
    assert completed_loads(warehouse, "raw_segment") == 3


def test_row_ids_are_made_as_dlt_makes_them(tmp_path: Path, warehouse: Path):
    folder = tmp_path / "events"
    write_events(folder / "1.jsonl.gz", [track(f"a{i}") for i in range(50)])  # parsed whole
    write_events(folder / "2.jsonl.gz", [track("b1"), "{broken"])  # read line by line
    info = segment.load(str(folder))

    ids = [row[0] for row in query(warehouse, "select _dlt_id from raw_segment.events")]
    assert len(ids) == len(set(ids)) == 51
    assert all(re.fullmatch(r"[A-Za-z0-9+/]{22}", row_id) for row_id in ids)
    schema = info.pipeline.default_schema  # type: ignore[attr-defined]
    # The hints dlt's normalizer gives the row ids it makes.
    assert schema.get_table_columns("events")["_dlt_id"] == dlt_id_column()


def test_missing_folder_setting_names_the_env_var(warehouse: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SOURCES__SEGMENT__BUCKET_URL", raising=False)
    with pytest.raises(Exception, match="bucket_url"):
        segment.load()


# --- The columnar fast path (ingestion/segment/columnar.py) against the per-line path ---------


def _both_paths(path: Path, batch_rows: int = 3, seen: set[str] | None = None):
    """The batches and set-aside rows of the columnar parse and of the per-line path."""
    parsed = ColumnarParser().parse(str(path))
    fast_seen, line_seen = set(seen or ()), set(seen or ())
    fast_types: dict[str, str] = {}
    line_types: dict[str, str] = {}
    fast = (
        None
        if parsed is None
        else list(read_parsed(parsed, str(path), batch_rows, fast_seen, fast_types))
    )
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        lines = list(read_lines(iter(handle), str(path), batch_rows, line_seen, line_types))
    assert fast_seen == line_seen or fast is None
    assert fast_types == line_types or fast is None
    return fast, lines


def assert_same_batches(fast: list[object] | None, lines: list[object]) -> None:
    assert fast is not None, "the columnar parser should have taken this file"
    assert [t.num_rows for t in fast] == [t.num_rows for t in lines]  # type: ignore[attr-defined]
    for ours, reference in zip(fast, lines, strict=True):
        assert ours.schema == reference.schema  # type: ignore[attr-defined]
        assert ours.to_pylist() == reference.to_pylist()  # type: ignore[attr-defined]


def test_columnar_parse_equals_the_per_line_path(tmp_path: Path):
    lines = [
        track("m1", ts="2026-01-05T23:30:00-02:00", context={"groupId": "acc_1", "n": [1, 2.5]}),
        track("m2", user="", anonymousId="anon-1", ts="2026-01-05 10:00:00"),
        track("m3", ts="2026-01-05T10:00:00.5Z", receivedAt="", sentAt=None, planTier="gold"),
        track("m1", user="redelivered"),  # a second copy in the same file: the first wins
        json.dumps(  # non-ASCII as UTF-8 (escaped, it would make the file go line by line)
            {
                "type": "group",
                "messageId": "m4",
                "timestamp": "2026-01-05T09:00:00.123456+05:30",
                "receivedAt": "2026-01-05T09:00:01Z",
                "userId": "ü-ser ☃",
                "groupId": "acc_1",
                "traits": {"name": "Acme ✓", "seats": 12, "ratio": 0.25, "tags": ["a", None]},
                "context": {"groupId": "acc_2", "page": {"path": "/x"}},
                "seats": 5,
                "user_id": "legacy",  # clashes with the typed user_id: user_id_extra
                "channel": None,
            },
            ensure_ascii=False,
        ),
        track("m5", context="not an object", seats=7, channel="server", properties=None),
        track("m6", seats="ten", planTier={"level": 2}, flag=True),  # variants in this batch
        track("m7", ts="2026-01-05T10:00:00+00:00", seats=2.5, flag=False, zeta=1, alpha=2),
        track("m8", properties={"price": 19.99, "tiny": 0.001, "big": 123456789012345}),
    ]
    path = write_events(tmp_path / "a.jsonl.gz", [*lines, "", "   "])
    fast, reference = _both_paths(path, seen={"m8"})
    assert_same_batches(fast, reference)
    assert "user_id_extra" in reference[1].column_names  # type: ignore[attr-defined]


def test_columnar_parse_matches_float_and_timestamp_spellings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Times up to 2039 are spellings to compare here, not implausible events (20 years ahead).
    monkeypatch.setenv("PLAUSIBILITY__MAX_FUTURE_SKEW_HOURS", str(20 * 366 * 24))
    rng = random.Random(5)
    values: list[object] = []
    for _ in range(300):
        exponent = rng.randrange(-8, 18)
        values.append(round(rng.uniform(-1, 1) * 10**exponent, rng.randrange(0, 12)))
    values += [0.1 + 0.2, 1e15 + 0.5, 100.0, -0.0, 2**53, -(2**31)]
    stamps = [
        f"20{rng.randrange(10, 40)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        f"{rng.choice('T ')}{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
        f"{rng.choice(['', '.1', '.12', '.123', '.1234', '.12345', '.123456'])}"
        f"{rng.choice(['', 'Z', '+00:00', '-05:00', '+05:30', '+23:59', '-12:45'])}"
        for _ in range(300)
    ]
    taken = 0
    for index, (value, stamp) in enumerate(zip(values, stamps, strict=False)):
        message = track(f"m{index}", ts=stamp, properties={"v": value, "w": [value]}, v=value)
        path = write_events(tmp_path / f"{index}.jsonl", [message], gz=False)
        fast, reference = _both_paths(path)
        if fast is not None:  # a spelling it cannot vouch for goes line by line: also right
            assert_same_batches(fast, reference)
            taken += 1
    assert taken > 200


@pytest.mark.parametrize(
    "unusual",
    [
        "{not json",
        '{"type":"track","messageId":"x","timestamp":"2026-01-05T10:00:00Z","userId":"u",}',
        '{"type":"track","messageId":"x","timestamp":"2026-01-05T10:00:00Z","userId":"u","p":NaN}',
        '{"type":"track","messageId":"x","timestamp":"2026-01-05T10:00:00Z","userId":"u","p":1e5}',
        '{"type":"track","messageId":"x","timestamp":"2026-01-05T10:00:00Z","userId":"caf\\u00e9"}',
        '{"type":"track","messageId":"x","messageId":"y","timestamp":"2026-01-05T10:00:00Z",'
        '"userId":"u"}',
        '{"type":"track","messageId":7,"timestamp":"2026-01-05T10:00:00Z","userId":"u"}',
        '{"type":"track","messageId":"x","timestamp":"2026-01-05T10:00:00Z","userId":true}',
        '{"type":"track","messageId":"x","timestamp":"2026-01-05T10:00:00Z","userId":"u",'
        '"big":12345678901234567890}',
        json.dumps(track("x", ts="05/01/2026 10:00")),
        json.dumps(track("x", ts="2026-02-30T10:00:00Z")),
        json.dumps(track("x", ts="2026-01-05T10:00:00z")),
        json.dumps(track("x", user=None)),
        json.dumps(track("")),
        json.dumps(track("x", receivedAt=12)),
        json.dumps(track("x", context={"groupId": True})),
        json.dumps(track("x", context={"groupId": {"id": "acc_1"}})),
        json.dumps(track("x", context={"groupId": 5.0})),
        json.dumps(track("x", ts="1970-01-01T00:00:00Z")),  # implausible: set aside
        json.dumps(track("x", ts="2099-01-01T00:00:00Z")),
        json.dumps(track("x", ts=None, originalTimestamp="2026-01-05T10:00:00Z")),
        '\ufeff{"type":"track","messageId":"x","timestamp":"2026-01-05T10:00:00Z","userId":"u"}',
        "[1, 2]",
    ],
)
def test_a_file_with_an_unusual_line_goes_line_by_line(tmp_path: Path, unusual: str):
    path = write_events(tmp_path / "a.jsonl.gz", [track("m1"), unusual, track("m2")])
    fast, reference = _both_paths(path)
    assert fast is None
    assert reference  # the per-line path still loads m1 and m2 (and sets a bad line aside)


def test_the_loader_gives_the_same_tables_with_and_without_the_columnar_path(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    """Inserted by the warehouse (a clean file), read the usual way (a bad line, a value
    whose type differs from its column's), or all line by line: the same first copies."""
    folder = tmp_path / "events"
    write_events(folder / "1.jsonl.gz", [track(f"a{i}", planTier=i) for i in range(20)])
    write_events(folder / "2.jsonl.gz", [track("a3"), "{broken", track("b1", user=None)])
    write_events(folder / "3.jsonl", [track("c1", planTier="x"), track("a4")], gz=False)
    columns = (
        "select * exclude (_dlt_load_id, _dlt_id) from raw_segment.events "
        "qualify row_number() over (partition by message_id order by _source_file) = 1 order by 1"
    )
    rejects_sql = "select location, record, reason from raw_segment.rejected_records order by 1"
    segment.load(str(folder))
    fast = (query(warehouse, columns), query(warehouse, rejects_sql))
    assert len(fast[0]) == 21 and len(fast[1]) == 2
    # a3 and a4 again (2.jsonl.gz and 3.jsonl): copies in one load are staging's to drop
    assert row_count(warehouse, "raw_segment.events") == 23
    batches = "select count(distinct left(_dlt_id, 16)) from raw_segment.events"
    assert query(warehouse, batches)[0][0] > 3  # 1.jsonl.gz inserted by the warehouse

    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "lines" / "warehouse.duckdb"))
    monkeypatch.setenv("SOURCES__SEGMENT__STREAM_INSERTS", "false")
    monkeypatch.setattr(columnar.Prefetcher, "get", lambda self, index: None)
    segment.load(str(folder))
    reference = tmp_path / "lines" / "warehouse.duckdb"
    assert (query(reference, columns), query(reference, rejects_sql)) == fast


def test_many_small_files_load_as_the_per_line_path_loads_them(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    """Small files are parsed a group at a time and their batches go to dlt as one: the same
    table, columns in the same order, as file by file (fields only some files have, a field
    whose type changes, a message re-delivered in every file). Through dlt's extract, as on
    PostgreSQL and Spark."""
    monkeypatch.setenv("SOURCES__SEGMENT__STREAM_INSERTS", "false")
    folder = tmp_path / "events"
    extras = {1: {"planTier": 1}, 5: {"planTier": 5}, 6: {"planTier": "x"}, 9: {"seats": 9}}
    for n in range(12):
        lines = [track(f"m{n}-{i}", **extras.get(n, {})) for i in range(3)] + [track("m1-0")]
        write_events(folder / f"{n:02d}.jsonl.gz", lines)
    names = (
        "select column_name from information_schema.columns where table_schema = 'raw_segment'"
        " and table_name = 'events' order by ordinal_position"
    )
    rows = "select * exclude (_dlt_load_id, _dlt_id) from raw_segment.events order by 1"
    segment.load(str(folder))
    joined = (query(warehouse, names), query(warehouse, rows))
    assert len(joined[1]) == 36  # m1-0 once
    assert query(warehouse, "select count(distinct left(_dlt_id, 16)) from raw_segment.events") == [
        (1,)  # one batch of rows
    ]

    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "lines" / "warehouse.duckdb"))
    monkeypatch.setattr(columnar.Prefetcher, "get", lambda self, index: None)
    segment.load(str(folder))
    reference = tmp_path / "lines" / "warehouse.duckdb"
    assert (query(reference, names), query(reference, rows)) == joined


def test_columnar_and_per_line_paths_agree_on_new_shapes(tmp_path: Path):
    """RudderStack fields, a numeric context.groupId and a UTF-8 BOM: the same rows either way."""
    rudder = track(
        "r1",
        anonymousId="anon-1",
        channel="web",
        rudderId="8f1c",
        originalTimestamp="2026-01-05T09:59:59Z",
        request_ip="10.0.0.1",
        integrations={"All": True},
        context={"groupId": "acc_1", "library": {"name": "RudderLabs JavaScript SDK"}},
    )
    plain = write_events(tmp_path / "a.jsonl", [rudder, track("r2")], gz=False)
    fast, reference = _both_paths(plain)
    assert_same_batches(fast, reference)
    assert "rudder_id" in reference[0].column_names  # type: ignore[attr-defined]

    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    fast, with_bom = _both_paths(bom)
    assert not [item for item in with_bom if isinstance(item, dict)]  # nothing set aside
    assert sum(t.num_rows for t in with_bom) == 2  # type: ignore[attr-defined]
    if fast is not None:
        assert_same_batches(fast, with_bom)

    numeric = write_events(tmp_path / "n.jsonl", [track("n1", context={"groupId": 42})], gz=False)
    fast, lines = _both_paths(numeric)
    assert lines[0].column("context_group_id").to_pylist() == ["42"]  # type: ignore[attr-defined]
    if fast is not None:
        assert_same_batches(fast, lines)


def test_implausible_times_follow_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = write_events(
        tmp_path / "a.jsonl",
        [track("old", ts="1999-12-31T23:59:59Z"), track("ok", ts="2000-01-01T00:00:00Z")],
        gz=False,
    )
    _, lines = _both_paths(path)
    rejects = [item for item in lines if isinstance(item, dict)]
    assert [r["reason"] for r in rejects] == [
        "timestamp 1999-12-31T23:59:59+00:00 is before 2000-01-01T00:00:00+00:00 "
        "(setting plausibility.earliest_timestamp)"
    ]
    monkeypatch.setenv("PLAUSIBILITY__EARLIEST_TIMESTAMP", "1990-01-01T00:00:00Z")
    fast, lines = _both_paths(path)
    assert_same_batches(fast, lines)
    assert sum(t.num_rows for t in lines) == 2  # type: ignore[attr-defined]


def test_an_unreadable_file_is_set_aside_once_and_read_when_fixed(tmp_path: Path, warehouse: Path):
    folder = tmp_path / "events"
    write_events(folder / "ok.jsonl.gz", [track("a1")])
    target = tmp_path / "later.jsonl"
    (folder / "link.jsonl").symlink_to(target)  # dangling until the file arrives
    (folder / "sub").mkdir()
    (folder / "sub" / "loop").symlink_to(folder)  # a folder loop is walked once
    segment.load(str(folder))
    segment.load(str(folder))
    set_aside = query(warehouse, "select location, reason from raw_segment.rejected_records")
    assert [(location.rsplit("/", 1)[1], reason) for location, reason in set_aside] == [
        (
            "link.jsonl",
            "file cannot be read: FileNotFoundError: [Errno 2] No such file or "
            f"directory: '{folder / 'link.jsonl'}'",
        )
    ]
    write_events(target, [track("b1")], gz=False)
    segment.load(str(folder))
    assert query(warehouse, "select message_id from raw_segment.events order by 1") == [
        ("a1",),
        ("b1",),
    ]


def test_a_truncated_gzip_keeps_the_lines_before_the_cut(tmp_path: Path, warehouse: Path):
    folder = tmp_path / "events"
    whole = write_events(folder / "a.jsonl.gz", [track(f"m{i:03d}") for i in range(300)])
    data = whole.read_bytes()
    whole.write_bytes(data[: len(data) // 2])
    segment.load(str(folder))
    count = row_count(warehouse, "raw_segment.events")
    [(location, reason)] = rejects(warehouse, "raw_segment")
    assert 0 < count < 300
    assert location.endswith(f"a.jsonl.gz:{count + 1}")
    assert reason.startswith(f"file cannot be read past line {count}: EOFError")
