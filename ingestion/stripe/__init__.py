"""Stripe subscriptions (seats sold) and customers (Stripe API)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo

from ingestion.api import DEFAULT_MAX_PAGES, FetchProblems, guarded_pages, run_api_load
from ingestion.pipeline import make_pipeline, merge_resource, with_table
from ingestion.settings import MissingSettingError, require_setting
from ingestion.stripe.helpers import iter_list, make_api
from ingestion.stripe.settings import (
    COLUMNS,
    DATASET_NAME,
    DEFAULT_BASE_URL,
    ITEM_COLUMNS,
    PIPELINE_NAME,
    RESOURCES,
    SOURCE_NAME,
)

__all__ = ["DATASET_NAME", "PIPELINE_NAME", "MissingSettingError", "load", "stripe_source"]


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME)
def stripe_source(
    base_url: str = DEFAULT_BASE_URL,
    api_key: str | None = dlt.secrets.value,
    max_pages: int = DEFAULT_MAX_PAGES,
    problems: Any = None,
    enabled: bool = True,
) -> list[Any]:
    """Full re-read of both lists each run: they are small and Stripe has no updated cursor.

    `max_pages` (SOURCES__STRIPE__MAX_PAGES) bounds the pages of one list per run; `problems`
    (a FetchProblems, given by `load`) lets a list that breaks mid-way keep its fetched pages.
    With `enabled=False` (SOURCES__STRIPE__ENABLED=false: licenses come from the CSV drop) no
    key is needed and the tables are only created, empty.
    """
    if enabled:
        require_setting(SOURCE_NAME, api_key, "api_key")
        api = make_api(base_url.rstrip("/"), str(api_key), int(max_pages))
    failures = problems if isinstance(problems, FetchProblems) else None

    def listed(resource: str) -> Any:
        def rows() -> Iterator[Any]:
            pages = iter_list(api, resource, RESOURCES[resource]) if enabled else iter(())
            yield from with_table(guarded_pages(pages, failures))

        nested = (
            {("items", "data"): {"columns": ITEM_COLUMNS, "parent_table_name": "subscriptions"}}
            if resource == "subscriptions"
            else None
        )
        return merge_resource(
            rows, name=resource, primary_key="id", columns=COLUMNS[resource], nested_hints=nested
        )

    return [listed(resource) for resource in RESOURCES]


def load(row_counts: dict[str, int] | None = None, **source_kwargs: Any) -> LoadInfo:
    """Load Stripe into raw_stripe; kwargs override config (base_url, api_key)."""
    pipeline = make_pipeline(PIPELINE_NAME, DATASET_NAME)
    problems = FetchProblems(SOURCE_NAME)
    source = stripe_source(problems=problems, **source_kwargs)
    return run_api_load(pipeline, source, row_counts, problems)
