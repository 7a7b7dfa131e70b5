"""Zendesk Support tickets, metrics, CSAT ratings and organizations (Zendesk Support API)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo

from ingestion.api import DEFAULT_MAX_PAGES, FetchProblems, guarded_pages, run_api_load
from ingestion.pipeline import make_pipeline, merge_resource, with_table
from ingestion.settings import MissingSettingError, require_setting
from ingestion.zendesk.helpers import cursor_list, incremental_tickets, make_api
from ingestion.zendesk.settings import (
    COLUMNS,
    DATASET_NAME,
    LIST_RESOURCES,
    PIPELINE_NAME,
    SOURCE_NAME,
    START_OF_TIME,
)

__all__ = ["DATASET_NAME", "PIPELINE_NAME", "load", "zendesk_support"]


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME)
def zendesk_support(
    base_url: str | None = dlt.config.value,
    subdomain: str | None = dlt.config.value,
    email: str | None = dlt.secrets.value,
    api_token: str | None = dlt.secrets.value,
    oauth_token: str | None = dlt.secrets.value,
    max_pages: int = DEFAULT_MAX_PAGES,
    problems: Any = None,
    enabled: bool = True,
) -> Sequence[Any]:
    """Zendesk resources; `base_url` (tests, proxies) or `subdomain` picks the account.

    `max_pages` (SOURCES__ZENDESK__MAX_PAGES) bounds the pages one resource reads per run.
    `problems` (a FetchProblems, given by `load`) collects a resource's failure after the
    pages it fetched; without it the failure raises inside the extract. With `enabled=False`
    (SOURCES__ZENDESK__ENABLED=false) no setting is needed and the tables are only created.
    """
    if enabled:
        if not base_url:
            require_setting(SOURCE_NAME, subdomain, "subdomain", " (or set BASE_URL instead)")
            base_url = f"https://{subdomain}.zendesk.com"
        if not oauth_token:
            hint = " (or set SOURCES__ZENDESK__OAUTH_TOKEN instead of email and api_token)"
            require_setting(SOURCE_NAME, email, "email", hint)
            require_setting(SOURCE_NAME, api_token, "api_token", hint)
        api = make_api(str(base_url).rstrip("/"), email, api_token, oauth_token, int(max_pages))
    failures = problems if isinstance(problems, FetchProblems) else None

    def tickets(
        updated_at: dlt.sources.incremental[datetime] = dlt.sources.incremental(  # noqa: B008
            "updated_at",
            initial_value=START_OF_TIME,
            on_cursor_value_missing="include",
            primary_key=(),
        ),
    ) -> Iterator[Any]:
        """Incremental export from the last loaded updated_at; merge keeps the latest version.

        Rows older than that point are dropped by dlt, so an old version arriving in a later
        run never overwrites a newer one. Deduplication at the boundary is off (`primary_key`
        empty): a version sharing the boundary's updated_at but later in the stream must win.
        Rejected rows carry no updated_at, hence `include` for a missing cursor value.
        """
        start = updated_at.last_value or START_OF_TIME
        pages = incremental_tickets(api, int(start.timestamp())) if enabled else iter(())
        yield from with_table(guarded_pages(pages, failures))

    def listed(resource: str) -> Any:
        def rows() -> Iterator[Any]:
            pages = cursor_list(api, resource) if enabled else iter(())
            yield from with_table(guarded_pages(pages, failures))

        return merge_resource(rows, name=resource, primary_key="id", columns=COLUMNS[resource])

    return [
        merge_resource(tickets, name="tickets", primary_key="id", columns=COLUMNS["tickets"]),
        *(listed(resource) for resource in LIST_RESOURCES),
    ]


def load(row_counts: dict[str, int] | None = None, **source_kwargs: Any) -> LoadInfo:
    """Load Zendesk into raw_zendesk; kwargs override config (base_url, email, api_token...)."""
    pipeline = make_pipeline(PIPELINE_NAME, DATASET_NAME)
    problems = FetchProblems(SOURCE_NAME)
    source = zendesk_support(problems=problems, **source_kwargs)
    return run_api_load(pipeline, source, row_counts, problems)


__all__ += ["MissingSettingError"]
