"""Pieces every loader shares: where the warehouse is, and how bad records are set aside."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WAREHOUSE = PROJECT_ROOT / "data" / "warehouse.duckdb"
REJECTS_TABLE = "rejected_records"


def warehouse_path() -> Path:
    """The DuckDB file that dlt loads and dbt builds in; `WAREHOUSE_PATH` overrides it."""
    configured = os.environ.get("WAREHOUSE_PATH")
    path = Path(configured) if configured else DEFAULT_WAREHOUSE
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    return path


def duckdb_destination() -> Any:
    """A dlt duckdb destination bound to the one warehouse file."""
    path = warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return dlt.destinations.duckdb(str(path))


def pipelines_dir() -> Path:
    """Where dlt keeps pipeline state: beside the warehouse, so a fresh warehouse starts fresh."""
    return warehouse_path().parent / ".dlt_pipelines" / warehouse_path().stem


def reject_row(source: str, location: str, record: str, reason: str) -> dict[str, Any]:
    """Build one rejects-table row; its id makes re-reading the same bad record idempotent."""
    digest = hashlib.sha256(f"{source}\x00{record}\x00{reason}".encode()).hexdigest()[:32]
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
    return dlt.mark.with_hints(row, dlt.mark.make_hints(**REJECT_HINTS))  # type: ignore[arg-type]


def make_pipeline(pipeline_name: str, dataset_name: str) -> dlt.Pipeline:
    """A dlt pipeline into the warehouse, its state kept beside the warehouse file."""
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=duckdb_destination(),
        dataset_name=dataset_name,
        pipelines_dir=str(pipelines_dir()),
        progress="log",
    )
