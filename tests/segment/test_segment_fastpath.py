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
        _PLAIN + ',"x":1,"x":2}',  # a repeated key: orjson keeps the last, from_json the first
        _PLAIN + ',"p":"\u007f"}',
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


def test_files_past_the_loads_row_budget_are_not_parsed_ahead(tmp_path: Path):
    """The next load would parse them again: parsing them here only costs time and memory."""
    paths = [
        write_events(tmp_path / f"{n}.jsonl.gz", [track(f"m{n}-{i}") for i in range(10)])
        for n in range(6)
    ]
    prefetcher = Prefetcher([(str(path), None) for path in paths], timestamp_bounds(), workers=2)
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
