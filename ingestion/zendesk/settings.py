"""Zendesk Support constants: endpoints, page sizes and the column types the marts rely on."""

from datetime import UTC, datetime

from dlt.common.schema.typing import TTableSchemaColumns

from ingestion.common import column

SOURCE_NAME = "zendesk"
PIPELINE_NAME = "zendesk_support"
DATASET_NAME = "raw_zendesk"

# Incremental export allows up to 1000 per page; cursor-paginated lists cap page[size] at 100.
INCREMENTAL_PAGE_SIZE = 1000
LIST_PAGE_SIZE = 100
INCREMENTAL_PATH = "/api/v2/incremental/tickets/cursor.json"
LIST_RESOURCES = ("ticket_metrics", "satisfaction_ratings", "organizations")
START_OF_TIME = datetime(1970, 1, 1, tzinfo=UTC)

CREDENTIAL_HINT = (
    "SOURCES__ZENDESK__EMAIL and SOURCES__ZENDESK__API_TOKEN (or SOURCES__ZENDESK__OAUTH_TOKEN)"
)

# Timestamps each resource must be able to parse when present; a bad one sets the record aside.
TIMESTAMP_FIELDS: dict[str, tuple[str, ...]] = {
    "tickets": ("created_at", "updated_at"),
    "ticket_metrics": ("created_at", "updated_at", "solved_at"),
    "satisfaction_ratings": ("created_at", "updated_at"),
    "organizations": ("created_at", "updated_at"),
}


_MINUTES = {
    f"{metric}__{clock}": column("bigint")
    for metric in (
        "reply_time_in_minutes",
        "first_resolution_time_in_minutes",
        "full_resolution_time_in_minutes",
    )
    for clock in ("calendar", "business")
}

# Declared so the columns staging reads exist even when every value so far is null.
COLUMNS: dict[str, TTableSchemaColumns] = {
    "tickets": {
        "id": column("bigint", nullable=False),
        "created_at": column("timestamp"),
        "updated_at": column("timestamp"),
        "status": column("text"),
        "priority": column("text"),
        "type": column("text"),
        "subject": column("text"),
        "requester_id": column("bigint"),
        "assignee_id": column("bigint"),
        "organization_id": column("bigint"),
        "via__channel": column("text"),
    },
    "ticket_metrics": {
        "id": column("bigint", nullable=False),
        "ticket_id": column("bigint"),
        "created_at": column("timestamp"),
        "updated_at": column("timestamp"),
        "solved_at": column("timestamp"),
        "reopens": column("bigint"),
        "replies": column("bigint"),
        **_MINUTES,
    },
    "satisfaction_ratings": {
        "id": column("bigint", nullable=False),
        "ticket_id": column("bigint"),
        "score": column("text"),
        "created_at": column("timestamp"),
        "updated_at": column("timestamp"),
    },
    "organizations": {
        "id": column("bigint", nullable=False),
        "name": column("text"),
        "external_id": column("text"),
        "created_at": column("timestamp"),
        "updated_at": column("timestamp"),
    },
}
