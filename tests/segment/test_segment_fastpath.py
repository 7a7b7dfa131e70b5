"""The one-pass columnar parse and the columnar dedup against the per-line path (issue #16).

The parse reads raw lines once and checks them on the text yyjson re-writes; these lines are
the ones that re-writing could hide (nested trailing commas, NaN spellings, exponents, ids
that are no strings), so each must still send its file line by line. The dedup keeps a
columnar file's ids as Arrow arrays (`SeenIds`); a load mixing both paths must keep the same
first copies as the per-line path alone.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pytest

from ingestion.plausibility import timestamp_bounds
from ingestion.segment.columnar import ColumnarParser, Prefetcher
from ingestion.segment.helpers import SeenIds, read_lines, read_parsed
from tests.toolkit.files import track, write_events

_PLAIN = '{"type":"track","messageId":"x","timestamp":"2026-01-05T10:00:00Z","userId":"u"'


@pytest.mark.parametrize(
    "unusual",
    [
        _PLAIN + ',"properties":{"a":[1,2,]}}',  # nested trailing comma: yyjson drops it
        _PLAIN + ',"properties":{"a":1 ,  }}',
        _PLAIN + ',"properties":{"a":nan}}',  # NaN spellings yyjson accepts, orjson rejects
        _PLAIN + ',"context":{"b":[-Infinity]}}',
        _PLAIN + ',"traits":{"c":INF}}',
        _PLAIN + ',"seats":NaN}',
        _PLAIN + ',"properties":{"p":1.5e3}}',  # an exponent, written back as 1500.0
        _PLAIN + ',"properties":{"p":1E400}}',
        _PLAIN + ',"properties":{"p":12345678901234567890}}',  # 20 digits
        _PLAIN + ',"properties":{"p":0.0001}}',
        _PLAIN + ',"properties":5e2}',
        _PLAIN.replace('"userId":"u"', '"userId":12.0'),  # ids that are no strings
        _PLAIN.replace('"userId":"u"', '"userId":{"id":"u"}'),
        _PLAIN.replace('"userId":"u"', '"userId":false'),
        _PLAIN.replace('"messageId":"x"', '"messageId":["x"]'),
        _PLAIN.replace('"2026-01-05T10:00:00Z"', "1767607200"),
        _PLAIN + ',"sentAt":{"t":1}}',
        _PLAIN + ',"x":1,"x":2}',  # a repeated key: orjson keeps the last, json_extract the first
        _PLAIN + ',"p":"\u007f"}',
        # Numbers as sent with spaces (as json.dumps writes), in arrays and nested arrays,
        # and as a bare top-level field: each found on the raw line.
        _PLAIN + ', "properties": {"p": 1e5}}',
        _PLAIN + ', "properties": {"p": [1, 1E-7]}}',
        _PLAIN + ', "properties": {"p": [ [ 2.5e+3 ] ]}}',
        _PLAIN + ', "properties": {"p": [[1], [-3e2]]}}',
        _PLAIN + ', "seats": 1e5}',
        _PLAIN + ', "seats":\t-2E+1}',
        _PLAIN + ', "properties": {"p": 1234567890123456}}',  # 16 digits
        _PLAIN + ', "properties": {"p": [0.00001]}}',
        _PLAIN + ', "properties": {"p": -0.0009}}',
        _PLAIN + ', "traits": {"p": [1, NaN]}}',
        _PLAIN + ', "traits": {"p": -nan}}',
        _PLAIN + ', "traits": {"p": [ Infinity ]}}',
        _PLAIN + ', "x": -inf}',
        _PLAIN + ', "properties": {"a": [1, 2 , ] }}',  # trailing commas with spaces
        _PLAIN + ', "properties": {"a": 1 ,\t}}',
        _PLAIN + ', "context": {"groupId": 1e3}}',
    ],
)
def test_a_line_the_rewrite_could_hide_sends_its_file_line_by_line(tmp_path: Path, unusual: str):
    path = write_events(tmp_path / "a.jsonl", [track("m1"), unusual, track("m2")], gz=False)
    assert ColumnarParser().parse(str(path)) is None


def _batches(path: Path, parser: ColumnarParser) -> tuple[list[pa.Table], list[pa.Table]]:
    parsed = parser.parse(str(path))
    assert parsed is not None, f"{path.name} should be parsed whole"
    fast = list(read_parsed(parsed, str(path), 2, set(), {}))
    with path.open("rb") as handle:
        lines = list(read_lines(iter(handle), str(path), 2, set(), {}))
    return fast, lines  # type: ignore[return-value]


def test_one_parser_over_files_with_other_fields_equals_the_per_line_path(tmp_path: Path):
    """The fields guessed from the previous file are wrong here: the parse must notice."""
    parser = ColumnarParser(threads=1)
    files = [
        write_events(tmp_path / "1.jsonl", [track("a1", channel="web")], gz=False),
        write_events(tmp_path / "2.jsonl", [track("b1"), track("b2", planTier="gold")], gz=False),
        write_events(tmp_path / "3.jsonl", [track("c1", channel="x", seats=3)], gz=False),
        write_events(tmp_path / "4.jsonl", [track("d1")], gz=False),
        write_events(tmp_path / "5.jsonl", [track("e1", planTier="p", rudderId="r")], gz=False),
    ]
    columns = []
    for path in files:
        fast, lines = _batches(path, parser)
        assert [t.to_pylist() for t in fast] == [t.to_pylist() for t in lines]
        assert [t.schema for t in fast] == [t.schema for t in lines]
        columns.append(fast[0].column_names)
    assert "channel" in columns[0] and "plan_tier" in columns[1] and "seats" in columns[2]
    assert "rudder_id" in columns[4] and "channel" not in columns[3]


def test_blank_lines_and_a_compact_file_are_parsed_whole(tmp_path: Path):
    compact = [
        json.dumps(track(f"m{i}", properties={"n": i}), separators=(",", ":")) for i in (1, 2)
    ]
    path = write_events(tmp_path / "a.jsonl.gz", [compact[0], "", "   ", compact[1], ""])
    parsed = ColumnarParser().parse(str(path))
    assert parsed is not None
    assert parsed.table.column("message_id").to_pylist() == ["m1", "m2"]
    assert parsed.table.column("properties").to_pylist() == ['{"n":1}', '{"n":2}']


def test_seen_ids_keep_the_same_first_copies_as_a_set_across_both_paths(tmp_path: Path):
    """Columnar files and line-by-line files in one load, copies within and across files."""
    parser = ColumnarParser(threads=1)
    bounds = timestamp_bounds()
    fast_a = write_events(
        tmp_path / "a.jsonl.gz", [track("m1"), track("m2"), track("m1", user="x")]
    )
    by_line = write_events(tmp_path / "b.jsonl.gz", [track("m2", user="y"), "{bad", track("m3")])
    fast_c = write_events(tmp_path / "c.jsonl.gz", [track("m3", user="z"), track("m4")])
    fast_d = write_events(
        tmp_path / "d.jsonl.gz", [track("m4", user="w"), track("m1"), track("m5")]
    )

    def load(seen: SeenIds | set[str]) -> list[tuple[str, str]]:
        rows = []
        for path in (fast_a, by_line, fast_c, fast_d):
            parsed = parser.parse(str(path), None, bounds)
            if parsed is not None:
                tables = list(read_parsed(parsed, str(path), 50, seen, {}))
            else:
                with gzip.open(path, "rb") as handle:
                    items = read_lines(iter(handle), str(path), 50, seen, {}, bounds)
                    tables = [t for t in items if isinstance(t, pa.Table)]
            rows += [(r["message_id"], r["user_id"]) for t in tables for r in t.to_pylist()]
        return rows

    expected = [("m1", "u1"), ("m2", "u1"), ("m3", "u1"), ("m4", "u1"), ("m5", "u1")]
    assert parser.parse(str(by_line)) is None  # the bad line sends it line by line
    assert load(set()) == expected
    assert load(SeenIds()) == expected


def test_a_file_read_line_by_line_leaves_the_next_files_compared_by_hash():
    """Its ids are compared as text; the columnar files' ids stay on the hash path.

    Before, one file with a bad line sent every later file of the load to a text comparison
    with all the load's ids: a load of many small files slowed down with each file.
    """
    seen = SeenIds()
    first = seen.take_new(pa.array(["a", "b"]), pa.array([1, 2], pa.uint64()))
    assert first.to_pylist() == [True, True]
    assert "a" in seen and "c" not in seen  # a file read line by line asks, then adds
    seen.add("c")
    # c was taken line by line (its hash is b's), b is a copy, d shares a's hash, e twice
    second = seen.take_new(
        pa.array(["c", "b", "d", "e", "e"]), pa.array([2, 2, 1, 5, 5], pa.uint64())
    )
    assert second.to_pylist() == [False, False, True, True, False]
    assert "d" in seen and "e" in seen and "g" not in seen
    seen.add("f")
    third = seen.take_new(pa.array(["f", "a", "e", "g"]), pa.array([6, 1, 5, 7], pa.uint64()))
    assert third.to_pylist() == [False, False, False, True]
    assert "g" in seen
    assert seen._hashed  # every columnar file compared by hash
    assert sum(len(hashes) for hashes, _, _ in seen._runs) == 5  # a, b, d, e, g


def test_seen_ids_over_many_files_with_colliding_hashes_keep_the_first_copies():
    """Many files (their hash runs merge), ids sharing hashes, files read line by line between."""
    rng = random.Random(5)
    seen, reference = SeenIds(), set()
    for number in range(60):
        ids = [f"id{rng.randrange(400)}" for _ in range(rng.randrange(1, 40))]
        if number % 7 == 3:  # a file read line by line
            for key in ids:
                if key not in seen:
                    seen.add(key)
            reference.update(ids)
            continue
        hashes = pa.array([int(key[2:]) % 13 for key in ids], type=pa.uint64())
        want = []
        for key in ids:
            want.append(key not in reference)
            reference.add(key)
        assert seen.take_new(pa.array(ids), hashes).to_pylist() == want, number
    assert seen._hashed and len(seen._runs) <= 6


def test_files_past_the_loads_row_budget_are_not_parsed_ahead(tmp_path: Path):
    """The next load would parse them again: parsing them here only costs time and memory."""
    paths = [
        write_events(tmp_path / f"{n}.jsonl.gz", [track(f"m{n}-{i}") for i in range(10)])
        for n in range(6)
    ]
    files = [(str(path), None) for path in paths]
    prefetcher = Prefetcher(files, timestamp_bounds(), workers=2, group_bytes=1)  # one a group
    started = []
    try:
        for index, remaining in enumerate([25, 15, 5]):  # a load of 25 rows: three files
            prefetcher.remaining = remaining
            result = prefetcher.get(index)
            assert result is not None and result.table.num_rows == 10
            started.append(sorted(prefetcher._futures))  # the files being parsed ahead
    finally:
        prefetcher.close()
    # The first file tells nothing yet (two ahead); then the budget stops at file 2.
    assert started == [[1, 2], [2], []]


def _loaded(parsed: object, path: Path) -> list[dict] | None:
    """The rows `read_parsed` takes from a parse (None: the file goes line by line)."""
    if parsed is None:
        return None
    tables = read_parsed(parsed, str(path), 50, set(), {})  # type: ignore[arg-type]
    return [row for table in tables for row in table.to_pylist()]


def test_small_files_parsed_together_load_as_each_parsed_alone(tmp_path: Path):
    """One query for a group of files, split by file: the same rows, and the same files sent
    line by line (a bad line, a repeated key), as one query per file."""
    repeated = '{"type":"track","messageId":"m6","timestamp":"2026-01-05T10:00:00Z","userId":"u",'
    paths = [
        write_events(tmp_path / "a.jsonl.gz", [track("m1"), track("m2", properties={"n": 1})]),
        write_events(tmp_path / "b.jsonl.gz", [track("m3"), "{bad", track("m4")]),
        write_events(tmp_path / "c.jsonl", [track("m5", seats=3), track("m1")], gz=False),
        write_events(tmp_path / "d.jsonl.gz", [repeated + '"userId":"v"}']),
        write_events(tmp_path / "e.jsonl.gz", [track("m7", plan="pro", seats="4")]),
        write_events(tmp_path / "f.jsonl.gz", []),
    ]
    bounds = timestamp_bounds()
    parser = ColumnarParser(threads=1)
    together = parser.parse_files([(str(path), None) for path in paths], bounds)
    alone = [ColumnarParser(threads=1).parse(str(path), None, bounds) for path in paths]
    got = [_loaded(parsed, path) for parsed, path in zip(together, paths, strict=True)]
    want = [_loaded(parsed, path) for parsed, path in zip(alone, paths, strict=True)]
    assert [rows is None for rows in got[:5]] == [False, True, False, True, False]
    assert got[:5] == want[:5]
    assert got[4] is not None and got[4][0]["plan"] == "pro" and "seats" in got[4][0]
    assert got[2] is not None and "plan" not in got[2][0]  # a field of another file: no column
    assert not got[5] and not want[5]  # an empty file: nothing either way


def test_a_file_the_group_query_cannot_read_leaves_the_others_parsed(tmp_path: Path):
    good = write_events(tmp_path / "a.jsonl.gz", [track("m1")])
    broken = tmp_path / "b.jsonl.gz"
    broken.write_bytes(gzip.compress(json.dumps(track("m2")).encode() * 50)[:40])
    later = write_events(tmp_path / "c.jsonl.gz", [track("m3")])
    paths = (good, broken, later)
    parsed = ColumnarParser(threads=1).parse_files(
        [(str(path), None) for path in paths], timestamp_bounds()
    )
    loaded = [_loaded(item, path) for item, path in zip(parsed, paths, strict=True)]
    assert [rows is None for rows in loaded] == [False, True, False]


def test_the_prefetcher_parses_small_files_a_group_at_a_time(tmp_path: Path, monkeypatch):
    paths = [
        write_events(tmp_path / f"{n}.jsonl.gz", [track(f"m{n}-{i}") for i in range(5)])
        for n in range(12)
    ]
    queries = []
    query = ColumnarParser._query
    monkeypatch.setattr(
        ColumnarParser, "_query", lambda self, *args: queries.append(1) or query(self, *args)
    )
    prefetcher = Prefetcher([(str(path), None) for path in paths], timestamp_bounds(), workers=2)
    try:
        got = [_loaded(prefetcher.get(index), path) for index, path in enumerate(paths)]
    finally:
        prefetcher.close()
    assert [[row["message_id"] for row in rows or []] for rows in got] == [
        [f"m{n}-{i}" for i in range(5)] for n in range(12)
    ]
    assert len(queries) == 1  # twelve files of about 200 bytes: one group


def test_plain_numbers_ids_and_group_ids_parse_whole_as_the_per_line_path(tmp_path: Path):
    """Shapes the checks let through: each must come out as the per-line path loads it."""
    plain = _PLAIN[: -len(',"userId":"u"')]
    lines = [
        # numbers orjson writes as yyjson does (a carry to 16 digits included)
        plain + ',"userId":"u","properties":{"a":-0.0,"b":-0,"c":0.001,"d":[1.5,[2,-3]]}}',
        plain + ',"userId":"u","properties":{"e":123456789012345,"f":999999999999999.99}}',
        plain + ', "userId": "u", "properties": {"g": [ 0.25 , 7 ], "h": 100.0}, "seats": -12}',
        plain + ',"userId":"u","seats":2.5,"traits":{"i":0.5,"j":0.1234567890123456}}',
        # ids with spaces: only a text of spaces is no id
        plain + ',"userId":" u ","anonymousId":"   ","event":" "}',
        # context.groupId absent, deeper, null, spaces, a number, and a context that is no
        # object
        plain + ',"userId":"u","context":{"page":{"groupId":"deep"}}}',
        plain + ',"userId":"u","context":{"groupId":null}}',
        plain + ',"userId":"u","context":{"groupId":"  "}}',
        plain + ',"userId":"u","context":{"groupId":-42}}',
        plain + ',"userId":"u","context":[{"groupId":"in an array"}]}',
        plain + ',"userId":"u","context":{"groupId":" acc_1"}}',
        # top-level keys a JSON path would need quoting for
        plain + ',"userId":"u","a/b":1,"x~y":"z","c.d":true,"":[],"0":null}',
        # only ASCII spaces make an id empty (DuckDB's one-argument trim also takes U+00A0)
        plain + ',"userId":"u","anonymousId":" \u00a0","event":"\u3000"}',
    ]
    lines = [line.replace('"x"', f'"m{index}"', 1) for index, line in enumerate(lines)]
    path = write_events(tmp_path / "a.jsonl", lines, gz=False)
    fast, reference = _batches(path, ColumnarParser(threads=1))
    assert [t.to_pylist() for t in fast] == [t.to_pylist() for t in reference]
    assert [t.schema for t in fast] == [t.schema for t in reference]
    rows = [row for table in reference for row in table.to_pylist()]
    assert [row["context_group_id"] for row in rows[5:11]] == [
        None,
        None,
        None,
        "-42",
        None,
        " acc_1",
    ]
    assert rows[0]["properties"] == '{"a":-0.0,"b":0,"c":0.001,"d":[1.5,[2,-3]]}'
    assert rows[1]["properties"] == '{"e":123456789012345,"f":1000000000000000.0}'
    assert (rows[4]["user_id"], rows[4]["anonymous_id"], rows[4]["event"]) == (" u ", None, None)
    assert (rows[-1]["anonymous_id"], rows[-1]["event"]) == (" \u00a0", "\u3000")


@pytest.mark.parametrize(
    "text",
    ["a:1e5", "x,NaN", "[Infinity]", "1234567890123456", "r:0.0001", "a, }", "t: -inf"],
)
def test_a_string_that_looks_unusual_loads_as_the_per_line_path(tmp_path: Path, text: str):
    """A false alarm only sends the file line by line; the rows are the same either way."""
    line = _PLAIN + f',"properties":{{"note":"{text}"}},"label":"{text}"}}'
    path = write_events(tmp_path / "a.jsonl", [track("m1"), line], gz=False)
    parsed = ColumnarParser().parse(str(path))
    with path.open("rb") as handle:
        reference = list(read_lines(iter(handle), str(path), 2, set(), {}))
    assert [row["label"] for t in reference for row in t.to_pylist()] == [None, text]
    if parsed is not None:
        fast = list(read_parsed(parsed, str(path), 2, set(), {}))
        assert [t.to_pylist() for t in fast] == [t.to_pylist() for t in reference]


def test_seen_ids_by_hash_keep_the_first_copies_even_when_hashes_collide():
    """Equal hashes only send ids to the text comparison: distinct ids sharing one all stay."""
    files = [
        (["a", "b", "c"], [7, 7, 7]),  # three ids, one hash
        (["b", "d", "e", "a"], [7, 7, 1, 7]),  # b and a seen; d shares their hash, is new
        (["f", "f", "g", "e"], [3, 3, 3, 1]),  # f twice here; g shares f's hash; e seen
        (["h", "i"], [5, 6]),
    ]
    expected = [
        [True, True, True],
        [False, True, True, False],
        [True, False, True, False],
        [True, True],
    ]

    def masks(seen: SeenIds, with_hashes: list[bool]) -> list[list[bool]]:
        result = []
        for (ids, hashes), hashed in zip(files, with_hashes, strict=True):
            values = pa.array(hashes, type=pa.uint64()) if hashed else None
            result.append(seen.take_new(pa.array(ids), values).to_pylist())
        return result

    assert masks(SeenIds(), [True] * 4) == expected
    assert masks(SeenIds(), [False] * 4) == expected
    assert masks(SeenIds(), [True, False, True, True]) == expected  # by text after a file without
    seen = SeenIds()
    assert masks(seen, [True] * 4) == expected
    assert "d" in seen and "x" not in seen  # a file read line by line asks
    seen.add("x")
    assert seen.take_new(
        pa.array(["x", "d", "j"]), pa.array([9, 7, 8], pa.uint64())
    ).to_pylist() == [
        False,
        False,
        True,
    ]
