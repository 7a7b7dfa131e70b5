"""End to end: a hand-made raw warehouse -> `dbt build` -> every mart row checked by hand.

The fixture is small enough to reason about on paper. Each rule of METRICS.md that is easy to
get wrong has a row that breaks the mart if the rule is broken: a messageId delivered twice
(the second copy differs), a load missing from `_dlt_loads` and one with status 1, an event
without `context.groupId` attributed through the user's latest group call by timestamp (which
arrived first), an event whose local date differs from its UTC date, anonymous events, a
lowercase event name, an empty-string id.

Product fixture (2024-01-01 is a Monday; weeks W1..W5 start Jan 1, 8, 15, 22, 29):

    user  active UTC days           account per event
    u1    Jan 1, 2, 9, 28, 29       1: acc_a (context), 2: acc_b (latest group call),
                                    9: acc_a, 28: acc_b, 29: acc_a
    u2    Jan 3, 15                 3: acc_b and acc_a (two events), 15: acc_c (group call)
    u3    Jan 8, 22                 unknown (no usable group call; empty context.groupId)
    u4    Jan 29                    acc_a (two events)

    anonymous track/page events on Jan 4, 10 and 31: the as-of date is Jan 31.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest

from tests.dbt_fixtures import create_raw_warehouse, fetch_rows, run_dbt

pytestmark = pytest.mark.slow

L1 = "1704000000.000001"  # completed
L2 = "1704100000.000002"  # completed, later
L_FAILED = "1704150000.000008"  # in _dlt_loads with status 1
L_CRASHED = "1704200000.000009"  # not in _dlt_loads at all

D = dt.date


def _event(message_id: str, kind: str, ts: str, load: str = L1, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "type": kind,
        "timestamp": ts,
        "received_at": fields.pop("received_at", ts),
        "_source_file": fields.pop("_source_file", "events/2024/01/01/a.jsonl.gz"),
        "_dlt_load_id": load,
        **fields,
    }


EVENTS = [
    _event(
        "m1",
        "track",
        "2024-01-01T10:00:00Z",
        user_id="u1",
        event="Report Created",
        context_group_id="acc_a",
    ),
    # Second copy of m1: different content, later load. Must not count.
    _event(
        "m1",
        "track",
        "2024-01-05T10:00:00Z",
        load=L2,
        user_id="u1",
        event="Alert Configured",
        context_group_id="acc_c",
    ),
    # Local Jan 1 23:30 at -02:00 is Jan 2 01:30 UTC. No context.groupId: latest group call.
    _event("m2", "page", "2024-01-01T23:30:00-02:00", user_id="u1", name="Home"),
    _event(
        "m3",
        "track",
        "2024-01-03T08:00:00Z",
        user_id="u2",
        event="Dashboard Viewed",
        context_group_id="acc_b",
    ),
    _event(
        "m4",
        "track",
        "2024-01-03T09:00:00Z",
        user_id="u2",
        event="Report Shared",
        context_group_id="acc_a",
    ),
    _event(
        "m5",
        "track",
        "2024-01-04T09:00:00Z",
        anonymous_id="a1",
        event="Report Created",
        context_group_id="acc_c",
    ),
    _event("m6", "track", "2024-01-08T09:00:00Z", user_id="u3", event="report created"),
    _event("m7", "identify", "2024-01-09T08:00:00Z", user_id="u4", traits='{"email": "x"}'),
    _event(
        "m8",
        "track",
        "2024-01-09T09:00:00Z",
        user_id="u1",
        event="Export Downloaded",
        context_group_id="acc_a",
    ),
    _event("m9", "page", "2024-01-15T09:00:00Z", user_id="u2", name="Reports"),
    _event(
        "m10",
        "track",
        "2024-01-29T09:00:00Z",
        user_id="u4",
        event="AI Insight Generated",
        context_group_id="acc_a",
    ),
    # Empty-string userId: anonymous.
    _event(
        "m11",
        "track",
        "2024-01-10T09:00:00Z",
        user_id="",
        anonymous_id="a2",
        event="Report Created",
        context_group_id="acc_a",
    ),
    # Empty-string context.groupId: no context; u3 has no usable group call.
    _event("m12", "page", "2024-01-22T09:00:00Z", user_id="u3", name="Home", context_group_id=""),
    _event("m13", "page", "2024-01-28T23:59:59Z", user_id="u1", name="Dashboards"),
    _event("m14", "page", "2024-01-31T12:00:00Z", anonymous_id="a4", name="Home"),
    _event(
        "m15",
        "track",
        "2024-01-29T10:00:00Z",
        user_id="u4",
        event="Report Created",
        context_group_id="acc_a",
    ),
    _event(
        "m16",
        "track",
        "2024-01-29T11:00:00Z",
        user_id="u1",
        event="Dashboard Created",
        context_group_id="acc_a",
    ),
    # Group calls. u1: acc_a at Jan 1, acc_b at Jan 20 (arrived first, in the earlier load).
    _event(
        "g1",
        "group",
        "2024-01-01T09:00:00Z",
        load=L2,
        user_id="u1",
        group_id="acc_a",
        traits='{"name": "Acme", "plan": "enterprise"}',
    ),
    _event(
        "g2",
        "group",
        "2024-01-20T00:00:00Z",
        received_at="2023-12-31T00:00:00Z",
        user_id="u1",
        group_id="acc_b",
        traits='{"name": "Beta Inc", "plan": "pro"}',
    ),
    _event(
        "g3",
        "group",
        "2024-01-02T00:00:00Z",
        user_id="u2",
        group_id="acc_c",
        traits='{"name": "Gamma", "plan": "starter"}',
    ),
    # Anonymous group call: attributes no user, but it is acc_a's latest group call (its name).
    _event(
        "g4",
        "group",
        "2024-01-05T00:00:00Z",
        anonymous_id="a3",
        group_id="acc_a",
        traits='{"name": "Acme Corp", "plan": "enterprise"}',
    ),
    # Empty groupId: not a group.
    _event("g5", "group", "2024-01-07T00:00:00Z", user_id="u3", group_id=""),
    # Rows of a failed and of a crashed load: count nowhere (they would move the as-of date).
    _event(
        "m90",
        "track",
        "2024-02-03T09:00:00Z",
        load=L_FAILED,
        user_id="u5",
        event="Report Created",
        context_group_id="acc_a",
    ),
    _event(
        "m99",
        "track",
        "2024-02-05T09:00:00Z",
        load=L_CRASHED,
        user_id="u5",
        event="Report Created",
        context_group_id="acc_a",
    ),
]


def _loaded(load: str = L1, **fields: Any) -> dict[str, Any]:
    return {"_dlt_load_id": load, **fields}


def _ts(value: str) -> int:
    return int(dt.datetime.fromisoformat(value).timestamp())


ORGANIZATIONS = [
    _loaded(
        id=10,
        name="Acme",
        external_id="acc_a",
        created_at="2023-06-01T00:00:00Z",
        updated_at="2023-06-01T00:00:00Z",
    ),
    _loaded(
        id=20,
        name="Delta",
        external_id="acc_d",
        created_at="2023-12-15T00:00:00Z",
        updated_at="2023-12-15T00:00:00Z",
    ),
    _loaded(
        id=30,
        name="No id",
        external_id="",
        created_at="2023-01-01T00:00:00Z",
        updated_at="2023-01-01T00:00:00Z",
    ),
    _loaded(
        id=40,
        name="Beta",
        external_id="acc_b",
        created_at="2023-11-01T00:00:00Z",
        updated_at="2023-11-01T00:00:00Z",
    ),
    _loaded(
        L_CRASHED,
        id=50,
        name="Ghost",
        external_id="acc_zz",
        created_at="2020-01-01T00:00:00Z",
        updated_at="2020-01-01T00:00:00Z",
    ),
]

TICKETS = [
    # Ticket 1: two versions; the later one (solved, urgent) wins.
    _loaded(
        id=1,
        organization_id=10,
        created_at="2024-01-02T10:00:00Z",
        updated_at="2024-01-02T11:00:00Z",
        status="open",
        priority="low",
        via__channel="email",
    ),
    _loaded(
        L2,
        id=1,
        organization_id=10,
        created_at="2024-01-02T10:00:00Z",
        updated_at="2024-01-03T12:00:00Z",
        status="solved",
        priority="urgent",
        via__channel="email",
    ),
    _loaded(
        id=2,
        organization_id=10,
        created_at="2024-01-02T15:00:00Z",
        updated_at="2024-01-02T15:00:00Z",
        status="open",
        priority=None,
        via__channel="web",
    ),
    # Created Jan 5 23:30 at -05:00 = Jan 6 04:30 UTC; organization without account.
    _loaded(
        id=3,
        organization_id=30,
        created_at="2024-01-05T23:30:00-05:00",
        updated_at="2024-01-08T10:00:00Z",
        status="pending",
        priority="high",
        via__channel="chat",
    ),
    _loaded(
        id=4,
        organization_id=10,
        created_at="2024-01-03T10:00:00Z",
        updated_at="2024-01-04T10:00:00Z",
        status="deleted",
        priority="urgent",
        via__channel="email",
    ),
    _loaded(
        id=5,
        organization_id=40,
        created_at="2024-01-10T08:00:00Z",
        updated_at="2024-01-10T09:00:00Z",
        status="closed",
        priority="normal",
        via__channel="email",
    ),
    _loaded(
        L_CRASHED,
        id=6,
        organization_id=10,
        created_at="2024-01-01T08:00:00Z",
        updated_at="2024-01-01T09:00:00Z",
        status="open",
        priority="urgent",
        via__channel="email",
    ),
]

TICKET_METRICS = [
    _loaded(
        id=101,
        ticket_id=1,
        updated_at="2024-01-02T12:00:00Z",
        reply_time_in_minutes__calendar=30,
        reply_time_in_minutes__business=30,
        reopens=0,
    ),
    _loaded(
        L2,
        id=101,
        ticket_id=1,
        updated_at="2024-01-03T12:00:00Z",
        solved_at="2024-01-03T12:00:00Z",
        reply_time_in_minutes__calendar=90,
        reply_time_in_minutes__business=45,
        full_resolution_time_in_minutes__calendar=1560,
        full_resolution_time_in_minutes__business=600,
        reopens=1,
    ),
    _loaded(id=102, ticket_id=2, updated_at="2024-01-02T15:00:00Z", reopens=0),
    _loaded(
        id=103,
        ticket_id=3,
        updated_at="2024-01-08T10:00:00Z",
        solved_at="2024-01-08T10:00:00Z",
        reply_time_in_minutes__calendar=300,
        reply_time_in_minutes__business=250,
        full_resolution_time_in_minutes__calendar=3000,
        full_resolution_time_in_minutes__business=1000,
        reopens=0,
    ),
    _loaded(
        id=104,
        ticket_id=4,
        updated_at="2024-01-04T10:00:00Z",
        solved_at="2024-01-04T10:00:00Z",
        reply_time_in_minutes__business=5,
        reopens=0,
    ),
    _loaded(
        id=105,
        ticket_id=5,
        updated_at="2024-01-10T09:00:00Z",
        solved_at="2024-01-10T09:00:00Z",
        reply_time_in_minutes__calendar=20,
        reply_time_in_minutes__business=20,
        full_resolution_time_in_minutes__calendar=60,
        full_resolution_time_in_minutes__business=60,
        reopens=0,
    ),
]

RATINGS = [
    _loaded(id=201, ticket_id=1, score="bad", created_at="2024-01-04T00:00:00Z"),
    _loaded(id=202, ticket_id=1, score="good", created_at="2024-01-05T00:00:00Z"),
    _loaded(id=203, ticket_id=1, score="offered", created_at="2024-01-06T00:00:00Z"),
    _loaded(id=204, ticket_id=5, score="offered", created_at="2024-01-11T00:00:00Z"),
    _loaded(id=205, ticket_id=4, score="good", created_at="2024-01-05T00:00:00Z"),
    _loaded(id=206, ticket_id=3, score="bad", created_at="2024-01-09T00:00:00Z"),
    _loaded(id=207, ticket_id=2, score="unoffered", created_at="2024-01-09T00:00:00Z"),
    _loaded(id=208, ticket_id=99, score="good", created_at="2023-12-20T00:00:00Z"),
    _loaded(id=209, ticket_id=5, score="bad", created_at="2024-02-02T00:00:00Z"),
]

TYPEFORM = [
    _loaded(
        response_id="tf1",
        submitted_at="2024-01-05T10:00:00Z",
        user_id="u1",
        account_id="acc_a",
        survey="nps",
        score=10,
        answers="[]",
    ),
    _loaded(
        response_id="tf2",
        submitted_at="2024-01-20T10:00:00Z",
        user_id="u1",
        account_id="acc_a",
        survey="nps",
        score=3,
        answers="[]",
    ),
    _loaded(
        response_id="tf3",
        submitted_at="2024-01-07T10:00:00Z",
        user_id=None,
        account_id="acc_a",
        survey="nps",
        score=8,
        answers="[]",
    ),
    # No score answer: not a response.
    _loaded(
        response_id="tf4",
        submitted_at="2024-01-08T10:00:00Z",
        user_id="u2",
        account_id="acc_b",
        survey="nps",
        score=None,
        answers="[]",
    ),
    _loaded(
        response_id="tf5",
        submitted_at="2024-01-09T10:00:00Z",
        user_id="u3",
        account_id=None,
        survey="csat",
        score=5,
        answers="[]",
    ),
    # tf1 exported again.
    _loaded(
        L2,
        response_id="tf1",
        submitted_at="2024-01-05T10:00:00Z",
        user_id="u1",
        account_id="acc_a",
        survey="nps",
        score=10,
        answers="[]",
    ),
]

SURVEY_CSV = [
    _loaded(
        response_id="fd1",
        submitted_at="2024-01-10T00:00:00Z",
        user_id="u2",
        account_id="acc_b",
        survey="nps",
        score=9,
        _source_file="a.csv",
    ),
    _loaded(
        L2,
        response_id="fd1",
        submitted_at="2024-01-10T00:00:00Z",
        user_id="u2",
        account_id="acc_b",
        survey="nps",
        score=9,
        _source_file="b.csv",
    ),
    # u1's latest January answer across both sources.
    _loaded(
        response_id="fd2",
        submitted_at="2024-01-25T00:00:00Z",
        user_id="u1",
        account_id="acc_a",
        survey="nps",
        score=9,
        _source_file="a.csv",
    ),
    _loaded(
        response_id="fd3",
        submitted_at="2023-12-15T00:00:00Z",
        user_id="u4",
        account_id="acc_e",
        survey="nps",
        score=6,
        _source_file="a.csv",
    ),
    _loaded(
        response_id="fd4",
        submitted_at="2024-01-11T00:00:00Z",
        user_id="u5",
        account_id="",
        survey="csat",
        score=3,
        _source_file="a.csv",
    ),
    _loaded(
        response_id="fd5",
        submitted_at="2024-01-12T00:00:00Z",
        user_id="u6",
        account_id=None,
        survey="csat",
        score=4,
        _source_file="a.csv",
    ),
    _loaded(
        response_id="fd6",
        submitted_at="2024-02-01T00:00:00Z",
        user_id=None,
        account_id=None,
        survey="csat",
        score=2,
        _source_file="a.csv",
    ),
    _loaded(
        response_id="fd8",
        submitted_at="2024-02-10T00:00:00Z",
        user_id="u2",
        account_id="acc_b",
        survey="nps",
        score=7,
        _source_file="a.csv",
    ),
    _loaded(
        L_CRASHED,
        response_id="fd7",
        submitted_at="2024-01-15T00:00:00Z",
        user_id="u1",
        account_id="acc_a",
        survey="nps",
        score=0,
        _source_file="c.csv",
    ),
]

CUSTOMERS = [
    _loaded(
        id="cus_1",
        name="Acme",
        created=_ts("2023-12-31T00:00:00+00:00"),
        metadata__account_id="acc_a",
    ),
    _loaded(id="cus_2", name="Unknown", created=_ts("2024-01-01T00:00:00+00:00")),
    _loaded(
        id="cus_3",
        name="Foxtrot",
        created=_ts("2024-01-15T00:00:00+00:00"),
        metadata__account_id="acc_f",
    ),
]

SUBSCRIPTIONS = [
    _loaded(
        id="sub_1",
        _dlt_id="s1",
        customer="cus_1",
        status="active",
        start_date=_ts("2023-12-01T00:00:00+00:00"),
    ),
    _loaded(
        id="sub_2",
        _dlt_id="s2",
        customer="cus_2",
        status="active",
        start_date=_ts("2024-01-01T00:00:00+00:00"),
    ),
    # Canceled, ended Jan 20 15:00 UTC: active Jan 10..19 whatever its status says.
    _loaded(
        id="sub_3",
        _dlt_id="s3",
        customer="cus_1",
        status="canceled",
        start_date=_ts("2024-01-10T00:00:00+00:00"),
        canceled_at=_ts("2024-01-12T00:00:00+00:00"),
        ended_at=_ts("2024-01-20T15:00:00+00:00"),
    ),
]


def _item(parent: str, index: int, quantity: int, amount: int, interval: str) -> dict[str, Any]:
    return {
        "id": f"si_{parent}_{index}",
        "_dlt_root_id": parent,
        "_dlt_parent_id": parent,
        "_dlt_list_idx": index,
        "quantity": quantity,
        "price__unit_amount": amount,
        "price__recurring__interval": interval,
        "price__currency": "usd",
    }


SUBSCRIPTION_ITEMS = [
    _item("s1", 0, 3, 1000, "month"),
    _item("s1", 1, 1, 12000, "year"),
    _item("s2", 0, 5, 1000, "month"),
    _item("s3", 0, 2, 500, "month"),
]

LICENSES = [
    _loaded(
        license_id="lic_1",
        account_id="acc_b",
        seats=2,
        starts_on="2024-01-15",
        annual_price=1000.0,
        _source_file="l.csv",
    ),
    _loaded(
        license_id="lic_2",
        account_id="acc_a",
        seats=10,
        starts_on="2023-01-01",
        ends_on="2023-12-31",
        annual_price=5000.0,
        _source_file="l.csv",
    ),
    _loaded(
        license_id="lic_3",
        account_id="",
        seats=1,
        starts_on="2024-01-01",
        annual_price=100.0,
        _source_file="l.csv",
    ),
    _loaded(
        license_id="lic_4",
        account_id="acc_b",
        seats=1,
        starts_on="2024-02-01",
        annual_price=300.0,
        _source_file="l.csv",
    ),
]

RAW_ROWS: dict[str, list[dict[str, Any]]] = {
    "raw_segment.events": EVENTS,
    "raw_zendesk.organizations": ORGANIZATIONS,
    "raw_zendesk.tickets": TICKETS,
    "raw_zendesk.ticket_metrics": TICKET_METRICS,
    "raw_zendesk.satisfaction_ratings": RATINGS,
    "raw_typeform.responses": TYPEFORM,
    "raw_file_drop.survey_responses": SURVEY_CSV,
    "raw_stripe.customers": CUSTOMERS,
    "raw_stripe.subscriptions": SUBSCRIPTIONS,
    "raw_stripe.subscriptions__items__data": SUBSCRIPTION_ITEMS,
    "raw_file_drop.licenses": LICENSES,
}

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
    rows = fetch_rows(
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
    rows = fetch_rows(
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
    rows = fetch_rows(
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
    rows = fetch_rows(
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
    rows = fetch_rows(
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
    rows = fetch_rows(
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
    rows = fetch_rows(
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
    rows = fetch_rows(
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
    rows = fetch_rows(
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
    rows = fetch_rows(
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
    rows = fetch_rows(
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
    mismatches = fetch_rows(
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
    spot = fetch_rows(
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
