"""The usage marts computed from `raw_segment.events` and the seeds, in plain Python.

METRICS.md "Product usage", "Usage depth" and the usage rows of `metrics_daily`. Where
METRICS.md is silent, the decision written in docs/metrics.md is followed and named.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from tests.toolkit.independent.compare import Expected
from tests.toolkit.independent.raw import FIRST_COPY_EVENTS

DAY = dt.timedelta(days=1)
WEEK = 7 * DAY
COMPANY_METRICS = ["dau", "wau", "mau", "stickiness", "new_users"]
ACCOUNT_METRICS = ["active_users", "events"]

# First copy of each messageId (docs/metrics.md, "Re-delivered records": earliest load, then
# earliest received_at, then file); only rows of completed loads; ids trimmed, '' is null.
FIRST_COPIES = f"""
with first_copy as ({FIRST_COPY_EVENTS})
select
    message_id,
    type,
    timezone('UTC', "timestamp") as ts,
    timezone('UTC', received_at) as received_at,
    nullif(trim(user_id, ' '), '') as user_id,
    event,
    nullif(trim(group_id, ' '), '') as group_id,
    nullif(trim(context_group_id, ' '), '') as context_group_id
from first_copy
where "timestamp" is not null
"""


@dataclass
class Event:
    """One Segment message, first copy, times as naive UTC."""

    message_id: str
    type: str
    ts: dt.datetime
    received_at: dt.datetime | None
    user_id: str | None
    event: str | None
    group_id: str | None
    context_group_id: str | None

    @property
    def day(self) -> dt.date:
        return self.ts.date()


@dataclass
class Activity:
    """Who was active when: what every usage mart is counted from."""

    events: list[Event]
    as_of: dt.date
    first_day: dt.date
    user_days: dict[str, set[dt.date]] = field(default_factory=dict)
    day_users: dict[dt.date, set[str]] = field(default_factory=dict)
    week_users: dict[dt.date, set[str]] = field(default_factory=dict)
    first_active: dict[str, dt.date] = field(default_factory=dict)

    @property
    def identified(self) -> list[Event]:
        """Identified track/page events: the ones that make a user active."""
        return [e for e in self.events if e.type in ("track", "page") and e.user_id is not None]

    def users_in(self, first: dt.date, last: dt.date) -> set[str]:
        """Users active on any day of [first, last]."""
        users: set[str] = set()
        for day in days(first, last):
            users |= self.day_users.get(day, set())
        return users

    def weeks(self) -> list[dt.date]:
        """Every week from the first event's week to the as-of date's week."""
        return list(days(monday(self.first_day), self.as_of, WEEK))


def monday(day: dt.date) -> dt.date:
    """The Monday that starts the day's week."""
    return day - dt.timedelta(days=day.weekday())


def days(first: dt.date, last: dt.date, step: dt.timedelta = DAY) -> list[dt.date]:
    """The days first, first + step, ... up to last."""
    out = []
    while first <= last:
        out.append(first)
        first += step
    return out


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator; null when the denominator is 0 (METRICS.md, Conventions)."""
    return numerator / denominator if denominator else None


def read_seed(seeds: Path, name: str) -> list[dict[str, str]]:
    """Rows of a dbt seed CSV."""
    with (seeds / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def activity(con: duckdb.DuckDBPyConnection) -> Activity:
    """Active users per day and week; as-of date and first event day over track/page events.

    Anonymous track/page events count for both dates (docs/metrics.md, "As-of date").
    """
    events = [Event(*row) for row in con.execute(FIRST_COPIES).fetchall()]
    track_or_page = [e.day for e in events if e.type in ("track", "page")]
    found = Activity(events, as_of=max(track_or_page), first_day=min(track_or_page))
    user_days: dict[str, set[dt.date]] = defaultdict(set)
    for e in found.identified:
        assert e.user_id is not None
        user_days[e.user_id].add(e.day)
    day_users: dict[dt.date, set[str]] = defaultdict(set)
    week_users: dict[dt.date, set[str]] = defaultdict(set)
    for user, active_days in user_days.items():
        for day in active_days:
            day_users[day].add(user)
            week_users[monday(day)].add(user)
    found.user_days = dict(user_days)
    found.day_users = dict(day_users)
    found.week_users = dict(week_users)
    found.first_active = {user: min(d) for user, d in user_days.items()}
    return found


def active_users_daily(act: Activity) -> pd.DataFrame:
    """Every day from the first event day to the as-of date, zeros included."""
    new_per_day: dict[dt.date, int] = defaultdict(int)
    for first in act.first_active.values():
        new_per_day[first] += 1
    rows = []
    for day in days(act.first_day, act.as_of):
        dau = len(act.day_users.get(day, ()))
        wau = len(act.users_in(day - 6 * DAY, day))
        mau = len(act.users_in(day - 27 * DAY, day))
        rows.append((day, dau, wau, mau, ratio(dau, mau), new_per_day[day]))
    columns = ["activity_date", "dau", "wau", "mau", "stickiness", "new_users"]
    return pd.DataFrame(rows, columns=columns)


def account_of(act: Activity) -> dict[str, str]:
    """Each user's account from their latest group call by timestamp, over all time.

    Only group calls with a userId and a groupId attribute. On a timestamp tie the later
    received_at, then the greater messageId wins (docs/metrics.md, `dim_accounts`).
    """
    latest: dict[str, tuple[Any, ...]] = {}
    for e in act.events:
        if e.type != "group" or e.user_id is None or e.group_id is None:
            continue
        rank = (e.ts, e.received_at or dt.datetime.min, e.message_id)
        if e.user_id not in latest or rank > latest[e.user_id][0]:
            latest[e.user_id] = (rank, e.group_id)
    return {user: group for user, (_, group) in latest.items()}


def account_activity_daily(act: Activity) -> pd.DataFrame:
    """Accounts and days with an active user: context.groupId, else the latest group call."""
    group_of = account_of(act)
    users: dict[tuple[str, dt.date], set[str]] = defaultdict(set)
    events: dict[tuple[str, dt.date], int] = defaultdict(int)
    for e in act.identified:
        assert e.user_id is not None
        account = e.context_group_id or group_of.get(e.user_id)
        if account is None:
            continue  # unknown account: no account row anywhere
        users[(account, e.day)].add(e.user_id)
        events[(account, e.day)] += 1
    rows = [(a, d, len(u), events[(a, d)]) for (a, d), u in users.items()]
    return pd.DataFrame(rows, columns=["account_id", "activity_date", "active_users", "events"])


def feature_adoption_weekly(act: Activity, seeds: Path) -> pd.DataFrame:
    """Every week x every feature of the tracking plan; track events by exact event name."""
    plan = read_seed(seeds, "feature_tracking_plan.csv")
    features_of: dict[str, set[str]] = defaultdict(set)
    for row in plan:
        features_of[row["event_name"]].add(row["feature"])
    feature_users: dict[tuple[dt.date, str], set[str]] = defaultdict(set)
    for e in act.identified:
        if e.type == "track" and e.event is not None:
            for feature in features_of.get(e.event, ()):
                feature_users[(monday(e.day), feature)].add(str(e.user_id))
    rows = []
    for week in act.weeks():
        active = len(act.week_users.get(week, ()))
        for feature in sorted({row["feature"] for row in plan}):
            users = len(feature_users.get((week, feature), ()))
            rows.append((week, feature, users, active, ratio(users, active)))
    columns = ["week_start", "feature", "feature_users", "active_users", "adoption_rate"]
    return pd.DataFrame(rows, columns=columns)


def retention_weekly(act: Activity) -> pd.DataFrame:
    """Cohort = week of the first active day; k while cohort_week + 7k <= as-of date."""
    cohorts: dict[dt.date, set[str]] = defaultdict(set)
    for user, first in act.first_active.items():
        cohorts[monday(first)].add(user)
    rows = []
    for cohort_week, users in sorted(cohorts.items()):
        for k, week in enumerate(days(cohort_week, act.as_of, WEEK)):
            retained = len(users & act.week_users.get(week, set()))
            rows.append((cohort_week, k, len(users), retained, ratio(retained, len(users))))
    columns = [
        "cohort_week",
        "weeks_since_first_active",
        "cohort_users",
        "retained_users",
        "retention_rate",
    ]
    return pd.DataFrame(rows, columns=columns)


def user_lifecycle_weekly(act: Activity) -> pd.DataFrame:
    """Growth accounting: new, returning, resurrected, dormant users per week."""
    rows = []
    for week in act.weeks():
        current = act.week_users.get(week, set())
        previous = act.week_users.get(week - WEEK, set())
        new = {u for u in current if monday(act.first_active[u]) == week}
        returning = (current - new) & previous
        resurrected = current - new - returning
        dormant = previous - current
        quick = ratio(len(new) + len(resurrected), len(dormant))
        rows.append(
            (week, len(current), len(new), len(returning), len(resurrected), len(dormant), quick)
        )
    columns = [
        "week_start",
        "active_users",
        "new_users",
        "returning_users",
        "resurrected_users",
        "dormant_users",
        "quick_ratio",
    ]
    return pd.DataFrame(rows, columns=columns)


def engagement_l28(act: Activity) -> pd.DataFrame:
    """Snapshots every 7th day back from the as-of date while [d-27, d] starts in the data."""
    rows = []
    snapshot = act.as_of
    while snapshot - 27 * DAY >= act.first_day:
        window = snapshot - 27 * DAY
        users_per_k: dict[int, int] = defaultdict(int)
        for active_days in act.user_days.values():
            k = sum(1 for d in active_days if window <= d <= snapshot)
            if k:
                users_per_k[k] += 1
        active = sum(users_per_k.values())
        for k in range(1, 29):
            rows.append((snapshot, k, users_per_k[k], ratio(users_per_k[k], active)))
        snapshot -= WEEK
    return pd.DataFrame(rows, columns=["snapshot_date", "days_active", "users", "share_of_active"])


def funnel_weekly(act: Activity, seeds: Path) -> pd.DataFrame:
    """Entry at the first step-1 event; step k reached in order before t1 + window days.

    Each step takes the earliest qualifying event (docs/metrics.md, `fct_funnel_weekly`),
    which reaches a step exactly when some ordered chain does.
    """
    windows = {
        r["funnel_id"]: int(r["conversion_window_days"]) for r in read_seed(seeds, "funnels.csv")
    }
    steps: dict[str, dict[int, str]] = defaultdict(dict)
    for row in read_seed(seeds, "funnel_steps.csv"):
        steps[row["funnel_id"]][int(row["step_number"])] = row["event_name"]
    times: dict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
    for e in act.identified:
        if e.type == "track" and e.event is not None:
            times[(str(e.user_id), e.event)].append(e.ts)
    for found in times.values():
        found.sort()
    rows = []
    for funnel_id, window in windows.items():
        names = steps[funnel_id]
        reached: dict[tuple[dt.date, int], int] = defaultdict(int)
        for (user, event), at in times.items():
            if event != names[1]:
                continue
            t = at[0]
            end = t + dt.timedelta(days=window)
            cohort = monday(t.date())
            reached[(cohort, 1)] += 1
            for k in range(2, max(names) + 1):
                later = [x for x in times.get((user, names[k]), []) if t <= x < end]
                if not later:
                    break
                t = later[0]
                reached[(cohort, k)] += 1
        for cohort in sorted({c for c, k in reached if k == 1}):
            entrants = reached[(cohort, 1)]
            complete = cohort + 6 * DAY + window * DAY <= act.as_of
            for k in range(1, max(names) + 1):
                users = reached.get((cohort, k), 0)
                previous = None if k == 1 else ratio(users, reached.get((cohort, k - 1), 0))
                rows.append(
                    (
                        funnel_id,
                        cohort,
                        k,
                        names[k],
                        users,
                        ratio(users, entrants),
                        previous,
                        complete,
                    )
                )
    columns = [
        "funnel_id",
        "cohort_week",
        "step_number",
        "event_name",
        "users",
        "conversion_from_start",
        "conversion_from_previous",
        "is_complete",
    ]
    return pd.DataFrame(rows, columns=columns)


def metrics_daily_usage(daily: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """The usage rows of metrics_daily: each equal to its mart (a null stays a null)."""
    rows = [
        (name, None, r["activity_date"], r[name])
        for r in daily.to_dict("records")
        for name in COMPANY_METRICS
    ]
    rows += [
        (name, r["account_id"], r["activity_date"], r[name])
        for r in accounts.to_dict("records")
        for name in ACCOUNT_METRICS
    ]
    return pd.DataFrame(rows, columns=["metric_name", "account_id", "metric_date", "value"])


def expected_marts(con: duckdb.DuckDBPyConnection, seeds: Path) -> list[Expected]:
    """Every usage mart, and the usage slice of metrics_daily, as METRICS.md defines them."""
    act = activity(con)
    daily = active_users_daily(act)
    accounts = account_activity_daily(act)
    usage_rows = (
        f"(account_id is null and metric_name in {tuple(COMPANY_METRICS)})"
        f" or (account_id is not null and metric_name in {tuple(ACCOUNT_METRICS)})"
    )
    return [
        Expected("fct_active_users_daily", ["activity_date"], daily),
        Expected("fct_account_activity_daily", ["account_id", "activity_date"], accounts),
        Expected(
            "fct_feature_adoption_weekly",
            ["week_start", "feature"],
            feature_adoption_weekly(act, seeds),
        ),
        Expected(
            "fct_retention_weekly",
            ["cohort_week", "weeks_since_first_active"],
            retention_weekly(act),
        ),
        Expected("fct_user_lifecycle_weekly", ["week_start"], user_lifecycle_weekly(act)),
        Expected("fct_engagement_l28", ["snapshot_date", "days_active"], engagement_l28(act)),
        Expected(
            "fct_funnel_weekly",
            ["funnel_id", "cohort_week", "step_number"],
            funnel_weekly(act, seeds),
        ),
        Expected(
            "metrics_daily",
            ["metric_name", "account_id", "metric_date"],
            metrics_daily_usage(daily, accounts),
            where=usage_rows,
        ),
    ]
