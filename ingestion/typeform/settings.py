"""Typeform Responses API constants and the flattened `responses` table's column types."""

from dlt.common.schema.typing import TTableSchemaColumns

from ingestion.pipeline import column

SOURCE_NAME = "typeform"
PIPELINE_NAME = "typeform_responses"
DATASET_NAME = "raw_typeform"
TABLE_NAME = "responses"

DEFAULT_BASE_URL = "https://api.typeform.com"
PAGE_SIZE = 1000  # Typeform's maximum page_size
CREDENTIAL_HINT = "SOURCES__TYPEFORM__ACCESS_TOKEN (a personal token with responses:read)"

# Valid score per survey kind; anything else is a bad record (docs/metrics.md, "Surveys").
SCORE_RANGES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5)}

COLUMNS: TTableSchemaColumns = {
    "response_id": column("text", nullable=False),
    "submitted_at": column("timestamp"),
    "landed_at": column("timestamp"),
    "form_id": column("text"),
    "user_id": column("text"),
    "account_id": column("text"),
    "survey": column("text"),
    "score": column("bigint"),
    "comment": column("text"),
    "answers": column("text"),
}
