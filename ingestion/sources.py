"""The registry of source systems: what each loads, where, and how to run it without Dagster."""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any

from ingestion.common import REJECTS_TABLE


@dataclass(frozen=True)
class SourceSystem:
    """One source system: a dlt source package landing raw tables in one dataset."""

    name: str
    module: str
    dataset: str
    tables: tuple[str, ...]
    description: str
    kind: str

    def load(self, **kwargs: Any) -> LoadResult:
        """Run the package's `load()` and count what landed and what was set aside."""
        started = time.monotonic()
        counts: dict[str, int] = {}  # summed over every dlt load the package runs
        importlib.import_module(self.module).load(row_counts=counts, **kwargs)
        rows = {t: n for t, n in counts.items() if not t.startswith("_dlt") and t != REJECTS_TABLE}
        return LoadResult(
            source=self.name,
            rows=rows,
            rejected=counts.get(REJECTS_TABLE, 0),
            seconds=time.monotonic() - started,
        )


@dataclass
class LoadResult:
    """Rows written per table and records set aside by one load."""

    source: str
    rows: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    seconds: float = 0.0


SOURCE_SYSTEMS: tuple[SourceSystem, ...] = (
    SourceSystem(
        name="segment",
        module="ingestion.segment",
        dataset="raw_segment",
        tables=("events",),
        description="Product usage events (Segment Spec) from the landing folder or bucket.",
        kind="segment",
    ),
    SourceSystem(
        name="zendesk",
        module="ingestion.zendesk",
        dataset="raw_zendesk",
        tables=("tickets", "ticket_metrics", "satisfaction_ratings", "organizations"),
        description="Support tickets, their metrics, CSAT ratings and organizations (Zendesk API).",
        kind="zendesk",
    ),
    SourceSystem(
        name="typeform",
        module="ingestion.typeform",
        dataset="raw_typeform",
        tables=("responses",),
        description="NPS survey responses (Typeform Responses API).",
        kind="typeform",
    ),
    SourceSystem(
        name="stripe",
        module="ingestion.stripe",
        dataset="raw_stripe",
        tables=("subscriptions", "customers"),
        description="Subscriptions (seats sold) and customers (Stripe API).",
        kind="stripe",
    ),
    SourceSystem(
        name="file_drop",
        module="ingestion.file_drop",
        dataset="raw_file_drop",
        tables=("survey_responses", "licenses"),
        description="Survey answers and licenses from CSV drops, for tools other than the APIs.",
        kind="csv",
    ),
)
BY_NAME = {system.name: system for system in SOURCE_SYSTEMS}
