"""Typeform NPS/CSAT survey responses, flattened to one row each (Typeform Responses API)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo

from ingestion.api import DEFAULT_MAX_PAGES, FetchProblems, run_api_load
from ingestion.pipeline import make_pipeline, merge_resource, table_only, with_table
from ingestion.settings import MissingSettingError, require_setting
from ingestion.typeform.helpers import flatten_response, iter_responses, make_api
from ingestion.typeform.settings import (
    COLUMNS,
    DATASET_NAME,
    DEFAULT_BASE_URL,
    PIPELINE_NAME,
    SCORE_RANGES,
    SOURCE_NAME,
    TABLE_NAME,
)

__all__ = ["DATASET_NAME", "PIPELINE_NAME", "MissingSettingError", "load", "typeform_responses"]


@dlt.source(name=SOURCE_NAME, section=SOURCE_NAME)
def typeform_responses(
    base_url: str = DEFAULT_BASE_URL,
    form_id: str | None = dlt.config.value,
    access_token: str | None = dlt.secrets.value,
    score_ref: str = "nps_score",
    comment_ref: str = "nps_comment",
    survey: str = "nps",
    max_pages: int = DEFAULT_MAX_PAGES,
    enabled: bool = True,
) -> Any:
    """Responses of one form; which answer is the score and which the comment is set by ref.

    `max_pages` (SOURCES__TYPEFORM__MAX_PAGES) bounds the pages read per run. With
    `enabled=False` (SOURCES__TYPEFORM__ENABLED=false: surveys come from the CSV drop) no
    setting is needed and the table is only created, empty.
    """
    if not enabled:
        return merge_resource(
            table_only, name=TABLE_NAME, primary_key="response_id", columns=COLUMNS
        )
    require_setting(SOURCE_NAME, form_id, "form_id")
    require_setting(SOURCE_NAME, access_token, "access_token")
    if survey not in SCORE_RANGES:
        raise MissingSettingError(
            f"{SOURCE_NAME}: survey must be one of {sorted(SCORE_RANGES)}, got {survey!r} "
            "(SOURCES__TYPEFORM__SURVEY)"
        )
    api = make_api(base_url.rstrip("/"), str(access_token), int(max_pages))
    form = str(form_id)

    def clean(item: dict[str, Any]) -> dict[str, Any]:
        return flatten_response(
            item, form_id=form, survey=survey, score_ref=score_ref, comment_ref=comment_ref
        )

    def responses(
        submitted_at: dlt.sources.incremental[datetime] = dlt.sources.incremental(  # noqa: B008
            "submitted_at", on_cursor_value_missing="include"
        ),
    ) -> Iterator[Any]:
        """Ask only for responses since the newest one loaded (reject rows have no cursor)."""
        yield from with_table(iter_responses(api, form, submitted_at.last_value, clean))

    return merge_resource(responses, name=TABLE_NAME, primary_key="response_id", columns=COLUMNS)


def load(row_counts: dict[str, int] | None = None, **source_kwargs: Any) -> LoadInfo:
    """Load the responses into raw_typeform; kwargs override config (form_id, access_token...)."""
    pipeline = make_pipeline(PIPELINE_NAME, DATASET_NAME)
    problems = FetchProblems(SOURCE_NAME)  # stays empty: a cut-short read commits nothing
    return run_api_load(pipeline, typeform_responses(**source_kwargs), row_counts, problems)
