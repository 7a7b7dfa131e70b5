"""The hand-checked raw rows behind test_dbt_usage.py and test_dbt_incremental.py.

The fixture is small enough to reason about on paper. Each rule of docs/metrics.md that is easy to
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
from typing import Any

from tests.toolkit.dbt import L1, L2, L_CRASHED, L_FAILED, raw_event

EVENTS = [
    raw_event(
        "m1",
        "track",
        "2024-01-01T10:00:00Z",
        user_id="u1",
        event="Report Created",
        context_group_id="acc_a",
    ),
    # Second copy of m1: different content, later load. Must not count.
    raw_event(
        "m1",
        "track",
        "2024-01-05T10:00:00Z",
        load=L2,
        user_id="u1",
        event="Alert Configured",
        context_group_id="acc_c",
    ),
    # Local Jan 1 23:30 at -02:00 is Jan 2 01:30 UTC. No context.groupId: latest group call.
    raw_event("m2", "page", "2024-01-01T23:30:00-02:00", user_id="u1", name="Home"),
    raw_event(
        "m3",
        "track",
        "2024-01-03T08:00:00Z",
        user_id="u2",
        event="Dashboard Viewed",
        context_group_id="acc_b",
    ),
    raw_event(
        "m4",
        "track",
        "2024-01-03T09:00:00Z",
        user_id="u2",
        event="Report Shared",
        context_group_id="acc_a",
    ),
    raw_event(
        "m5",
        "track",
        "2024-01-04T09:00:00Z",
        anonymous_id="a1",
        event="Report Created",
        context_group_id="acc_c",
    ),
    raw_event("m6", "track", "2024-01-08T09:00:00Z", user_id="u3", event="report created"),
    raw_event("m7", "identify", "2024-01-09T08:00:00Z", user_id="u4", traits='{"email": "x"}'),
    raw_event(
        "m8",
        "track",
        "2024-01-09T09:00:00Z",
        user_id="u1",
        event="Export Downloaded",
        context_group_id="acc_a",
    ),
    raw_event("m9", "page", "2024-01-15T09:00:00Z", user_id="u2", name="Reports"),
    raw_event(
        "m10",
        "track",
        "2024-01-29T09:00:00Z",
        user_id="u4",
        event="AI Insight Generated",
        context_group_id="acc_a",
    ),
    # Empty-string userId: anonymous.
    raw_event(
        "m11",
        "track",
        "2024-01-10T09:00:00Z",
        user_id="",
        anonymous_id="a2",
        event="Report Created",
        context_group_id="acc_a",
    ),
    # Empty-string context.groupId: no context; u3 has no usable group call.
    raw_event(
        "m12", "page", "2024-01-22T09:00:00Z", user_id="u3", name="Home", context_group_id=""
    ),
    raw_event("m13", "page", "2024-01-28T23:59:59Z", user_id="u1", name="Dashboards"),
    raw_event("m14", "page", "2024-01-31T12:00:00Z", anonymous_id="a4", name="Home"),
    raw_event(
        "m15",
        "track",
        "2024-01-29T10:00:00Z",
        user_id="u4",
        event="Report Created",
        context_group_id="acc_a",
    ),
    raw_event(
        "m16",
        "track",
        "2024-01-29T11:00:00Z",
        user_id="u1",
        event="Dashboard Created",
        context_group_id="acc_a",
    ),
    # Group calls. u1: acc_a at Jan 1, acc_b at Jan 20 (arrived first, in the earlier load).
    raw_event(
        "g1",
        "group",
        "2024-01-01T09:00:00Z",
        load=L2,
        user_id="u1",
        group_id="acc_a",
        traits='{"name": "Acme", "plan": "enterprise"}',
    ),
    raw_event(
        "g2",
        "group",
        "2024-01-20T00:00:00Z",
        received_at="2023-12-31T00:00:00Z",
        user_id="u1",
        group_id="acc_b",
        traits='{"name": "Beta Inc", "plan": "pro"}',
    ),
    raw_event(
        "g3",
        "group",
        "2024-01-02T00:00:00Z",
        user_id="u2",
        group_id="acc_c",
        traits='{"name": "Gamma", "plan": "starter"}',
    ),
    # Anonymous group call: attributes no user, but it is acc_a's latest group call (its name).
    raw_event(
        "g4",
        "group",
        "2024-01-05T00:00:00Z",
        anonymous_id="a3",
        group_id="acc_a",
        traits='{"name": "Acme Corp", "plan": "enterprise"}',
    ),
    # Empty groupId: not a group.
    raw_event("g5", "group", "2024-01-07T00:00:00Z", user_id="u3", group_id=""),
    # Rows of a failed and of a crashed load: count nowhere (they would move the as-of date).
    raw_event(
        "m90",
        "track",
        "2024-02-03T09:00:00Z",
        load=L_FAILED,
        user_id="u5",
        event="Report Created",
        context_group_id="acc_a",
    ),
    raw_event(
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
