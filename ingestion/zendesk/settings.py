"""Zendesk Support constants: endpoints, page sizes and the column types the marts rely on."""

from datetime import UTC, datetime

from dlt.common.schema.typing import TColumnSchema, TTableSchemaColumns

from ingestion.pipeline import column

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

# Where each record's version order goes (see helpers.version_order): the merge keeps the
# row with the greatest, i.e. the latest updated_at and, on a tie, the later in the stream.
VERSION_COLUMN = "version_order"

# Id fields Zendesk documents as integers; 123, 123.0 and "123" are all read as 123.
ID_FIELDS: dict[str, tuple[str, ...]] = {
    "tickets": ("id", "requester_id", "assignee_id", "organization_id", "submitter_id"),
    "ticket_metrics": ("id", "ticket_id"),
    "satisfaction_ratings": ("id", "ticket_id", "requester_id", "assignee_id", "organization_id"),
    "organizations": ("id",),
}

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


def _version_column() -> TColumnSchema:
    hint = column("text")
    hint["dedup_sort"] = "desc"
    return hint


# Declared so the columns staging reads exist even when every value so far is null.
COLUMNS: dict[str, TTableSchemaColumns] = {
    "tickets": {
        "id": column("bigint", nullable=False),
        VERSION_COLUMN: _version_column(),
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
        VERSION_COLUMN: _version_column(),
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
        VERSION_COLUMN: _version_column(),
        "ticket_id": column("bigint"),
        "score": column("text"),
        "created_at": column("timestamp"),
        "updated_at": column("timestamp"),
    },
    "organizations": {
        "id": column("bigint", nullable=False),
        VERSION_COLUMN: _version_column(),
        "name": column("text"),
        "external_id": column("text"),
        "created_at": column("timestamp"),
        "updated_at": column("timestamp"),
    },
}
