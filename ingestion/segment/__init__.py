"""Segment Spec events from a folder or bucket of JSON Lines files (the Segment Spec)."""

from __future__ import annotations

import base64
import itertools
import os
from collections.abc import Iterator
from typing import Any

import dlt
import fsspec
import numpy as np
import pyarrow as pa
from dlt.common.pipeline import LoadInfo
from dlt.common.schema.typing import C_DLT_ID, C_DLT_LOAD_ID
from dlt.common.schema.utils import dlt_id_column

from ingestion.files import UNREADABLE_MTIME, list_new_files
from ingestion.pipeline import make_pipeline, run_counted
from ingestion.plausibility import timestamp_bounds
from ingestion.rejects import mark_reject
from ingestion.segment.columnar import ColumnarParser, Prefetcher
from ingestion.segment.helpers import (
    READ_ERRORS,
    EventBatch,
    SeenIds,
    file_reject,
    read_lines,
    read_parsed,
)
from ingestion.segment.settings import (
    BATCH_ROWS,
    DATASET_NAME,
    DUCKDB_CONFIG,
    EVENT_FILE_SUFFIXES,
    MAX_ROWS_PER_LOAD,
    PARQUET_COMPRESSION,
    PENDING_FILES_KEY,
    PIPELINE_NAME,
    SAMPLE_LINES,
    SOURCE_NAME,
    STREAM_GROUP_BYTES,
    TABLE_NAME,
)
from ingestion.segment.streaming import (
    Failed,
    Inserted,
    Refused,
    WarehouseInserter,
    local_path,
)
from ingestion.settings import require_setting, warehouse_engine, warehouse_path

__all__ = ["DATASET_NAME", "PIPELINE_NAME", "load", "segment_events"]


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME)
def segment_events(
    bucket_url: str | None = dlt.config.value,
    batch_rows: int = BATCH_ROWS,
    max_rows_per_load: int | None = None,
    enabled: bool = True,
    stream_inserts: bool = True,
) -> Any:
    """Every Segment message under `bucket_url`, each file read once.

    With `max_rows_per_load`, one run reads whole files until that many rows are taken and
    leaves the rest for the next run (see `load`), which bounds the memory of one load. With
    `enabled=False` (SOURCES__SEGMENT__ENABLED=false) only the empty table is created. On
    DuckDB the warehouse inserts the files itself (`streaming.py`);
    `stream_inserts=False` (SOURCES__SEGMENT__STREAM_INSERTS=false) sends every file through
    dlt's extract, as on PostgreSQL and Spark.
    """
    if not enabled:
        return events(None, batch_rows, max_rows_per_load)
    url: str = require_setting(
        SOURCE_NAME, bucket_url, "bucket_url", " (a folder path or fsspec URL)"
    )
    # Scoped by pipeline name: the other loaders' writers keep dlt's defaults.
    dlt.config[f"{PIPELINE_NAME}.data_writer.compression"] = PARQUET_COMPRESSION
    # The batches carry their `_dlt_id` already (`_with_row_ids`): dlt's normalize step then
    # takes the extracted parquet as it is instead of reading and rewriting every row.
    dlt.config[f"{PIPELINE_NAME}.normalize.parquet_normalizer.add_dlt_id"] = False
    return events(url, batch_rows, max_rows_per_load, stream_inserts)


@dlt.resource(
    name=TABLE_NAME,
    # An append-only log of loads, as Segment's own warehouses keep it: a message re-delivered
    # in a later load is stored again, and staging keeps its first copy (earliest load, then
    # arrival) across loads. A merge here cost more than reading the files (dlt copies each
    # load into a staging table and merges it on message_id).
    write_disposition="append",
    columns={"_dlt_id": dlt_id_column()},  # made by `_with_row_ids`, hinted as dlt hints it
)
def events(
    bucket_url: str | None,
    batch_rows: int = BATCH_ROWS,
    max_rows_per_load: int | None = None,
    stream_inserts: bool = True,
) -> Iterator[Any]:
    """Read new or replaced files only; the per-file cursor lives in the resource state.

    On DuckDB with a local folder (`stream_inserts`), the warehouse inserts groups of whole
    files itself under the load's id (`_streamed`, `streaming.py`), and a message delivered
    twice is stored twice: `stg_segment__events` counts it once (docs/metrics.md,
    "Re-delivered records"). Otherwise the files go through dlt's extract, and inside one
    load each messageId is taken once (its first copy in file order; a set bounded by
    `max_rows_per_load`); a copy that arrives in a later load is appended. The cursor for a
    file is recorded once its rows are taken: dlt commits state with the load, so a crash
    re-reads the file; the rows a crashed load left have no `_dlt_loads` record and staging
    never reads them. Small files' batches are yielded together (`_joined`).

    A file that cannot be opened (dangling symlink, symlink loop, no permission) is set aside
    whole with its path and reason, and recorded: it is read again once it changes. Event times
    are checked against one set of plausible bounds for the whole load.
    """
    state = dlt.current.resource_state()
    seen: dict[str, str] = state.setdefault("files", {})
    column_types = _column_types()
    pending = list_new_files(bucket_url, EVENT_FILE_SUFFIXES, seen) if bucket_url else []
    bounds = timestamp_bounds()
    if stream_inserts and pending and _streamable(pending[0][0]):
        yield from _streamed(
            pending, seen, state, column_types, bounds, batch_rows, max_rows_per_load
        )
        return
    if not column_types:  # no table yet (empty bucket, source not used): create it empty
        yield _with_row_ids(EventBatch().to_arrow())
    seen_ids = SeenIds()
    taken = 0
    parser = Prefetcher([(file_url, fs_client) for file_url, _, fs_client in pending], bounds)
    held: list[pa.Table] = []  # parsed files' batches, yielded together once they are large
    try:
        for index, (file_url, mtime, _) in enumerate(pending):
            if max_rows_per_load is not None and taken >= max_rows_per_load:
                yield from _joined(held)
                state[PENDING_FILES_KEY] = len(pending) - index
                return
            if max_rows_per_load is not None:
                parser.remaining = max_rows_per_load - taken
            parsed = parser.get(index)
            if parsed is not None:  # every line a good event: parsed whole in C
                for table in read_parsed(parsed, file_url, batch_rows, seen_ids, column_types):
                    taken += table.num_rows
                    held.append(table)
                    if sum(batch.num_rows for batch in held) >= batch_rows:
                        yield from _joined(held)
                seen[file_url] = mtime  # committed with the load, as the rows held
                continue
            yield from _joined(held)
            for item in _lines_of(file_url, batch_rows, seen_ids, column_types, bounds):
                taken += item.num_rows if isinstance(item, pa.Table) else 1
                yield item
            seen[file_url] = mtime
        yield from _joined(held)
        state[PENDING_FILES_KEY] = 0
    finally:
        parser.close()


def _streamed(
    pending: list[tuple[str, str, Any]],
    seen: dict[str, str],
    state: dict[str, Any],
    column_types: dict[str, str],
    bounds: tuple[Any, Any],
    batch_rows: int,
    max_rows_per_load: int | None,
) -> Iterator[Any]:
    """`events` on DuckDB: groups of whole files inserted by the warehouse (`streaming`).

    A file the warehouse's statement cannot take (a line the fast path cannot vouch for, a
    new unknown field, two different copies of a messageId) is read the usual way: parsed
    whole in C, else line by line; its batches go through dlt and make the columns the next
    statements need.
    """
    key_lists: dict[int, list[str]] = {}
    # Among the files read the usual way a copy is taken once (its first line in a file);
    # an inserted file's copies all stay, for staging's rule.
    seen_ids = SeenIds()
    load_id = dlt.current.load_package_state()["load_id"]
    inserter = WarehouseInserter(warehouse_path(), load_id, bounds, key_lists)
    parser = ColumnarParser(key_lists=key_lists)
    taken = 0
    position = 0
    sampled: set[tuple[int, str]] = set()  # (position, file) whose first lines gave columns
    learned = -1  # the position whose group's lists of keys were last read
    alone_until = 0  # files before this position are tried one statement each
    usual: set[str] = set()  # files to read the usual way, not in a statement
    line_by_line: set[str] = set()  # of those, the files with a line that is not plain
    try:
        # The table's columns (made here if there is no table yet, as dlt would make them);
        # through dlt, the resource's hints reach the table even when every file is inserted.
        empty = _with_row_ids(EventBatch().to_arrow())
        inserter.ensure_columns(empty.schema)
        yield empty
        while position < len(pending):
            if max_rows_per_load is not None and taken >= max_rows_per_load:
                state[PENDING_FILES_KEY] = len(pending) - position
                return
            remaining = None if max_rows_per_load is None else max_rows_per_load - taken
            first = local_path(pending[position][0])
            if remaining is not None and not inserter.rows_per_byte and first is not None:
                inserter.learn([first])  # how many of the next files the budget takes
            # The next files, in path order: those the statement takes, then the others the
            # usual way, all before any later file (loads keep the files' order).
            end = position + _stream_range(pending, position, remaining, inserter.rows_per_byte)
            if position < alone_until:
                end = position + 1
            group = [
                (file_url, path)
                for file_url, mtime, _ in pending[position:end]
                if file_url not in usual
                and (path := local_path(file_url)) is not None
                and not mtime.startswith(UNREADABLE_MTIME)
            ]
            outcome = inserter.insert(group, column_types) if group else None
            if isinstance(outcome, Refused):
                target = outcome.file_url or group[0][0]
                if (position, target) not in sampled:  # the columns its first lines need
                    sampled.add((position, target))
                    yield from _sample_columns(target, inserter, column_types, bounds)
                else:  # a field past its first lines: that file the usual way
                    usual.add(target)
                continue
            if isinstance(outcome, Failed):
                if outcome.keys and learned != position:
                    learned = position  # lists of keys not seen yet: read the group's, again
                    inserter.learn([path for _, path in group])
                elif outcome.files:  # those files the usual way, the others again
                    usual.update(outcome.files)
                    line_by_line.update(outcome.not_plain)
                elif len(group) > 1:
                    alone_until = end  # which file is unknown: each alone
                else:
                    usual.update(file_url for file_url, _ in group)
                continue
            if isinstance(outcome, Inserted):
                taken += outcome.rows
                _STREAMED_ROWS[load_id] = _STREAMED_ROWS.get(load_id, 0) + outcome.rows
                usual.update(outcome.left)
            inserted = {file_url for file_url, _ in group} - usual
            for file_url, mtime, fs_client in pending[position:end]:
                if file_url not in inserted:
                    for item in _usual_items(
                        file_url,
                        fs_client,
                        parser,
                        file_url in line_by_line,
                        seen_ids,
                        column_types,
                        bounds,
                        batch_rows,
                    ):
                        if isinstance(item, pa.Table):
                            inserter.ensure_columns(item.schema)
                            taken += item.num_rows
                        else:
                            taken += 1
                        yield item
                seen[file_url] = mtime
            position = end
        state[PENDING_FILES_KEY] = 0
    finally:
        parser.close()
        inserter.close()


def _streamable(file_url: str) -> bool:
    """Whether the warehouse can read the bucket's files itself: DuckDB, a local folder."""
    return warehouse_engine() == "duckdb" and local_path(file_url) is not None


# Rows the warehouse inserted in a load, by load id: dlt's own counts never see them (`load`).
_STREAMED_ROWS: dict[str, int] = {}


def _stream_range(
    pending: list[tuple[str, str, Any]],
    position: int,
    remaining: int | None,
    rows_per_byte: float,
) -> int:
    """How many files from `position` on one statement covers (at least one).

    Whole files up to `STREAM_GROUP_BYTES` as stored, and no more than the load's remaining
    rows are expected to fill (by the rows per byte of the last group; one file while that
    is not known).
    """
    count = 0
    stored = 0
    for file_url, _, _ in pending[position:]:
        path = local_path(file_url)
        try:
            size = os.path.getsize(path) if path is not None else 0
        except OSError:
            size = 0
        if count and stored + size > STREAM_GROUP_BYTES:
            break
        if (
            count
            and remaining is not None
            and (not rows_per_byte or stored * rows_per_byte >= remaining)
        ):
            break
        count += 1
        stored += size
    return count


def _usual_items(
    file_url: str,
    fs_client: Any,
    parser: ColumnarParser,
    not_plain: bool,
    seen_ids: SeenIds,
    column_types: dict[str, str],
    bounds: tuple[Any, Any],
    batch_rows: int,
) -> Iterator[Any]:
    """A file read the usual way, its batches with their row ids.

    Parsed whole in C, else (or when known `not_plain`) line by line, bad lines set aside.
    """
    parsed = None if not_plain else parser.parse(file_url, fs_client, bounds)
    if parsed is None:
        yield from _lines_of(file_url, batch_rows, seen_ids, column_types, bounds)
        return
    for table in read_parsed(parsed, file_url, batch_rows, seen_ids, column_types):
        yield _with_row_ids(table)


def _sample_columns(
    file_url: str,
    inserter: WarehouseInserter,
    column_types: dict[str, str],
    bounds: tuple[Any, Any],
) -> Iterator[pa.Table]:
    """An empty batch with the columns the first lines of a file need.

    Typed as the usual path types them (`column_types` learns them): the warehouse's
    statement can then fill them, and fails, naming the file, where a later value disagrees
    with its column's type.
    """
    try:
        with _open(file_url) as handle:
            lines = itertools.islice(iter(handle), SAMPLE_LINES)
            items = list(read_lines(lines, file_url, SAMPLE_LINES, set(), column_types, bounds))
    except READ_ERRORS:
        return  # the statement fails on it and the file is read the usual way
    tables = [item for item in items if isinstance(item, pa.Table)]
    if tables:
        empty = _with_row_ids(pa.concat_tables(tables, promote_options="default").slice(0, 0))
        inserter.ensure_columns(empty.schema)
        yield empty


def _lines_of(
    file_url: str,
    batch_rows: int,
    seen_ids: SeenIds,
    column_types: dict[str, str],
    bounds: tuple[Any, Any],
) -> Iterator[Any]:
    """The per-line path of one file: its batches (with row ids) and its bad lines set aside.

    A file that cannot be opened (dangling symlink, symlink loop, no permission) is set aside
    whole with its path and reason.
    """
    try:
        handle = _open(file_url)
    except READ_ERRORS as exc:
        yield mark_reject(file_reject(file_url, exc))
        return
    with handle:
        for item in read_lines(iter(handle), file_url, batch_rows, seen_ids, column_types, bounds):
            yield _with_row_ids(item) if isinstance(item, pa.Table) else mark_reject(item)


def _open(file_url: str) -> Any:
    """An events file opened for reading its lines (gzip decompressed)."""
    compression = "gzip" if file_url.endswith(".gz") else None
    return fsspec.open(file_url, "rb", compression=compression).open()


def _joined(held: list[pa.Table]) -> Iterator[pa.Table]:
    """The batches `held` as one batch, and `held` emptied.

    A batch per small file would cost dlt's extract, its Parquet row groups and the
    warehouse's insert more than the file's rows. A column a batch lacks is null in its rows,
    as when the batches go one by one (dlt adds the columns in order of first appearance
    either way); batches whose columns disagree on a type (not expected: `column_types` keeps
    each column's type) go one by one.
    """
    if not held:
        return
    try:
        tables = [pa.concat_tables(held, promote_options="default")]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        tables = list(held)
    held.clear()
    for table in tables:
        yield _with_row_ids(table)


def _with_row_ids(table: pa.Table) -> pa.Table:
    """`table` with dlt's `_dlt_id` column, and a `_dlt_load_id` column for dlt to fill.

    `_dlt_id` has the shape dlt's normalizer gives it (22 base64 characters, as for 16
    bytes), made in bulk: 16 characters from 12 random bytes shared by the batch, then the
    row's number in the batch in 6 base64 digits (`_BATCH_ROWS_LIMIT`). Unique as dlt's own
    (96 random bits per batch of rows), but the shared part costs the warehouse's string
    compression half as much as 22 random characters a row (0.3 CPU-s and 15 MB per million
    rows).

    dlt's extract puts a batch's columns in the table's order and then sets `_dlt_load_id`:
    in that column's place when the batch has one, else at the end, after the unknown
    fields: normalize then finds the file's columns out of order and rewrites every row
    (about a CPU second per million rows). With the placeholder, which dlt replaces
    (`add_dlt_load_id`, set by `make_pipeline`), the file is loaded as extracted.
    """
    count = table.num_rows
    if count > _BATCH_ROWS_LIMIT:
        raise ValueError(f"a batch of {count:,} rows is over {_BATCH_ROWS_LIMIT:,} (row ids)")
    text = np.empty((count, 22), dtype=np.uint8)
    text[:, :16] = np.frombuffer(base64.b64encode(os.urandom(12)), dtype=np.uint8)
    rows = np.arange(count, dtype=np.int64)
    for place in range(6):  # the row number, most significant digit first
        text[:, 21 - place] = _BASE64[(rows >> (6 * place)) & 63]
    offsets = np.arange(0, 22 * count + 1, 22, dtype=np.int32)
    ids = pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(text.tobytes()))
    load_ids = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(count, dtype=np.int8)), pa.array([""], type=pa.string())
    )
    table = table.append_column(pa.field(C_DLT_ID, pa.string(), nullable=False), ids)
    table = table.append_column(pa.field(C_DLT_LOAD_ID, load_ids.type, nullable=False), load_ids)
    return table


_BASE64 = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", dtype=np.uint8
)
_BATCH_ROWS_LIMIT = 64**6  # the row numbers six base64 digits hold


def _column_types() -> dict[str, str]:
    """Data types the events table already has, so new batches never contradict them."""
    try:
        schema = dlt.current.source_schema()
    except Exception:  # noqa: BLE001 - outside a pipeline (a bare iteration): nothing known yet
        return {}
    if TABLE_NAME not in schema.tables:
        return {}
    columns = schema.get_table_columns(TABLE_NAME)
    return {name: str(col["data_type"]) for name, col in columns.items() if col.get("data_type")}


def load(
    bucket_url: str | None = None,
    *,
    max_rows_per_load: int | None = MAX_ROWS_PER_LOAD,
    row_counts: dict[str, int] | None = None,
    enabled: bool = True,
) -> LoadInfo:
    """Load the events into the warehouse (config `SOURCES__SEGMENT__BUCKET_URL`).

    A backlog larger than `max_rows_per_load` is loaded as several dlt loads, one after the
    other, each committed with its file cursors: memory stays bounded (the in-load dedup set,
    the load package on disk) and a crash loses at most the load in flight. `row_counts`, if
    given, is filled with the rows per table summed over those loads. Returns the last load's
    info.
    """
    kwargs: dict[str, Any] = {"max_rows_per_load": max_rows_per_load, "enabled": enabled}
    if bucket_url:
        kwargs["bucket_url"] = bucket_url
    pipeline = make_pipeline(PIPELINE_NAME, DATASET_NAME, dict(DUCKDB_CONFIG))
    while True:
        info = run_counted(pipeline, segment_events(**kwargs), row_counts)
        for load_id in info.loads_ids:
            streamed = _STREAMED_ROWS.pop(load_id, 0)
            if row_counts is not None and streamed:
                row_counts[TABLE_NAME] = row_counts.get(TABLE_NAME, 0) + streamed
        if not _pending_files(pipeline):
            return info


def _pending_files(pipeline: dlt.Pipeline) -> int:
    """Files the last run left for the next one (0 when it read everything)."""
    resources = pipeline.state.get("sources", {}).get(SOURCE_NAME, {}).get("resources", {})
    return int(resources.get(TABLE_NAME, {}).get(PENDING_FILES_KEY, 0))
