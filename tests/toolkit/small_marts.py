"""Small marts written by hand, standing in for a built warehouse (report, semantic layer, BI).

The as-of date 2026-03-11 is a Wednesday, so its week and month are partial. The same
statements run on DuckDB and PostgreSQL (`statements`), so both engines hold equal marts.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

AS_OF = date(2026, 3, 11)  # a Wednesday: week of 2026-03-09 and March are partial
DAYS = [AS_OF - timedelta(days=n) for n in range(9, -1, -1)]  # 2026-03-02 .. 2026-03-11
WEEKS = [date(2026, 2, 16), date(2026, 2, 23), date(2026, 3, 2), date(2026, 3, 9)]

Columns = list[tuple[str, str]]
MARTS: dict[str, tuple[Columns, list[tuple[Any, ...]]]] = {
    "fct_active_users_daily": (
        [
            ("activity_date", "date"),
            ("dau", "integer"),
            ("wau", "integer"),
            ("mau", "integer"),
            ("stickiness", "double precision"),
            ("new_users", "integer"),
        ],
        [(d, 10 + i, 20 + i, 40 + i, (10 + i) / (40 + i), i % 3) for i, d in enumerate(DAYS)],
    ),
    "fct_feature_adoption_weekly": (
        [
            ("week_start", "date"),
            ("feature", "varchar"),
            ("feature_users", "integer"),
            ("active_users", "integer"),
            ("adoption_rate", "double precision"),
        ],
        [(w, "reports", 5 + i, 20, (5 + i) / 20) for i, w in enumerate(WEEKS)]
        + [(w, "ai_insights", u, 20, u / 20) for w, u in zip(WEEKS, (0, 0, 4, 6), strict=True)],
    ),
    "fct_retention_weekly": (
        [
            ("cohort_week", "date"),
            ("weeks_since_first_active", "integer"),
            ("cohort_users", "integer"),
            ("retained_users", "integer"),
            ("retention_rate", "double precision"),
        ],
        [(WEEKS[0], k, 8, r, r / 8) for k, r in enumerate((8, 6, 4, 2))]
        + [(WEEKS[1], k, 5, r, r / 5) for k, r in enumerate((5, 3, 1))]
        + [(WEEKS[2], 0, 4, 4, 1.0), (WEEKS[2], 1, 4, 2, 0.5), (WEEKS[3], 0, 2, 2, 1.0)],
    ),
    "fct_nps_monthly": (
        [
            ("month_start", "date"),
            ("responses", "integer"),
            ("promoters", "integer"),
            ("passives", "integer"),
            ("detractors", "integer"),
            ("nps", "double precision"),
        ],
        [
            (date(2026, 1, 1), 10, 5, 3, 2, 30.0),
            (date(2026, 2, 1), 8, 2, 2, 4, -25.0),
            (date(2026, 3, 1), 3, 3, 0, 0, 100.0),
        ],
    ),
    "fct_csat_monthly": (
        [
            ("month_start", "date"),
            ("source", "varchar"),
            ("responses", "integer"),
            ("satisfied", "integer"),
            ("csat_pct", "double precision"),
        ],
        [
            (date(2026, 2, 1), "survey", 4, 3, 75.0),
            (date(2026, 2, 1), "zendesk", 6, 5, 83.3),
            (date(2026, 3, 1), "survey", 2, 1, 50.0),
        ],
    ),
    "fct_support_daily": (
        [
            ("activity_date", "date"),
            ("tickets_created", "integer"),
            ("tickets_solved", "integer"),
            ("backlog", "integer"),
            ("median_first_reply_minutes_business", "double precision"),
            ("sla_breach_rate", "double precision"),
        ],
        [
            (d, i % 4, i % 3, 5 + i, None if i == 9 else 30.0 + i, None if i == 9 else i / 10)
            for i, d in enumerate(DAYS)
        ],
    ),
    "fct_seat_utilization_daily": (
        [
            ("account_id", "varchar"),
            ("activity_date", "date"),
            ("seats_purchased", "integer"),
            ("active_users_28d", "integer"),
            ("utilization", "double precision"),
            ("unused_seats", "integer"),
            ("arr", "double precision"),
        ],
        [
            ("acc_a", AS_OF, 10, 9, 0.9, 1, 1200.0),
            ("acc_b", AS_OF, 50, 5, 0.1, 45, 6000.0),
            ("acc_c", AS_OF, 20, 25, 1.25, 0, 2400.0),
            ("acc_b", DAYS[-2], 50, 6, 0.12, 44, 6000.0),
        ],
    ),
    "fct_account_health_weekly": (
        [
            ("account_id", "varchar"),
            ("week_start", "date"),
            ("usage_score", "double precision"),
            ("support_score", "double precision"),
            ("sentiment_score", "double precision"),
            ("trend_score", "double precision"),
            ("health_score", "double precision"),
            ("health_band", "varchar"),
        ],
        [
            ("acc_a", WEEKS[2], 90.0, 100.0, 80.0, 50.0, 82.0, "healthy"),
            ("acc_a", WEEKS[3], 90.0, 100.0, 80.0, 50.0, 82.0, "healthy"),
            ("acc_b", WEEKS[2], 12.0, 60.0, 50.0, 40.0, 34.8, "critical"),
            ("acc_b", WEEKS[3], 10.0, 40.0, 50.0, 30.0, 28.0, "critical"),
            ("acc_c", WEEKS[3], 100.0, 20.0, 30.0, 50.0, 60.0, "at_risk"),
        ],
    ),
    "dim_accounts": (
        [
            ("account_id", "varchar"),
            ("account_name", "varchar"),
            ("plan", "varchar"),
            ("seats_purchased", "integer"),
            ("arr", "double precision"),
        ],
        [
            ("acc_a", "Alpha Ltd", "pro", 10, 1200.0),
            ("acc_b", "Beta GmbH", "team", 50, 6000.0),
            ("acc_c", None, None, 20, 2400.0),
        ],
    ),
    "fct_user_lifecycle_weekly": (
        [
            ("week_start", "date"),
            ("active_users", "integer"),
            ("new_users", "integer"),
            ("returning_users", "integer"),
            ("resurrected_users", "integer"),
            ("dormant_users", "integer"),
            ("quick_ratio", "double precision"),
        ],
        [
            (WEEKS[0], 8, 8, 0, 0, 0, None),
            (WEEKS[1], 11, 5, 6, 0, 2, 2.5),
            (WEEKS[2], 10, 4, 5, 1, 6, 5 / 6),
            (WEEKS[3], 6, 2, 4, 0, 6, 1 / 3),
        ],
    ),
    "fct_engagement_l28": (
        [
            ("snapshot_date", "date"),
            ("days_active", "integer"),
            ("users", "integer"),
            ("share_of_active", "double precision"),
        ],
        [(AS_OF, k, max(0, 10 - k), max(0, 10 - k) / 45) for k in range(1, 29)],
    ),
    "fct_experiment_results": (
        [
            ("experiment_id", "varchar"),
            ("variation_id", "varchar"),
            ("is_control", "boolean"),
            ("exposed_users", "integer"),
            ("converted_users", "integer"),
            ("conversion_rate", "double precision"),
            ("absolute_lift", "double precision"),
            ("relative_lift", "double precision"),
            ("ci_low", "double precision"),
            ("ci_high", "double precision"),
            ("p_value", "double precision"),
            ("srm_p_value", "double precision"),
            ("has_srm", "boolean"),
        ],
        [
            ("checkout", "control", True, 100, 10, 0.1, None, None, None, None, None, 0.5, False),
            ("checkout", "new", False, 100, 15, 0.15, 0.05, 0.5, -0.04, 0.14, 0.29, 0.5, False),
            ("onboarding", "a", True, 200, 20, 0.1, None, None, None, None, None, 1e-6, True),
            ("onboarding", "b", False, 100, 12, 0.12, 0.02, 0.2, -0.05, 0.09, 0.6, 1e-6, True),
        ],
    ),
}


def statements(names: list[str]) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """Portable DDL and inserts (the same text runs on DuckDB and PostgreSQL)."""
    statements: list[tuple[str, list[tuple[Any, ...]]]] = [("create schema marts", [])]
    for name in names:
        columns, rows = MARTS[name]
        spec = ", ".join(f"{c} {t}" for c, t in columns)
        statements.append((f"create table marts.{name} ({spec})", []))
        marks = ", ".join(["%s"] * len(columns))
        statements.append((f"insert into marts.{name} values ({marks})", rows))
    return statements


def make_duckdb_marts(path: Path, names: list[str] | None = None) -> Path:
    """A DuckDB file holding `names` (all by default) of the marts above."""
    with duckdb.connect(str(path)) as con:
        for sql, rows in statements(names or list(MARTS)):
            if rows:
                con.executemany(sql.replace("%s", "?"), rows)
            else:
                con.execute(sql)
    return path
