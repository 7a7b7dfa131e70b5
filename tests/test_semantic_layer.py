"""Every headline metric of the semantic layer, queried through MetricFlow (`mf query`), equals
its mart, at the mart's own grain and rolled up (a week shows its last day's snapshot).

The marts are the hand-written ones of tests/toolkit/small_marts.py (as-of 2026-03-11), plus tickets
and experiment counts written here; MetricFlow runs on a copy of the dbt project, so its
`target/` (mf reads `target/semantic_manifest.json` there) is never another run's.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.toolkit.paths import PROJECT_ROOT, VENV_BIN
from tests.toolkit.small_marts import AS_OF, DAYS, MARTS, make_duckdb_marts

MF = VENV_BIN / "mf"
DBT = VENV_BIN / "dbt"

# Tickets by UTC creation day: 03-10 has 2 replied (1 breached) and 1 unanswered; 03-11 has
# 1 replied, not breached, created 23:30 on 03-10 at UTC-5 (so 03-11 in UTC).
TICKETS = [
    (1, "acc_a", "2026-03-10 09:00:00+00", True),
    (2, "acc_b", "2026-03-10 10:00:00+00", False),
    (3, "acc_b", "2026-03-10 11:00:00+00", None),
    (4, "acc_c", "2026-03-10 23:30:00-05", False),
]
SLA_BY_DAY = {date(2026, 3, 10): 0.5, date(2026, 3, 11): 0.0}
EXPERIMENT_COUNTS = [
    ("checkout", "control", True, 100, 10),
    ("checkout", "new", False, 100, 15),
    ("onboarding", "a", True, 200, 20),
    ("onboarding", "b", False, 100, 12),
]


@pytest.fixture(scope="module")
def semantic_project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A warehouse of small marts, and a parsed copy of the dbt project with its time spine."""
    base = tmp_path_factory.mktemp("semantic")
    warehouse = make_duckdb_marts(base / "warehouse.duckdb")
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "create table marts.fct_tickets (ticket_id bigint, account_id varchar, "
            "created_at timestamptz, is_first_reply_sla_breached boolean, priority varchar, "
            "channel varchar)"
        )
        con.executemany(
            "insert into marts.fct_tickets values (?, ?, ?::timestamptz, ?, 'high', 'email')",
            TICKETS,
        )
        for day, rate in SLA_BY_DAY.items():  # the mart says the same as the tickets
            con.execute(
                "update marts.fct_support_daily set sla_breach_rate = ? where activity_date = ?",
                [rate, day],
            )
        con.execute("create schema intermediate")
        con.execute(
            "create table intermediate.int_experiment_counts (experiment_id varchar, "
            "variation_id varchar, is_control boolean, exposed_users bigint, "
            "converted_users bigint, first_exposed_on date)"
        )
        con.executemany(
            "insert into intermediate.int_experiment_counts values (?, ?, ?, ?, ?, "
            "date '2026-03-02')",
            EXPERIMENT_COUNTS,
        )
    project = base / "dbt_project"
    shutil.copytree(
        PROJECT_ROOT / "dbt_project",
        project,
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml"),
    )
    env = {
        **os.environ,
        "WAREHOUSE": "duckdb",
        "WAREHOUSE_PATH": str(warehouse),
        "DBT_PROFILES_DIR": str(project),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    for command in (["parse"], ["run", "--select", "metricflow_time_spine"]):
        result = subprocess.run(
            [str(DBT), *command], cwd=project, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    return {"cwd": str(project), **env}


def mf_query(
    project: dict[str, str], metrics: list[str], group_by: list[str]
) -> list[dict[str, Any]]:
    """`mf query` to a CSV; rows keyed by column, numbers as floats, times as dates."""
    env = dict(project)
    cwd = env.pop("cwd")
    out = Path(cwd) / f"mf-{'-'.join(metrics)[:60]}.csv"
    result = subprocess.run(
        [str(MF), "query", "--metrics", ",".join(metrics), "--group-by", ",".join(group_by),
         "--order", ",".join(group_by), "--csv", str(out)],
        cwd=cwd, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rows = []
    with out.open() as handle:
        for row in csv.DictReader(handle):
            parsed: dict[str, Any] = {}
            for key, value in row.items():
                if key.startswith("metric_time"):
                    parsed[key] = date.fromisoformat(value[:10])
                elif key in metrics:
                    parsed[key] = float(value) if value not in ("", "None") else None
                else:
                    parsed[key] = value
            rows.append(parsed)
    return rows


DAILY = ["dau", "wau", "mau", "stickiness", "new_users", "tickets_created", "tickets_solved",
         "backlog", "sla_breach_rate", "seats_purchased", "utilization", "arr"]  # fmt: skip
WEEKLY = ["dau", "mau", "stickiness", "new_users", "tickets_created", "backlog"]


@pytest.fixture(scope="module")
def daily(semantic_project: dict[str, str]) -> list[dict[str, Any]]:
    """One `mf query` for every day-grain metric (each `mf` start costs seconds of CPU)."""
    return mf_query(semantic_project, DAILY, ["metric_time__day"])


@pytest.fixture(scope="module")
def weekly(semantic_project: dict[str, str]) -> list[dict[str, Any]]:
    return mf_query(semantic_project, WEEKLY, ["metric_time__week"])


def pick(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{k: r[k] for k in keys} for r in rows]


def mart(name: str) -> list[dict[str, Any]]:
    columns, rows = MARTS[name]
    return [dict(zip([c for c, _ in columns], row, strict=True)) for row in rows]


@pytest.mark.slow
def test_usage_metrics_equal_the_mart_daily_and_roll_up_weekly(
    daily: list[dict[str, Any]], weekly: list[dict[str, Any]]
) -> None:
    metrics = ["dau", "wau", "mau", "stickiness", "new_users"]
    expected = mart("fct_active_users_daily")
    assert [r["metric_time__day"] for r in daily] == DAYS
    for got, want in zip(daily, expected, strict=True):
        for metric in metrics:
            assert got[metric] == pytest.approx(want[metric]), (metric, got)
    # Snapshots show the week's last day (03-08: i=6; 03-11: i=9); new users add up.
    assert pick(weekly, "metric_time__week", "dau", "mau", "stickiness", "new_users") == [
        {"metric_time__week": date(2026, 3, 2), "dau": 16, "mau": 46,
         "stickiness": pytest.approx(16 / 46), "new_users": 6},
        {"metric_time__week": date(2026, 3, 9), "dau": 19, "mau": 49,
         "stickiness": pytest.approx(19 / 49), "new_users": 3},
    ]  # fmt: skip


@pytest.mark.slow
def test_feature_adoption_equals_the_mart(semantic_project: dict[str, str]) -> None:
    rows = mf_query(
        semantic_project,
        ["feature_adoption", "feature_users"],
        ["metric_time__week", "feature_week__feature"],
    )
    expected = {(r["week_start"], r["feature"]): r for r in mart("fct_feature_adoption_weekly")}
    assert len(rows) == len(expected) == 8
    for row in rows:
        want = expected[(row["metric_time__week"], row["feature_week__feature"])]
        assert row["feature_adoption"] == pytest.approx(want["adoption_rate"])
        assert row["feature_users"] == want["feature_users"]


@pytest.mark.slow
def test_nps_and_csat_equal_the_marts(semantic_project: dict[str, str]) -> None:
    nps = mf_query(semantic_project, ["nps", "nps_responses"], ["metric_time__month"])
    assert [(r["metric_time__month"], round(r["nps"], 1), r["nps_responses"]) for r in nps] == [
        (r["month_start"], r["nps"], r["responses"]) for r in mart("fct_nps_monthly")
    ]
    csat = mf_query(
        semantic_project, ["csat_pct", "csat_responses"],
        ["metric_time__month", "csat_month_source__source"],
    )  # fmt: skip
    assert [
        (r["metric_time__month"], r["csat_month_source__source"], round(r["csat_pct"], 1),
         r["csat_responses"]) for r in csat
    ] == [
        (r["month_start"], r["source"], r["csat_pct"], r["responses"])
        for r in mart("fct_csat_monthly")
    ]  # fmt: skip


@pytest.mark.slow
def test_support_metrics_equal_the_mart(
    semantic_project: dict[str, str], daily: list[dict[str, Any]], weekly: list[dict[str, Any]]
) -> None:
    assert [
        (r["metric_time__day"], r["tickets_created"], r["tickets_solved"], r["backlog"])
        for r in daily
    ] == [
        (r["activity_date"], r["tickets_created"], r["tickets_solved"], r["backlog"])
        for r in mart("fct_support_daily")
    ]
    # Created tickets add up (i % 4 for i = 0..6 and 7..9); the backlog is the last day's.
    assert [(r["tickets_created"], r["backlog"]) for r in weekly] == [(9, 11), (4, 14)]
    rates = {r["metric_time__day"]: r["sla_breach_rate"] for r in daily}
    assert {day: rate for day, rate in rates.items() if rate is not None} == SLA_BY_DAY
    with duckdb.connect(semantic_project["WAREHOUSE_PATH"], read_only=True) as con:
        in_mart = dict(
            con.execute(
                "select activity_date, sla_breach_rate from marts.fct_support_daily "
                "where activity_date >= date '2026-03-10'"
            ).fetchall()
        )
    assert in_mart == SLA_BY_DAY


@pytest.mark.slow
def test_seat_metrics_equal_the_mart(
    semantic_project: dict[str, str], daily: list[dict[str, Any]]
) -> None:
    per_account = mf_query(
        semantic_project,
        ["seats_purchased", "active_users_28d", "unused_seats", "utilization", "arr"],
        ["metric_time__day", "account"],
    )
    expected = {
        (r["activity_date"], r["account_id"]): r for r in mart("fct_seat_utilization_daily")
    }
    assert len(per_account) == len(expected)
    for row in per_account:
        want = expected[(row["metric_time__day"], row["account"])]
        for metric in ("seats_purchased", "active_users_28d", "unused_seats", "arr"):
            assert row[metric] == want[metric]
        assert row["utilization"] == pytest.approx(want["utilization"])
    # Over accounts on the as-of date: 10 + 50 + 20 seats, 9 + 5 + 25 users, ARR 9,600.
    assert pick(daily, "metric_time__day", "seats_purchased", "utilization", "arr")[-1] == {
        "metric_time__day": AS_OF, "seats_purchased": 80,
        "utilization": pytest.approx(39 / 80), "arr": 9600,
    }  # fmt: skip
    by_plan = mf_query(semantic_project, ["arr"], ["metric_time__week", "account__plan"])
    week = [r for r in by_plan if r["metric_time__week"] == date(2026, 3, 9)]
    assert {r["account__plan"]: r["arr"] for r in week} == {"pro": 1200, "team": 6000, "": 2400}


@pytest.mark.slow
def test_experiment_conversion_equals_the_mart(semantic_project: dict[str, str]) -> None:
    rows = mf_query(
        semantic_project,
        ["experiment_conversion", "exposed_users"],
        ["experiment_variation__experiment_id", "experiment_variation__variation_id"],
    )
    got = {
        (r["experiment_variation__experiment_id"], r["experiment_variation__variation_id"]):
        r["experiment_conversion"] for r in rows
    }  # fmt: skip
    want = {
        (r["experiment_id"], r["variation_id"]): r["conversion_rate"]
        for r in mart("fct_experiment_results")
    }
    assert got == pytest.approx(want)
