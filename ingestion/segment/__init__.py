"""Segment Spec events from a folder or bucket of JSON Lines files (SOURCES.md section 1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
import fsspec
import pyarrow as pa
from dlt.common.pipeline import LoadInfo

from ingestion.common import list_new_files, make_pipeline, mark_reject
from ingestion.segment.helpers import read_lines
from ingestion.segment.settings import (
    BATCH_ROWS,
    DATASET_NAME,
    EVENT_FILE_SUFFIXES,
    PIPELINE_NAME,
    TABLE_NAME,
)

__all__ = ["DATASET_NAME", "PIPELINE_NAME", "load", "segment_events"]


@dlt.source(name="segment")
def segment_events(bucket_url: str = dlt.config.value, batch_rows: int = BATCH_ROWS) -> Any:
    """Every Segment message under `bucket_url`, each file read once, each messageId once."""
    return events(bucket_url, batch_rows)


@dlt.resource(
    name=TABLE_NAME,
    write_disposition={"disposition": "merge", "strategy": "insert-only"},
    primary_key="message_id",
)
def events(bucket_url: str, batch_rows: int = BATCH_ROWS) -> Iterator[Any]:
    """Read new or replaced files only; the per-file cursor lives in the resource state.

    The first copy of a message wins (`insert-only`), so a re-delivered file never replaces or
    duplicates what was loaded. The cursor for a file is recorded after its last row is yielded:
    dlt commits state with the load, so a crash re-reads the file and dedup absorbs it.
    """
    seen: dict[str, str] = dlt.current.resource_state().setdefault("files", {})
    seen_ids: set[str] = set()
    for file_url, mtime, _ in list_new_files(bucket_url, EVENT_FILE_SUFFIXES, seen):
        compression = "gzip" if file_url.endswith(".gz") else None
        with fsspec.open(file_url, "rb", compression=compression) as handle:
            for item in read_lines(iter(handle), file_url, batch_rows, seen_ids):
                yield item if isinstance(item, pa.Table) else mark_reject(item)
        seen[file_url] = mtime


def load(bucket_url: str | None = None) -> LoadInfo:
    """Load the events into the warehouse (config `SOURCES__SEGMENT__BUCKET_URL`)."""
    source = segment_events(bucket_url) if bucket_url else segment_events()
    return make_pipeline(PIPELINE_NAME, DATASET_NAME).run(source)
