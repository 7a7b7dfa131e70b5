"""`raw_segment.events` is an append-only log of loads; staging counts each message once.

A copy re-delivered in a later load (another file, the same file again, a later run) is stored
again in raw and must still count once in `stg_segment__events`, which keeps the first copy
(earliest completed load, then arrival) across loads and lets an earlier copy replace a kept
copy of a later load. Rows of a load that never completed count nowhere. A warehouse whose
events table was made by the old insert-only merge takes appends as it is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion import segment
from tests.toolkit.dbt import L1, L2, L_CRASHED, create_raw_warehouse, raw_event, run_dbt
from tests.toolkit.files import track, write_events
from tests.toolkit.warehouse import completed_loads, query

STAGING = "staging.stg_segment__events"


def _disposition(info: Any) -> Any:
    schema = info.pipeline.default_schema
    return schema.get_table("events").get("write_disposition")


def _touch(path: Path) -> None:
    """A new modification time: the loader reads the file again (a re-sent file)."""
    stat = path.stat()
    os.utime(path, (stat.st_atime + 60, stat.st_mtime + 60))


def _raw(warehouse: Path) -> list[tuple[Any, ...]]:
    sql = (
        "select message_id, user_id, dense_rank() over (order by _dlt_load_id) as load "
        "from raw_segment.events order by load, message_id, user_id"
    )
    return query(warehouse, sql)


def _staged(warehouse: Path) -> list[tuple[Any, ...]]:
    return query(warehouse, f"select message_id, user_id, source_file from {STAGING} order by 1")


def test_a_later_load_appends_re_delivered_copies(tmp_path: Path, warehouse: Path) -> None:
    folder = tmp_path / "events"
    first = write_events(folder / "a.jsonl", [track("m1"), track("m2"), track("m1")], gz=False)
    info = segment.load(str(folder))
    assert _disposition(info) == "append"
    # Inserted by the warehouse itself (DuckDB): every copy stays, inside a load too.
    assert _raw(warehouse) == [("m1", "u1", 1), ("m1", "u1", 1), ("m2", "u1", 1)]

    # A later file re-delivers m2 (other content) and brings m3; the first file is re-sent.
    write_events(folder / "b.jsonl", [track("m2", user="later"), track("m3")], gz=False)
    _touch(first)
    segment.load(str(folder))
    assert _raw(warehouse) == [
        ("m1", "u1", 1),
        ("m1", "u1", 1),
        ("m2", "u1", 1),
        ("m1", "u1", 2),
        ("m1", "u1", 2),
        ("m2", "later", 2),
        ("m2", "u1", 2),
        ("m3", "u1", 2),
    ]
    segment.load(str(folder))  # nothing new: no load, no row
    assert completed_loads(warehouse, "raw_segment") == 2
    assert len(_raw(warehouse)) == 8


def test_two_copies_that_differ_inside_one_file_keep_the_first_line(
    tmp_path: Path, warehouse: Path
) -> None:
    """Staging cannot tell such copies apart (same load, arrival and file): the loader reads
    that file the usual way, which keeps the first line; the other files stay inserted."""
    folder = tmp_path / "events"
    write_events(folder / "a.jsonl", [track("m1"), track("m1", user="later")], gz=False)
    write_events(folder / "b.jsonl", [track("m2"), track("m3")], gz=False)
    counts: dict[str, int] = {}
    segment.load(str(folder), row_counts=counts)
    assert _raw(warehouse) == [("m1", "u1", 1), ("m2", "u1", 1), ("m3", "u1", 1)]
    assert counts["events"] == 3


def test_through_dlt_a_load_keeps_the_first_copy_in_file_order(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the files sent through dlt's extract (PostgreSQL, Spark, or stream_inserts off)."""
    monkeypatch.setenv("SOURCES__SEGMENT__STREAM_INSERTS", "false")
    folder = tmp_path / "events"
    first = write_events(folder / "a.jsonl", [track("m1"), track("m2"), track("m1")], gz=False)
    segment.load(str(folder))
    assert _raw(warehouse) == [("m1", "u1", 1), ("m2", "u1", 1)]  # inside a load: once

    write_events(folder / "b.jsonl", [track("m2", user="later"), track("m3")], gz=False)
    _touch(first)
    segment.load(str(folder))
    assert _raw(warehouse) == [
        ("m1", "u1", 1),
        ("m2", "u1", 1),
        ("m1", "u1", 2),
        ("m2", "u1", 2),  # a.jsonl is read first (by path): b.jsonl's m2 is skipped
        ("m3", "u1", 2),
    ]


@pytest.mark.slow
def test_staging_counts_every_re_delivered_message_once(tmp_path: Path, warehouse: Path) -> None:
    folder = tmp_path / "events"
    work = tmp_path / "dbt"
    first = write_events(folder / "1" / "a.jsonl", [track("m1"), track("m2")], gz=False)
    segment.load(str(folder))
    write_events(folder / "2" / "b.jsonl", [track("m2", user="later"), track("m3")], gz=False)
    _touch(first)  # m1 and m2 again, in the same later load
    segment.load(str(folder))

    built = run_dbt(["run", "-s", "stg_segment__events"], warehouse, work)
    assert built.returncode == 0, built.stdout[-3000:]
    a, b = first.resolve().as_uri(), (folder / "2" / "b.jsonl").resolve().as_uri()
    assert _staged(warehouse) == [("m1", "u1", a), ("m2", "u1", a), ("m3", "u1", b)]

    # A later run re-delivers m3 and m2 once more and brings m4: incremental, first copies stay.
    write_events(
        folder / "3" / "c.jsonl",
        [track("m3", user="again"), track("m4"), track("m2", user="again")],
        gz=False,
    )
    segment.load(str(folder))
    assert len(_raw(warehouse)) == 9  # 2, then 4 (a.jsonl again, b.jsonl), then 3
    built = run_dbt(["run", "-s", "stg_segment__events"], warehouse, work)
    assert built.returncode == 0, built.stdout[-3000:]
    c = (folder / "3" / "c.jsonl").resolve().as_uri()
    incremental = _staged(warehouse)
    assert incremental == [("m1", "u1", a), ("m2", "u1", a), ("m3", "u1", b), ("m4", "u1", c)]

    refreshed = run_dbt(["run", "-s", "stg_segment__events", "--full-refresh"], warehouse, work)
    assert refreshed.returncode == 0, refreshed.stdout[-3000:]
    assert _staged(warehouse) == incremental


@pytest.mark.slow
def test_an_earlier_load_completing_late_replaces_the_kept_copy(tmp_path: Path) -> None:
    """Loads completing out of order; a crashed load's rows (no `_dlt_loads` row) never count."""
    warehouse = tmp_path / "warehouse.duckdb"
    work = tmp_path / "dbt"
    ts = "2024-01-02T10:00:00Z"
    rows = {
        "raw_segment.events": [
            raw_event("m1", "track", ts, load=L1, user_id="first", _source_file="one"),
            raw_event("m1", "track", ts, load=L2, user_id="second", _source_file="two"),
            raw_event("m2", "track", ts, load=L2, user_id="second", _source_file="two"),
            raw_event("m2", "track", ts, load=L_CRASHED, user_id="crashed", _source_file="x"),
            raw_event("m9", "track", ts, load=L_CRASHED, user_id="crashed", _source_file="x"),
        ]
    }
    create_raw_warehouse(warehouse, rows, completed_loads=[L2])  # L1 still in flight
    built = run_dbt(["run", "-s", "stg_segment__events"], warehouse, work)
    assert built.returncode == 0, built.stdout[-3000:]
    assert _staged(warehouse) == [("m1", "second", "two"), ("m2", "second", "two")]

    with duckdb.connect(str(warehouse)) as con:  # L1 completes after L2
        con.execute(
            "insert into raw_segment._dlt_loads values (?, 'raw_segment', 0, now(), 'hash')", [L1]
        )
    built = run_dbt(["run", "-s", "stg_segment__events"], warehouse, work)
    assert built.returncode == 0, built.stdout[-3000:]
    assert _staged(warehouse) == [("m1", "first", "one"), ("m2", "second", "two")]
    assert query(warehouse, f"select dlt_load_id from {STAGING} order by message_id") == [
        (L1,),
        (L2,),
    ]


def test_a_warehouse_loaded_with_the_old_merge_takes_appends(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before issue #16 the table was an insert-only merge on message_id; no migration needed."""
    folder = tmp_path / "events"
    write_events(folder / "a.jsonl", [track("m1"), track("m2")], gz=False)
    make_source = segment.segment_events

    def merged(*args: Any, **kwargs: Any) -> Any:
        source = make_source(*args, **kwargs)
        source.resources["events"].apply_hints(
            write_disposition={"disposition": "merge", "strategy": "insert-only"},
            primary_key="message_id",
        )
        return source

    monkeypatch.setattr(segment, "segment_events", merged)
    old = segment.load(str(folder))
    assert _disposition(old) == "merge"
    monkeypatch.undo()  # undoes WAREHOUSE_PATH too: set it again
    monkeypatch.setenv("WAREHOUSE_PATH", str(warehouse))
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "ERROR")

    write_events(folder / "b.jsonl", [track("m2", user="later"), track("m3")], gz=False)
    new = segment.load(str(folder))
    assert _disposition(new) == "append"
    assert _raw(warehouse) == [
        ("m1", "u1", 1),
        ("m2", "u1", 1),
        ("m2", "later", 2),
        ("m3", "u1", 2),
    ]
    assert completed_loads(warehouse, "raw_segment") == 2
