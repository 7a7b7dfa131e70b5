"""CSV drops, for teams whose survey or license tool is not Typeform or Stripe (SOURCES 3b, 4b)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import dlt
import fsspec
from dlt.common.pipeline import LoadInfo
from dlt.common.schema.typing import TColumnSchema

from ingestion.file_drop.helpers import decode_csv, read_csv
from ingestion.file_drop.settings import CSV_SUFFIXES, DATASET_NAME, PIPELINE_NAME, SOURCE_NAME
from ingestion.files import list_new_files
from ingestion.pipeline import (
    column,
    make_pipeline,
    merge_resource,
    run_counted,
    table_only,
)
from ingestion.rejects import RecordRejected, mark_reject, reject_row
from ingestion.settings import require_setting

__all__ = ["DATASET_NAME", "PIPELINE_NAME", "file_drop", "load"]

log = logging.getLogger(__name__)


def _copy_order() -> TColumnSchema:
    """`_source_file`, which also decides between two copies of one key in the same load.

    dlt's merge keeps one row per key of a load; without a `dedup_sort` column it keeps an
    arbitrary one (`ORDER BY (SELECT NULL)`). The copy in the greatest file name wins, as a
    later load's copy does (docs/metrics.md, "Re-delivered records"): a re-sent file corrects.
    """
    hint = column("text")
    hint["dedup_sort"] = "desc"
    return hint


_COLUMNS: dict[str, dict[str, Any]] = {
    "survey_responses": {
        "response_id": column("text", nullable=False),
        "submitted_at": column("timestamp"),
        "user_id": column("text"),
        "account_id": column("text"),
        "survey": column("text"),
        "score": column("bigint"),
        "comment": column("text"),
        "_source_file": _copy_order(),
    },
    "licenses": {
        "license_id": column("text", nullable=False),
        "account_id": column("text"),
        "product": column("text"),
        "plan": column("text"),
        "seats": column("bigint"),
        "starts_on": column("date"),
        "ends_on": column("date"),
        "annual_price": column("double"),
        "currency": column("text"),
        "_source_file": _copy_order(),
    },
}
_KEYS = {"survey_responses": "response_id", "licenses": "license_id"}


def _csv_rows(table: str, folder_url: str) -> Iterator[Any]:
    """New or replaced CSV files of one folder; the per-file cursor lives in resource state."""
    seen: dict[str, str] = dlt.current.resource_state().setdefault("files", {})
    counts: dict[str, int] = {}
    for file_url, mtime, _ in list_new_files(folder_url, CSV_SUFFIXES, seen):
        try:
            with fsspec.open(file_url, "rb") as handle:
                data = handle.read()
            text = decode_csv(data, file_url)
        except (OSError, RecordRejected) as exc:  # set aside whole; the folder's rest loads
            reason = str(exc) if isinstance(exc, RecordRejected) else f"file cannot be read: {exc}"
            counts["rejected"] = counts.get("rejected", 0) + 1
            yield mark_reject(
                reject_row(SOURCE_NAME, file_url, file_url, reason, per_location=True)
            )
        else:
            yield from read_csv(text, file_url, table, counts)
        seen[file_url] = mtime
    yield dlt.mark.materialize_table_schema()  # the table exists even before a file lands
    log.info(
        "%s.%s: %d loaded, %d set aside",
        SOURCE_NAME,
        table,
        counts.get("loaded", 0),
        counts.get("rejected", 0),
    )


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME)
def file_drop(
    surveys_url: str | None = None, licenses_url: str | None = None, enabled: bool = True
) -> list[Any]:
    """Survey answers and licenses from CSV folders (`SOURCES__FILE_DROP__SURVEYS_URL`, ...).

    A folder that is not configured loads nothing and its table is created empty (a team
    with Typeform and the license CSV has no survey drop); naming neither is an error unless
    the drop is not used at all (`SOURCES__FILE_DROP__ENABLED=false`).
    """
    if enabled and not surveys_url and not licenses_url:
        require_setting(SOURCE_NAME, None, "surveys_url", " (or licenses_url)")
    resources = []
    for table, url in (("survey_responses", surveys_url), ("licenses", licenses_url)):
        data = _csv_rows(table, url) if enabled and url else table_only
        resources.append(
            merge_resource(data, name=table, primary_key=_KEYS[table], columns=_COLUMNS[table])
        )
    return resources


def load(row_counts: dict[str, int] | None = None, **source_kwargs: Any) -> LoadInfo:
    """Load the CSV drops into raw_file_drop; kwargs override config."""
    pipeline = make_pipeline(PIPELINE_NAME, DATASET_NAME)
    return run_counted(pipeline, file_drop(**source_kwargs), row_counts)
