"""The marts whose cost no longer follows history give what a full refresh gives (#16).

`fct_feature_adoption_weekly` reads `int_user_event_weeks` (incremental by week: it rebuilds
from the Monday of the restart day's week), `fct_engagement_l28` finds each user-day's
snapshots by arithmetic instead of a range join, `fct_account_health_weekly` compares "now"
and "then" by an equi-join on the week, `int_account_mentions` is a table and the grain test
of `metrics_daily` checks the rebuilt days on `dbt build`.

A small hand-made world (all events of account acc_a, a 2-seat license from Jan 1, 2024) is
built with `dbt build`; a new completed load then brings two new days (Sun Jan 28 and Mon
Feb 5), a late event into an old week (Tue Jan 9: the restart day is a Tuesday, so the week of
Jan 8 must be rebuilt from its Monday, whose event is not in the new load) and a re-delivered
copy of an old messageId with other content (the first copy wins). The incremental
`dbt build` (data tests included) must pass and every mart must equal a `--full-refresh`;
the adoption, engagement and health figures are checked against values worked out by hand.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tests.toolkit.dbt import (
    DBT_MARTS,
    L1,
    append_load,
    create_raw_warehouse,
    mart_rows,
    raw_event,
    run_dbt,
)
from tests.toolkit.warehouse import query

pytestmark = pytest.mark.slow

L3 = "1706900000.000003"  # completed, after the first build


def _track(message_id: str, day: str, user: str, event: str, load: str = L1) -> dict[str, str]:
    return raw_event(
        message_id,
        "track",
        f"{day}T09:00:00Z",
        load=load,
        user_id=user,
        event=event,
        context_group_id="acc_a",
    )


def _page(message_id: str, day: str, user: str) -> dict[str, str]:
    return raw_event(
        message_id, "page", f"{day}T09:00:00Z", user_id=user, name="Home", context_group_id="acc_a"
    )


FIRST_EVENTS = [
    _page("e1", "2024-01-01", "u1"),  # Mon
    _track("e2", "2024-01-08", "u1", "Report Created"),  # Mon
    _track("e3", "2024-01-10", "u2", "Dashboard Viewed"),
    _page("e4", "2024-01-15", "u1"),
    _track("e5", "2024-01-18", "u2", "Report Shared"),
    _track("e6", "2024-01-26", "u1", "Alert Configured"),
    _track("e7", "2024-01-27", "u2", "Report Created"),  # Sat: the first as-of date
]

NEW_EVENTS = [
    _track("n1", "2024-01-28", "u1", "Export Downloaded", load=L3),  # Sun
    _track("n2", "2024-02-05", "u2", "Report Shared", load=L3),  # Mon: the new as-of date
    _track("n3", "2024-01-09", "u3", "Dashboard Viewed", load=L3),  # late, Tue of an old week
    # e3 again with other content: the first copy (Jan 10, Dashboard Viewed) wins.
    {
        **_track("e3", "2024-02-05", "u2", "AI Insight Generated", load=L3),
        "_dlt_id": "again-e3",
    },
]

LICENSE = {
    "license_id": "lic_a",
    "account_id": "acc_a",
    "seats": 2,
    "starts_on": "2024-01-01",
    "annual_price": 1200.0,
    "_source_file": "l.csv",
    "_dlt_load_id": L1,
}

FEATURES = ["ai_insights", "alerts", "dashboards", "exports", "reports"]

# week -> (active users, {feature: feature users}), worked out from the events above.
ADOPTION = {
    date(2024, 1, 1): (1, {}),
    date(2024, 1, 8): (3, {"reports": 1, "dashboards": 2}),  # u1 Mon, u2 Wed, u3 late Tue
    date(2024, 1, 15): (2, {"reports": 1}),  # u1 only a page
    date(2024, 1, 22): (2, {"reports": 1, "alerts": 1, "exports": 1}),
    date(2024, 1, 29): (0, {}),
    date(2024, 2, 5): (1, {"reports": 1}),  # not ai_insights: the re-delivered copy lost
}

# Snapshots Feb 5 (window Jan 9..Feb 5) and Jan 29 (Jan 2..Jan 29); Jan 22 would start
# before the first event day. Feb 5: u1 3 days (Jan 15, 26, 28), u2 4 (Jan 10, 18, 27,
# Feb 5), u3 1 (Jan 9, the window's first day). Jan 29: u1 4 (Jan 8, 15, 26, 28; not Jan 1),
# u2 3, u3 1.
ENGAGEMENT_NONZERO = {
    (snapshot, days): 1 for snapshot in (date(2024, 1, 29), date(2024, 2, 5)) for days in (1, 3, 4)
}

# Trend score by week: "now" [week start, scored day] against the same days 28 days earlier.
# Jan 1..22: users now, nobody in December -> 100. Jan 29: nobody now, u1 on Jan 1 -> 0.
# Feb 5 (partial, scored on Feb 5): u2 now, u1 on Jan 8 (u2's Jan 10 is past Feb 5 - 28) -> 50.
TREND = [100.0, 100.0, 100.0, 100.0, 0.0, 50.0]


def test_incremental_build_equals_full_refresh(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    create_raw_warehouse(
        path,
        {"raw_segment.events": FIRST_EVENTS, "raw_file_drop.licenses": [LICENSE]},
        completed_loads=[L1],
    )
    # Seeds and models (the data and unit tests run in the incremental build).
    first = run_dbt(
        ["build", "--exclude", "resource_type:test", "resource_type:unit_test"], path, tmp_path
    )
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]

    new_events = [{"_dlt_id": f"new-{i}", **row} for i, row in enumerate(NEW_EVENTS)]
    append_load(path, "raw_segment", "events", new_events, L3)
    incremental = run_dbt(["build"], path, tmp_path)
    assert incremental.returncode == 0, incremental.stdout[-6000:] + incremental.stderr[-2000:]
    # The restart day is the late event's Tuesday: int_user_event_weeks rebuilt from Monday.
    assert query(path, "select reprocess_from from intermediate.int_product_reprocess_from") == [
        (date(2024, 1, 9),)
    ]
    after_incremental = mart_rows(path)

    adoption = {
        (week, feature): (feature_users, active_users, rate)
        for week, feature, feature_users, active_users, rate in after_incremental[
            "fct_feature_adoption_weekly"
        ]
    }
    expected_adoption = {}
    for week, (active, users) in ADOPTION.items():
        for feature in FEATURES:
            count = users.get(feature, 0)
            rate = count / active if active else None
            expected_adoption[(week, feature)] = (count, active, rate)
    assert adoption == expected_adoption

    engagement = after_incremental["fct_engagement_l28"]
    assert {row[0] for row in engagement} == {date(2024, 1, 29), date(2024, 2, 5)}
    assert len(engagement) == 2 * 28
    for snapshot, days, users, share in engagement:
        expected = ENGAGEMENT_NONZERO.get((snapshot, days), 0)
        assert (users, share) == (expected, expected / 3), (snapshot, days)

    health = sorted((row[1], row[5]) for row in after_incremental["fct_account_health_weekly"])
    assert [week for week, _ in health] == sorted(ADOPTION)
    assert [trend for _, trend in health] == TREND

    full = run_dbt(["run", "--full-refresh"], path, tmp_path)
    assert full.returncode == 0, full.stdout[-6000:] + full.stderr[-2000:]
    after_full = mart_rows(path)
    for mart in DBT_MARTS:
        assert after_incremental[mart] == after_full[mart], mart
