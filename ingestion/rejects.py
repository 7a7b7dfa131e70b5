"""Bad records set aside: the `rejected_records` row, its dlt hints, per-record page splits."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dlt

REJECTS_TABLE = "rejected_records"


def reject_row(
    source: str, location: str, record: str, reason: str, *, per_location: bool = False
) -> dict[str, Any]:
    """Build one rejects-table row; its id makes re-reading the same bad record idempotent.

    API records are identified by their text (a page URL changes with the cursor). File lines
    are identified by `location` too (`per_location`): the same broken text on two lines, or in
    two files, is two bad records, and each must be counted.
    """
    identity = f"{source}\x00{location if per_location else ''}\x00{record}\x00{reason}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return {
        "reject_id": digest,
        "source": source,
        "location": location,
        "record": record,
        "reason": reason,
        "rejected_at": datetime.now(UTC),
    }


REJECT_HINTS = dict(
    table_name=REJECTS_TABLE,
    write_disposition="merge",
    primary_key="reject_id",
    columns={
        "reject_id": {"data_type": "text", "nullable": False},
        "source": {"data_type": "text"},
        "location": {"data_type": "text"},
        "record": {"data_type": "text"},
        "reason": {"data_type": "text"},
        "rejected_at": {"data_type": "timestamp"},
    },
)


def mark_reject(row: dict[str, Any]) -> Any:
    """Route a reject row (from `reject_row`) to the dataset's rejects table from any resource."""
    hints = dlt.mark.make_hints(**REJECT_HINTS)  # type: ignore[arg-type]
    return dlt.mark.with_hints(row, hints, create_table_variant=True)


class RecordRejected(ValueError):
    """Raised by a record cleaner; its message is the reason stored in rejected_records."""


def split_page(
    items: Any,
    *,
    source: str,
    location: str,
    clean: Any,
    counts: dict[str, int],
) -> Iterator[Any]:
    """Yield cleaned records of one API page and route the bad ones to rejected_records.

    `clean(record) -> dict` raises RecordRejected for a bad record; the rest of the page still
    loads. `counts` accumulates "loaded" and "rejected" so the caller can report them.
    """
    if not isinstance(items, list):
        items = [items]
    for item in items:
        try:
            if not isinstance(item, dict):
                raise RecordRejected(f"page item is not a JSON object ({type(item).__name__})")
            record = clean(item)
        except RecordRejected as exc:
            counts["rejected"] = counts.get("rejected", 0) + 1
            text = json.dumps(item, sort_keys=True, ensure_ascii=False, default=str)
            yield mark_reject(reject_row(source, location, text, str(exc)))
            continue
        counts["loaded"] = counts.get("loaded", 0) + 1
        yield record
