"""End to end: a hand-made raw warehouse -> `dbt build` -> every mart row checked by hand.

The raw rows are tests/toolkit/usage_fixture.py: each rule of docs/metrics.md that is easy to get
wrong has a row that breaks the mart if the rule is broken, and its docstring tells who is
active on which day, in which account (2024-01-01 is a Monday; the as-of date is Jan 31).
USER_DAYS below restates the activity.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest

from tests.toolkit.dbt import L1, L2, L_FAILED, create_raw_warehouse, run_dbt
from tests.toolkit.usage_fixture import RAW_ROWS
from tests.toolkit.warehouse import query

pytestmark = pytest.mark.slow

D = dt.date
AS_OF = D(2024, 1, 31)
USER_DAYS = {
    "u1": [D(2024, 1, 1), D(2024, 1, 2), D(2024, 1, 9), D(2024, 1, 28), D(2024, 1, 29)],
    "u2": [D(2024, 1, 3), D(2024, 1, 15)],
    "u3": [D(2024, 1, 8), D(2024, 1, 22)],
    "u4": [D(2024, 1, 29)],
}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("dbt_usage")
    path = work / "warehouse.duckdb"
    create_raw_warehouse(path, RAW_ROWS, completed_loads=[L1, L2], failed_loads=[L_FAILED])
    started = time.monotonic()
    result = run_dbt(["build"], path, work)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    print(f"dbt build took {elapsed:.1f}s")
    return path


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _active(start: dt.date, end: dt.date) -> set[str]:
    return {user for user, days in USER_DAYS.items() if any(start <= d <= end for d in days)}


def test_active_users_daily(warehouse: Path) -> None:
    rows = query(
        warehouse,
        "select activity_date, dau, wau, mau, stickiness, new_users"
        " from marts.fct_active_users_daily order by activity_date",
    )
    first_days = {min(days) for days in USER_DAYS.values()}
    expected = []
    for day in _days(D(2024, 1, 1), AS_OF):
        dau = len(_active(day, day))
        wau = len(_active(day - dt.timedelta(days=6), day))
        mau = len(_active(day - dt.timedelta(days=27), day))
        new = sum(1 for d in first_days if d == day)
        expected.append((day, dau, wau, mau, dau / mau if mau else None, new))
    assert rows == expected
    # Spot checks written out: the 7-day window ending Jan 9 is Jan 3..9 (u2, u3, u1); the
    # 28-day window ending Jan 29 is Jan 2..29 (all four); Jan 1 is not in it but Jan 2 is.
    by_day = {row[0]: row for row in rows}
    assert by_day[D(2024, 1, 9)][1:4] == (1, 3, 3)
    assert by_day[D(2024, 1, 29)][1:4] == (2, 2, 4)
    assert by_day[D(2024, 1, 31)][1:4] == (0, 2, 4)
    assert by_day[D(2024, 1, 4)][1:] == (0, 2, 2, 0.0, 0)
    assert len(rows) == 31  # no day after the as-of date, zero days kept


def test_account_activity_daily(warehouse: Path) -> None:
    rows = query(
        warehouse,
        "select account_id, activity_date, active_users, events"
        " from marts.fct_account_activity_daily order by account_id, activity_date",
    )
    assert rows == [
        ("acc_a", D(2024, 1, 1), 1, 1),
        ("acc_a", D(2024, 1, 3), 1, 1),
        ("acc_a", D(2024, 1, 9), 1, 1),
        ("acc_a", D(2024, 1, 29), 2, 3),
        ("acc_b", D(2024, 1, 2), 1, 1),
        ("acc_b", D(2024, 1, 3), 1, 1),
        ("acc_b", D(2024, 1, 28), 1, 1),
        ("acc_c", D(2024, 1, 15), 1, 1),
    ]


def test_feature_adoption_weekly(warehouse: Path) -> None:
    rows = query(
        warehouse,
        "select week_start, feature, feature_users, active_users, adoption_rate"
        " from marts.fct_feature_adoption_weekly order by week_start, feature",
    )
    weeks = [D(2024, 1, 1), D(2024, 1, 8), D(2024, 1, 15), D(2024, 1, 22), D(2024, 1, 29)]
    active = dict(zip(weeks, [2, 2, 1, 2, 2], strict=True))
    users = {
        (D(2024, 1, 1), "reports"): 2,
        (D(2024, 1, 1), "dashboards"): 1,
        (D(2024, 1, 8), "exports"): 1,
        (D(2024, 1, 29), "ai_insights"): 1,
        (D(2024, 1, 29), "reports"): 1,
        (D(2024, 1, 29), "dashboards"): 1,
    }
    features = sorted(["reports", "dashboards", "alerts", "exports", "ai_insights"])
    expected = [
        (
            week,
            feature,
            users.get((week, feature), 0),
            active[week],
            users.get((week, feature), 0) / active[week],
        )
        for week in weeks
        for feature in features
    ]
    assert rows == expected


def test_retention_weekly(warehouse: Path) -> None:
    rows = query(
        warehouse,
        "select cohort_week, weeks_since_first_active, cohort_users, retained_users, retention_rate"
        " from marts.fct_retention_weekly order by cohort_week, weeks_since_first_active",
    )
    w1, w2, w5 = D(2024, 1, 1), D(2024, 1, 8), D(2024, 1, 29)
    assert rows == [
        (w1, 0, 2, 2, 1.0),
        (w1, 1, 2, 1, 0.5),
        (w1, 2, 2, 1, 0.5),
        (w1, 3, 2, 1, 0.5),
        (w1, 4, 2, 1, 0.5),
        (w2, 0, 1, 1, 1.0),
        (w2, 1, 1, 0, 0.0),
        (w2, 2, 1, 1, 1.0),
        (w2, 3, 1, 0, 0.0),
        (w5, 0, 1, 1, 1.0),
    ]


UTC = dt.UTC


def _at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).astimezone(UTC)


def test_tickets(warehouse: Path) -> None:
    rows = query(
        warehouse,
        "select ticket_id, account_id, created_at, solved_at, status, priority, channel,"
        " first_reply_minutes_calendar, first_reply_minutes_business,"
        " full_resolution_minutes_calendar, full_resolution_minutes_business, reopens,"
        " satisfaction, first_reply_target_minutes, is_first_reply_sla_breached"
        " from marts.fct_tickets order by ticket_id",
    )
    assert rows == [
        (
            1,
            "acc_a",
            _at("2024-01-02T10:00:00Z"),
            _at("2024-01-03T12:00:00Z"),
            "solved",
            "urgent",
            "email",
            90,
            45,
            1560,
            600,
            1,
            "good",
            60,
            False,
        ),
        (
            2,
            "acc_a",
            _at("2024-01-02T15:00:00Z"),
            None,
            "open",
            None,
            "web",
            None,
            None,
            None,
            None,
            0,
            None,
            480,
            None,
        ),
        (
            3,
            None,
            _at("2024-01-06T04:30:00Z"),
            _at("2024-01-08T10:00:00Z"),
            "pending",
            "high",
            "chat",
            300,
            250,
            3000,
            1000,
            0,
            "bad",
            240,
            True,
        ),
        # Its latest good/bad rating is Feb 2's bad: fct_tickets is per ticket, not cut at
        # the as-of date.
        (
            5,
            "acc_b",
            _at("2024-01-10T08:00:00Z"),
            _at("2024-01-10T09:00:00Z"),
            "closed",
            "normal",
            "email",
            20,
            20,
            60,
            60,
            0,
            "bad",
            480,
            False,
        ),
    ]


def test_support_daily(warehouse: Path) -> None:
    rows = query(
        warehouse,
        "select activity_date, tickets_created, tickets_solved, backlog,"
        " median_first_reply_minutes_business, sla_breach_rate"
        " from marts.fct_support_daily order by activity_date",
    )
    created = {D(2024, 1, 2): 2, D(2024, 1, 6): 1, D(2024, 1, 10): 1}
    solved = {D(2024, 1, 3): 1, D(2024, 1, 8): 1, D(2024, 1, 10): 1}
    backlog = {D(2024, 1, 2): 2, D(2024, 1, 6): 2, D(2024, 1, 7): 2}
    replies = {D(2024, 1, 2): (45.0, 0.0), D(2024, 1, 6): (250.0, 1.0), D(2024, 1, 10): (20.0, 0.0)}
    expected = [
        (
            day,
            created.get(day, 0),
            solved.get(day, 0),
            backlog.get(day, 1),
            *replies.get(day, (None, None)),
        )
        for day in _days(D(2024, 1, 2), AS_OF)
    ]
    assert rows == expected


def test_nps_monthly(warehouse: Path) -> None:
    rows = query(
        warehouse,
        "select month_start, responses, promoters, passives, detractors, nps"
        " from marts.fct_nps_monthly order by month_start",
    )
    assert rows == [
        (D(2023, 12, 1), 1, 0, 0, 1, -100.0),
        # u1: latest January answer is the CSV 9 (Jan 25), not Typeform 3 (Jan 20) or 10;
        # the anonymous 8 counts; u2's 9 exported twice counts once; tf4 has no score.
        (D(2024, 1, 1), 3, 2, 1, 0, 66.7),
    ]


def test_csat_monthly(warehouse: Path) -> None:
    rows = query(
        warehouse,
        "select month_start, source, responses, satisfied, csat_pct"
        " from marts.fct_csat_monthly order by month_start, source",
    )
    assert rows == [
        (D(2023, 12, 1), "zendesk", 1, 1, 100.0),
        (D(2024, 1, 1), "survey", 3, 2, 66.7),
        # bad, good, bad; offered/unoffered are not responses; the deleted ticket's good
        # rating counts nowhere; February is after the as-of month.
        (D(2024, 1, 1), "zendesk", 3, 1, 33.3),
    ]


ACCOUNT_USER_DAYS = {
    "acc_a": {
        "u1": [D(2024, 1, 1), D(2024, 1, 9), D(2024, 1, 29)],
        "u2": [D(2024, 1, 3)],
        "u4": [D(2024, 1, 29)],
    },
    "acc_b": {"u1": [D(2024, 1, 2), D(2024, 1, 28)], "u2": [D(2024, 1, 3)]},
}


def _active_28d(account: str, day: dt.date) -> int:
    start = day - dt.timedelta(days=27)
    return sum(
        1 for days in ACCOUNT_USER_DAYS[account].values() if any(start <= d <= day for d in days)
    )


def _seat_rows() -> list[tuple[Any, ...]]:
    expected = []
    for account, first, seats_arr in [
        # sub_1 (4 seats, 3 x $10/month + 1 x $120/year = $480) all month; sub_3 (2 seats,
        # $120) Jan 10..19 although canceled on Jan 12.
        (
            "acc_a",
            D(2024, 1, 1),
            lambda d: (6, 600.0) if D(2024, 1, 10) <= d <= D(2024, 1, 19) else (4, 480.0),
        ),
        ("acc_b", D(2024, 1, 15), lambda d: (2, 1000.0)),
    ]:
        for day in _days(first, AS_OF):
            seats, arr = seats_arr(day)
            active = _active_28d(account, day)
            expected.append(
                (account, day, seats, active, active / seats, max(seats - active, 0), arr)
            )
    return expected


def test_seat_utilization_daily(warehouse: Path) -> None:
    rows = query(
        warehouse,
        "select account_id, activity_date, seats_purchased, active_users_28d, utilization,"
        " unused_seats, arr from marts.fct_seat_utilization_daily"
        " order by account_id, activity_date",
    )
    expected = _seat_rows()
    assert rows == expected
    by_key = {(row[0], row[1]): row for row in rows}
    assert by_key[("acc_a", D(2024, 1, 29))][3] == 3  # u1, u2 (Jan 3 in Jan 2..29), u4
    assert by_key[("acc_a", D(2024, 1, 31))][3] == 2  # u2's Jan 3 left the window
    assert by_key[("acc_b", D(2024, 1, 31))][2:4] == (2, 1)


def test_dim_accounts(warehouse: Path) -> None:
    rows = query(
        warehouse,
        "select account_id, account_name, plan, first_seen_at, seats_purchased, arr,"
        " is_active_customer from marts.dim_accounts order by account_id",
    )
    assert rows == [
        ("acc_a", "Acme Corp", "enterprise", _at("2023-01-01T00:00:00Z"), 4, 480.0, True),
        ("acc_b", "Beta Inc", "pro", _at("2023-11-01T00:00:00Z"), 2, 1000.0, True),
        ("acc_c", "Gamma", "starter", _at("2024-01-02T00:00:00Z"), 0, 0.0, False),
        ("acc_d", None, None, _at("2023-12-15T00:00:00Z"), 0, 0.0, False),
        ("acc_e", None, None, _at("2023-12-15T00:00:00Z"), 0, 0.0, False),
        ("acc_f", None, None, _at("2024-01-15T00:00:00Z"), 0, 0.0, False),
    ]


def test_account_health_weekly(warehouse: Path) -> None:
    rows = query(
        warehouse,
        "select account_id, week_start, usage_score, support_score, sentiment_score,"
        " trend_score, health_score, health_band"
        " from marts.fct_account_health_weekly order by account_id, week_start",
    )
    third = 100.0 * 2 / 6
    expected = [
        ("acc_a", D(2024, 1, 1), 50.0, 80.0, 100.0, 100.0, 76.0, "healthy"),
        ("acc_a", D(2024, 1, 8), third, 80.0, 100.0, 100.0, 69.3, "at_risk"),
        ("acc_a", D(2024, 1, 15), 50.0, 80.0, 30.0, 50.0, 52.0, "at_risk"),
        ("acc_a", D(2024, 1, 22), 50.0, 80.0, 90.0, 50.0, 64.0, "at_risk"),
        ("acc_a", D(2024, 1, 29), 50.0, 100.0, 90.0, 50.0, 68.0, "at_risk"),
        ("acc_b", D(2024, 1, 15), 100.0, 100.0, 90.0, 50.0, 88.0, "healthy"),
        ("acc_b", D(2024, 1, 22), 100.0, 100.0, 90.0, 100.0, 98.0, "healthy"),
        ("acc_b", D(2024, 1, 29), 50.0, 100.0, 90.0, 0.0, 58.0, "at_risk"),
    ]
    assert [row[:2] + row[6:] for row in rows] == [row[:2] + row[6:] for row in expected]
    for got, want in zip(rows, expected, strict=True):
        assert got[2:6] == pytest.approx(want[2:6])


def test_metrics_daily_equals_the_marts(warehouse: Path) -> None:
    mismatches = query(
        warehouse,
        """
        with company as (
            select activity_date as metric_date, name as metric_name,
                   cast(null as varchar) as account_id, value
            from marts.fct_active_users_daily
            unpivot include nulls (value for name in (dau, wau, mau, stickiness, new_users))
            union all
            select activity_date, name, null, value
            from (select activity_date, cast(tickets_created as double) as tickets_created,
                         cast(tickets_solved as double) as tickets_solved,
                         cast(backlog as double) as backlog from marts.fct_support_daily)
            unpivot include nulls (value for name in (tickets_created, tickets_solved, backlog))
            union all
            select activity_date, 'active_users', account_id, active_users
            from marts.fct_account_activity_daily
            union all
            select activity_date, name, account_id, value
            from (select activity_date, account_id, utilization,
                         cast(seats_purchased as double) as seats_purchased
                  from marts.fct_seat_utilization_daily)
            unpivot include nulls (value for name in (seats_purchased, utilization))
        )
        select company.*, metrics.value
        from company
        left join marts.metrics_daily as metrics
            on company.metric_date = metrics.metric_date
            and company.metric_name = metrics.metric_name
            and company.account_id is not distinct from metrics.account_id
        where metrics.metric_date is null or company.value is distinct from metrics.value
        """,
    )
    assert mismatches == []
    spot = query(
        warehouse,
        "select metric_name, account_id, value from marts.metrics_daily"
        " where metric_date = date '2024-01-29' and metric_name in ('dau', 'mau', 'backlog',"
        " 'active_users', 'seats_purchased', 'utilization') order by metric_name, account_id",
    )
    assert spot == [
        ("active_users", "acc_a", 2.0),
        ("backlog", None, 1.0),
        ("dau", None, 2.0),
        ("mau", None, 4.0),
        ("seats_purchased", "acc_a", 4.0),
        ("seats_purchased", "acc_b", 2.0),
        ("utilization", "acc_a", 0.75),
        ("utilization", "acc_b", 1.0),
    ]
