"""The registry of source systems: what each loads, where, and how to run it without Dagster."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ingestion import file_drop, segment, stripe, typeform, zendesk
from ingestion.rejects import REJECTS_TABLE
from ingestion.settings import source_enabled


@dataclass(frozen=True)
class SourceSystem:
    """One source system: a dlt source package landing raw tables in one dataset.

    `api` is the one answer to "is this a vendor API": API sources load hourly, are retried
    when the vendor fails (never when it refuses the credentials) and must be fresh within
    hours; files load daily and as they land.
    """

    name: str
    package: ModuleType
    dataset: str
    tables: tuple[str, ...]
    description: str
    kind: str
    api: bool

    def enabled(self) -> bool:
        """False when the team does not use this source (`SOURCES__<NAME>__ENABLED=false`)."""
        return source_enabled(self.name)

    def load(self, **kwargs: Any) -> LoadResult:
        """Run the package's `load()` and count what landed and what was set aside.

        A source the team does not use still runs, with `enabled=False`: it loads nothing and
        only creates its raw tables empty, so the marts build from the other sources.
        """
        started = time.monotonic()
        enabled = self.enabled()
        if not enabled:
            kwargs["enabled"] = False
        counts: dict[str, int] = {}  # summed over every dlt load the package runs
        self.package.load(row_counts=counts, **kwargs)
        rows = {t: n for t, n in counts.items() if not t.startswith("_dlt") and t != REJECTS_TABLE}
        return LoadResult(
            source=self.name,
            rows=rows,
            rejected=counts.get(REJECTS_TABLE, 0),
            seconds=time.monotonic() - started,
            enabled=enabled,
        )


@dataclass
class LoadResult:
    """Rows written per table and records set aside by one load."""

    source: str
    rows: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    seconds: float = 0.0
    enabled: bool = True  # False: the team does not use the source, nothing was read


SOURCE_SYSTEMS: tuple[SourceSystem, ...] = (
    SourceSystem(
        name="segment",
        package=segment,
        dataset="raw_segment",
        tables=("events",),
        description="Product usage events (Segment Spec) from the landing folder or bucket.",
        kind="segment",
        api=False,
    ),
    SourceSystem(
        name="zendesk",
        package=zendesk,
        dataset="raw_zendesk",
        tables=("tickets", "ticket_metrics", "satisfaction_ratings", "organizations"),
        description="Support tickets, their metrics, CSAT ratings and organizations (Zendesk API).",
        kind="zendesk",
        api=True,
    ),
    SourceSystem(
        name="typeform",
        package=typeform,
        dataset="raw_typeform",
        tables=("responses",),
        description="NPS survey responses (Typeform Responses API).",
        kind="typeform",
        api=True,
    ),
    SourceSystem(
        name="stripe",
        package=stripe,
        dataset="raw_stripe",
        tables=("subscriptions", "customers"),
        description="Subscriptions (seats sold) and customers (Stripe API).",
        kind="stripe",
        api=True,
    ),
    SourceSystem(
        name="file_drop",
        package=file_drop,
        dataset="raw_file_drop",
        tables=("survey_responses", "licenses"),
        description="Survey answers and licenses from CSV drops, for tools other than the APIs.",
        kind="csv",
        api=False,
    ),
)
BY_NAME = {system.name: system for system in SOURCE_SYSTEMS}


def disabled_sources() -> list[str]:
    """Names of the sources the team does not use (`SOURCES__<NAME>__ENABLED=false`)."""
    return [system.name for system in SOURCE_SYSTEMS if not system.enabled()]


API_SOURCES = tuple(system for system in SOURCE_SYSTEMS if system.api)
