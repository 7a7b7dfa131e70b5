"""Which business domain (Dagster group) a table belongs to, by name, for every layer."""

from __future__ import annotations

DOMAINS = ("usage", "support", "surveys", "licenses", "accounts")

# Name fragments, checked in order: the first that occurs in a table, model or folder name wins.
_FRAGMENTS: tuple[tuple[str, str], ...] = (
    ("survey", "surveys"),
    ("nps", "surveys"),
    ("csat", "surveys"),
    ("typeform", "surveys"),
    ("license", "licenses"),
    ("seat", "licenses"),
    ("stripe", "licenses"),
    ("zendesk", "support"),
    ("ticket", "support"),
    ("support", "support"),
    ("sla", "support"),
    ("health", "accounts"),
    ("account_mentions", "accounts"),
    ("dim_accounts", "accounts"),
    ("metrics_daily", "accounts"),
    ("accounts", "accounts"),
    ("segment", "usage"),
    ("product", "usage"),
    ("feature", "usage"),
    ("event", "usage"),
    ("activ", "usage"),
    ("retention", "usage"),
    ("lifecycle", "usage"),
    ("engagement", "usage"),
    ("funnel", "usage"),
    ("experiment", "usage"),
)


def domain_of(*names: str) -> str:
    """The domain of the first name that matches a fragment; `accounts` when none does."""
    for name in names:
        lowered = name.lower()
        for fragment, domain in _FRAGMENTS:
            if fragment in lowered:
                return domain
    return "accounts"
