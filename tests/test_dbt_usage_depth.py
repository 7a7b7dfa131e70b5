"""Usage depth and experiments end to end: raw events -> dbt -> statistics step, by hand.

The project's own seeds define the funnels and experiments (seeds/funnels.csv, ...), so the
fixture uses their names. 2024-01-01 is a Monday; weeks W1..W5 start Jan 1, 8, 15, 22, 29.

    user  active UTC days                      stories
    u1    Jan 1, every day Jan 8 .. Feb 4      onboarding steps 1-3 (step 4 at t1 + 7 days,
                                               outside); checklist exposure (its re-delivered
                                               copy says control and loses), goal before it
                                               and at exposure + 7 days (both outside);
                                               a `holdout` exposure (unseeded, ignored);
                                               share_dialog_redesign control, converted
    u2    Jan 2, Feb 1                         onboarding step 1 only (lowercase step 2);
                                               control and checklist at one timestamp:
                                               crossover; AI funnel steps 1-2 in W5
    u3    Jan 10                               onboarding: step 3 before step 2 -> step 2;
                                               control exposure, goal at exposure -> converted
    anonymous page Jan 1 (first event day); anonymous exposure (ignored). As-of: Feb 4.

Built on DuckDB and on PostgreSQL (the same raw rows), with the same expected rows.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from ingestion.settings import dbt_env
from orchestration.lib.experiments import build_experiment_results
from tests.toolkit.dbt import L1, L2, create_raw_postgres, create_raw_warehouse, raw_event, run_dbt
from tests.toolkit.warehouse import pg_query, query

pytestmark = pytest.mark.slow

D = dt.date


def _event(message_id: str, kind: str, ts: str, load: str = L1, **fields: Any) -> dict[str, Any]:
    return raw_event(message_id, kind, ts, load, _source_file="events/a.jsonl.gz", **fields)


def _track(message_id: str, user: str | None, name: str, ts: str, **fields: Any) -> dict[str, Any]:
    return _event(message_id, "track", ts, user_id=user, event=name, **fields)


def _viewed(
    message_id: str, user: str | None, experiment: str, variation: str, ts: str, **fields: Any
) -> dict[str, Any]:
    properties = json.dumps({"experiment_id": experiment, "variation_id": variation})
    return _track(message_id, user, "Experiment Viewed", ts, properties=properties, **fields)


U1_DAYS = [D(2024, 1, 1)] + [D(2024, 1, 8) + dt.timedelta(days=i) for i in range(28)]

EVENTS = [
    _event("anon1", "page", "2024-01-01T08:00:00Z", anonymous_id="a1", name="Home"),
    *(
        _event(f"u1-home-{day}", "page", f"{day}T07:00:00Z", user_id="u1", name="Home")
        for day in U1_DAYS
    ),
    _event("u2-home-1", "page", "2024-01-02T07:00:00Z", user_id="u2", name="Home"),
    _event("u2-home-2", "page", "2024-02-01T07:00:00Z", user_id="u2", name="Home"),
    # Onboarding funnel (Signed In -> Dashboard Viewed -> Report Created -> Report Shared, 7 d).
    _track("f1", "u1", "Signed In", "2024-01-08T10:00:00Z"),
    _track("f2", "u1", "Dashboard Viewed", "2024-01-08T10:00:00Z"),
    _track("f3", "u1", "Report Created", "2024-01-15T09:59:00Z"),
    _track("f4", "u1", "Report Shared", "2024-01-15T10:00:00Z"),
    _track("f5", "u1", "Signed In", "2024-01-20T10:00:00Z"),
    _track("f6", "u1", "Report Shared", "2024-01-21T10:00:00Z"),
    _track("f7", "u2", "Signed In", "2024-01-02T10:00:00Z"),
    _track("f8", "u2", "dashboard viewed", "2024-01-02T11:00:00Z"),
    _track("f9", "u3", "Signed In", "2024-01-10T09:00:00Z"),
    _track("f10", "u3", "Report Created", "2024-01-10T09:30:00Z"),
    _track("f11", "u3", "Dashboard Viewed", "2024-01-10T10:00:00Z"),
    # AI funnel (AI Insight Generated -> AI Insight Saved, 14 days).
    _track("a1", "u1", "AI Insight Generated", "2024-01-22T10:00:00Z"),
    _track("a2", "u2", "AI Insight Generated", "2024-02-01T10:00:00Z"),
    _track("a3", "u2", "AI Insight Saved", "2024-02-01T11:00:00Z"),
    # onboarding_checklist (goal Onboarding Completed, 7 days).
    _viewed("x1", "u1", "onboarding_checklist", "checklist", "2024-01-08T10:00:00Z"),
    _viewed("x1", "u1", "onboarding_checklist", "control", "2024-01-08T10:00:00Z", load=L2),
    _viewed("x2", "u1", "onboarding_checklist", "checklist", "2024-01-12T10:00:00Z"),
    _viewed("x3", "u1", "onboarding_checklist", "holdout", "2024-01-09T10:00:00Z"),
    _track("g1", "u1", "Onboarding Completed", "2024-01-08T09:00:00Z"),
    _track("g2", "u1", "Onboarding Completed", "2024-01-15T10:00:00Z"),
    _viewed("x4", "u2", "onboarding_checklist", "control", "2024-01-02T10:00:00Z"),
    _viewed("x5", "u2", "onboarding_checklist", "checklist", "2024-01-02T10:00:00Z"),
    _track("g3", "u2", "Onboarding Completed", "2024-01-02T12:00:00Z"),
    _viewed("x6", "u3", "onboarding_checklist", "control", "2024-01-10T09:00:00Z"),
    _track("g4", "u3", "Onboarding Completed", "2024-01-10T09:00:00Z"),
    _viewed(
        "x7", None, "onboarding_checklist", "control", "2024-01-10T09:00:00Z", anonymous_id="a2"
    ),
    # share_dialog_redesign (goal Share Link Copied, 14 days).
    _viewed("s1", "u1", "share_dialog_redesign", "control", "2024-01-20T10:00:00Z"),
    _track("s2", "u1", "Share Link Copied", "2024-01-21T10:00:00Z"),
]


@dataclass(frozen=True)
class Built:
    """The fixture built on one engine, with a reader of its tables."""

    engine: str
    rows: Callable[[str], list[tuple[Any, ...]]]


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """dbt build of the usage-depth marts and the experiment counts, then the Python step."""
    work = tmp_path_factory.mktemp(f"usage_depth_{request.param}")
    path = work / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as env:
        if request.param == "duckdb":
            create_raw_warehouse(path, {"raw_segment.events": EVENTS}, completed_loads=[L1, L2])
            env.delenv("WAREHOUSE", raising=False)
            env.setenv("WAREHOUSE_PATH", str(path))
        else:
            server = request.getfixturevalue("postgres_server")
            database = server.create_database(f"usage_depth_{uuid.uuid4().hex[:8]}")
            create_raw_postgres(database.url, {"raw_segment.events": EVENTS}, [L1, L2])
            for key, value in database.env().items():
                env.setenv(key, value)
        for key, value in dbt_env().items():
            env.setenv(key, value)
        select = "+fct_user_lifecycle_weekly +fct_engagement_l28 +fct_funnel_weekly"
        select += " +int_experiment_counts"
        result = run_dbt(["build", "--select", select], path, work)
        assert result.returncode == 0, result.stdout[-4000:]
        build_experiment_results()
    if request.param == "duckdb":
        return Built("duckdb", lambda sql: query(path, sql))
    return Built("postgres", lambda sql: pg_query(database.url, sql))


def test_lifecycle(built: Built) -> None:
    rows = built.rows("select * from marts.fct_user_lifecycle_weekly order by 1")
    assert rows == [
        # week, active, new, returning, resurrected, dormant, quick ratio
        (D(2024, 1, 1), 2, 2, 0, 0, 0, None),  # first week: all new, nobody dormant
        (D(2024, 1, 8), 2, 1, 1, 0, 1, 1.0),  # u3 new, u1 returning, u2 dormant
        (D(2024, 1, 15), 1, 0, 1, 0, 1, 0.0),  # u3 dormant
        (D(2024, 1, 22), 1, 0, 1, 0, 0, None),
        (D(2024, 1, 29), 2, 0, 1, 1, 0, None),  # u2 resurrected
    ]


def test_engagement_l28(built: Built) -> None:
    rows = built.rows(
        "select snapshot_date, days_active, users, share_of_active from marts.fct_engagement_l28"
        " order by 1, 2",
    )
    # Snapshots Feb 4 and Jan 28 (Jan 21's window would start before Jan 1). Feb 4 (Jan 8 ..
    # Feb 4): u1 28 days, u2 and u3 1 day each; Jan 28 (Jan 1 .. 28): u1 22 days, u2, u3 1.
    expected = []
    for snapshot, top in ((D(2024, 1, 28), 22), (D(2024, 2, 4), 28)):
        for k in range(1, 29):
            users = {1: 2, top: 1}.get(k, 0)
            expected.append((snapshot, k, users, pytest.approx(users / 3)))
    assert rows == expected


def test_funnels(built: Built) -> None:
    rows = built.rows(
        "select funnel_id, cohort_week, step_number, event_name, users, conversion_from_start,"
        " conversion_from_previous, is_complete from marts.fct_funnel_weekly order by 1, 2, 3",
    )
    assert rows == [
        ("ai_insights", D(2024, 1, 22), 1, "AI Insight Generated", 1, 1.0, None, False),
        ("ai_insights", D(2024, 1, 22), 2, "AI Insight Saved", 0, 0.0, 0.0, False),
        ("ai_insights", D(2024, 1, 29), 1, "AI Insight Generated", 1, 1.0, None, False),
        ("ai_insights", D(2024, 1, 29), 2, "AI Insight Saved", 1, 1.0, 1.0, False),
        ("onboarding", D(2024, 1, 1), 1, "Signed In", 1, 1.0, None, True),
        ("onboarding", D(2024, 1, 1), 2, "Dashboard Viewed", 0, 0.0, 0.0, True),
        ("onboarding", D(2024, 1, 1), 3, "Report Created", 0, 0.0, None, True),
        ("onboarding", D(2024, 1, 1), 4, "Report Shared", 0, 0.0, None, True),
        ("onboarding", D(2024, 1, 8), 1, "Signed In", 2, 1.0, None, True),
        ("onboarding", D(2024, 1, 8), 2, "Dashboard Viewed", 2, 1.0, 1.0, True),
        ("onboarding", D(2024, 1, 8), 3, "Report Created", 1, 0.5, 0.5, True),
        ("onboarding", D(2024, 1, 8), 4, "Report Shared", 0, 0.0, 0.0, True),
    ]


def test_experiment_results(built: Built) -> None:
    rows = built.rows(
        "select experiment_id, variation_id, is_control, exposed_users, converted_users,"
        " conversion_rate, absolute_lift, relative_lift, ci_low, ci_high, p_value,"
        " srm_p_value, has_srm, crossover_users, first_exposed_on, last_exposed_on"
        " from marts.fct_experiment_results",
    )
    by_key = {(r[0], r[1]): r[2:] for r in rows}
    assert len(rows) == 7  # every seeded variation, exposures or not
    # onboarding_checklist: u3 control converted at exposure; u1 checklist (first copy of x1)
    # not converted (goal before and at exposure + 7 days); u2 a crossover. Lift -1 with a
    # zero unpooled error; pooled p = 1/2 -> z = -1 / sqrt(0.25 * 2) = -sqrt 2 -> p = erfc(1);
    # 1 and 1 exposed on 1:1 -> chi2 = 0 -> SRM p = 1.
    control = by_key[("onboarding_checklist", "control")]
    assert control == (True, 1, 1, 1.0, None, None, None, None, None, 1.0, False, 1,
                       D(2024, 1, 10), D(2024, 1, 10))  # fmt: skip
    checklist = by_key[("onboarding_checklist", "checklist")]
    assert checklist[:6] == (False, 1, 0, 0.0, -1.0, -1.0)
    assert checklist[6] == pytest.approx(-1.0) and checklist[7] == pytest.approx(-1.0)
    assert checklist[8] == pytest.approx(math.erfc(1.0))  # 0.157299
    assert checklist[9:] == (1.0, False, 1, D(2024, 1, 8), D(2024, 1, 8))
    # share_dialog_redesign: 1 control exposure, converted; 0 in redesign -> no lift; SRM of
    # 1/0 on 1:1: chi2 = 1 with 1 df -> erfc(sqrt(1/2)) = 0.3173105.
    share = by_key[("share_dialog_redesign", "redesign")]
    assert share[:8] == (False, 0, 0, None, None, None, None, None)
    assert share[8] is None and share[9] == pytest.approx(0.3173105, rel=1e-6)
    assert share[10] is False and share[11] == 0 and share[12:] == (None, None)
    assert by_key[("share_dialog_redesign", "control")][1:4] == (1, 1, 1.0)
    # insight_prompt_style: nobody exposed -> SRM null on every row.
    for variation in ("control", "concise", "detailed"):
        assert by_key[("insight_prompt_style", variation)][1:] == (
            0, 0, None, None, None, None, None, None, None, None, 0, None, None
        )  # fmt: skip
