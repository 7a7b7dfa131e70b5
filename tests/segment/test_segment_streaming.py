"""Files the DuckDB warehouse inserts itself (`ingestion/segment/streaming.py`, issue #16).

On DuckDB a group of whole local files is one `INSERT ... SELECT` of the columnar parse: the
rows must be the rows the per-line path loads (every copy kept, staging drops the later ones),
the columns those dlt makes, a file the statement cannot take must go the usual way without
losing the rest, and the rows of a load that never completes must count nowhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ingestion import segment
from ingestion.segment import columnar, streaming
from tests.toolkit.files import track, write_events
from tests.toolkit.warehouse import completed_loads, query, row_count

COLUMNS = (
    "select column_name, data_type, is_nullable from information_schema.columns "
    "where table_schema = 'raw_segment' and table_name = 'events' order by 1"
)
REJECTS = "select location, reason from raw_segment.rejected_records order by 1"


def first_copies(warehouse: Path) -> list[tuple[Any, ...]]:
    """Each message's first copy (by file, as staging), its columns by name (the order in
    which the table gained its unknown fields' columns may differ between the paths)."""
    names = [name for name, _, _ in query(warehouse, COLUMNS) if not name.startswith("_dlt")]
    columns = ", ".join(f'"{name}"' for name in names)
    return query(
        warehouse,
        f"select {columns} from raw_segment.events qualify row_number() over "
        "(partition by message_id order by _source_file) = 1 order by message_id",
    )


def page(message_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "page",
        "messageId": message_id,
        "anonymousId": f"anon-{message_id}",
        "name": "Pricing",
        "timestamp": "2026-01-06T23:30:00.123456-02:00",
        **extra,
    }


def _varied(folder: Path) -> None:
    """Shapes the contracts allow, over several files (the first ones share a statement)."""
    first = [
        track(
            f"a{i}",
            receivedAt="2026-01-05T10:00:01.5+01:00",
            sentAt="",
            context={"groupId": i, "library": {"name": "analytics.js"}},
            properties={"n": i, "x": [1.25, None, True], "s": "é ✓"},
            score=1.5,
            beta=i % 2 == 0,
            integrations={"All": True},
            note=None,
        )
        for i in range(30)
    ]
    # UTF-8 as sent (an escaped character sends its file the usual way: columnar.py).
    write_events(folder / "a" / "1.jsonl.gz", [json.dumps(m, ensure_ascii=False) for m in first])
    second = [page(f"p{i}", score=i, context={"groupId": f"acc_{i}"}) for i in range(10)]
    write_events(folder / "a" / "2.jsonl.gz", ["", *second, "   ", track("a3")])
    write_events(folder / "b" / "3.jsonl", [track("c1", traits={"plan": "pro"})], gz=False)
    # Read the usual way: a bad line, then a value of another type than its column's.
    write_events(folder / "c" / "4.jsonl.gz", [track("d1"), "{broken", track("d2", user=None)])
    write_events(folder / "c" / "5.jsonl.gz", [track("e1", beta="yes"), track("e2")])
    # An unknown field the earlier files did not have.
    write_events(folder / "d" / "6.jsonl.gz", [track("f1", planTier="gold"), track("a1")])


def _per_line(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Load the next run into `path` line by line, through dlt's extract."""
    monkeypatch.setenv("WAREHOUSE_PATH", str(path))
    monkeypatch.setenv("SOURCES__SEGMENT__STREAM_INSERTS", "false")
    monkeypatch.setattr(columnar.Prefetcher, "get", lambda self, index: None)


def test_inserted_files_land_as_the_per_line_path_lands_them(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    folder = tmp_path / "events"
    _varied(folder)
    statements: list[int] = []
    insert = streaming.WarehouseInserter.insert

    def counted(self: Any, files: Any, column_types: Any) -> Any:
        outcome = insert(self, files, column_types)
        if isinstance(outcome, streaming.Inserted):
            statements.append(len(files) - len(outcome.left))
        return outcome

    monkeypatch.setattr(streaming.WarehouseInserter, "insert", counted)
    counts: dict[str, int] = {}
    segment.load(str(folder), row_counts=counts)
    streamed = (
        first_copies(warehouse),
        query(warehouse, COLUMNS),
        query(warehouse, REJECTS),
    )
    assert max(statements) >= 2  # files inserted together
    # every copy stays in raw (a3 and a1 twice), each counted as loaded
    assert counts["events"] == row_count(warehouse, "raw_segment.events") == 47
    assert len(streamed[0]) == 45 and len(streamed[2]) == 2

    reference = tmp_path / "lines" / "warehouse.duckdb"
    _per_line(monkeypatch, reference)
    segment.load(str(folder))
    assert streamed == (
        first_copies(reference),
        query(reference, COLUMNS),
        query(reference, REJECTS),
    )
    assert row_count(reference, "raw_segment.events") == 45  # the per-line path drops copies


def test_a_backlog_inserted_in_several_loads_lands_as_one_load(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    folder = tmp_path / "events"
    for number in range(8):
        lines = [track(f"m{number}-{i}", seats=i) for i in range(50)]
        write_events(folder / f"{number}.jsonl.gz", lines)
    counts: dict[str, int] = {}
    segment.load(str(folder), max_rows_per_load=120, row_counts=counts)
    assert completed_loads(warehouse, "raw_segment") in (3, 4)  # whole files, about 120 rows
    assert counts["events"] == 400
    several = first_copies(warehouse)

    _per_line(monkeypatch, tmp_path / "one" / "warehouse.duckdb")
    segment.load(str(folder), max_rows_per_load=None)
    assert first_copies(tmp_path / "one" / "warehouse.duckdb") == several


def test_rows_of_a_load_that_fails_midway_count_nowhere(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    """A group inserted, then the extract fails: those rows have no `_dlt_loads` record, and
    the next run reads their files again under a load that completes."""
    folder = tmp_path / "events"
    for number in range(4):
        write_events(folder / f"{number}.jsonl.gz", [track(f"m{number}-{i}") for i in range(30)])
    insert = streaming.WarehouseInserter.insert

    def failing(self: Any, files: Any, column_types: Any) -> Any:
        insert(self, files, column_types)  # the rows are in, then the run dies
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(streaming.WarehouseInserter, "insert", failing)
    with pytest.raises(Exception, match="the disk is full"):
        segment.load(str(folder), max_rows_per_load=None)
    assert row_count(warehouse, "raw_segment.events") > 0  # rows of the failed load stay
    completed = (
        "select count(*), count(distinct message_id) from raw_segment.events where _dlt_load_id "
        "in (select load_id from raw_segment._dlt_loads where status = 0)"
    )
    monkeypatch.undo()
    monkeypatch.setenv("WAREHOUSE_PATH", str(warehouse))
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "ERROR")
    segment.load(str(folder), max_rows_per_load=None)
    assert query(warehouse, completed) == [(120, 120)]


def test_a_load_with_nothing_new_inserts_nothing(tmp_path: Path, warehouse: Path):
    folder = tmp_path / "events"
    write_events(folder / "1.jsonl", [json.dumps(track("m1"))], gz=False)
    segment.load(str(folder))
    segment.load(str(folder))
    assert row_count(warehouse, "raw_segment.events") == 1
    assert completed_loads(warehouse, "raw_segment") == 1
