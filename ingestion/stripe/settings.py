"""Stripe list endpoints, the Unix-second fields, and the column types staging relies on."""

from dlt.common.schema.typing import TColumnSchema, TDataType, TTableSchemaColumns

from ingestion.pipeline import column

SOURCE_NAME = "stripe"
PIPELINE_NAME = "stripe_billing"
DATASET_NAME = "raw_stripe"

DEFAULT_BASE_URL = "https://api.stripe.com"
PAGE_LIMIT = 100  # Stripe's maximum `limit`
CREDENTIAL_HINT = "SOURCES__STRIPE__API_KEY (a secret or restricted key, sk_... / rk_...)"

# Unix-second and count fields that real payloads sometimes carry as floats (1686164673.0).
INT_FIELDS = frozenset(
    {
        "created",
        "start_date",
        "ended_at",
        "canceled_at",
        "cancel_at",
        "current_period_start",
        "current_period_end",
        "trial_start",
        "trial_end",
        "billing_cycle_anchor",
        "quantity",
        "total_count",
        "unit_amount",
    }
)
# Top-level epochs that must be readable, or the record is set aside.
EPOCH_FIELDS = (
    "created",
    "start_date",
    "ended_at",
    "canceled_at",
    "current_period_start",
    "current_period_end",
)
# Of those, the ones that may lie ahead (the period being paid for): only the earliest
# plausible time applies to them, not the future skew.
FUTURE_EPOCH_FIELDS = frozenset({"current_period_end"})

# status=all: without it Stripe leaves out canceled subscriptions, and churn needs them.
RESOURCES: dict[str, dict[str, str]] = {
    "subscriptions": {"status": "all"},
    "customers": {},
}

COLUMNS: dict[str, TTableSchemaColumns] = {
    "subscriptions": {
        "id": column("text", nullable=False),
        "customer": column("text"),
        "status": column("text"),
        "created": column("bigint"),
        "start_date": column("bigint"),
        "ended_at": column("bigint"),
        "canceled_at": column("bigint"),
        "cancel_at": column("bigint"),
        "current_period_start": column("bigint"),
        "current_period_end": column("bigint"),
        "trial_start": column("bigint"),
        "trial_end": column("bigint"),
    },
    "customers": {
        "id": column("text", nullable=False),
        "created": column("bigint"),
        "email": column("text"),
        "name": column("text"),
        "metadata__account_id": column("text"),
    },
}


def _named(name: str, data_type: TDataType) -> TColumnSchema:
    """Nested hints are not normalised like top-level ones, so each must carry its name."""
    hint = column(data_type)
    hint["name"] = name
    return hint


ITEM_COLUMNS: TTableSchemaColumns = {
    "id": _named("id", "text"),
    "quantity": _named("quantity", "bigint"),
    "price__id": _named("price__id", "text"),
    "price__product": _named("price__product", "text"),
    "price__unit_amount": _named("price__unit_amount", "bigint"),
    "price__currency": _named("price__currency", "text"),
    "price__recurring__interval": _named("price__recurring__interval", "text"),
}
