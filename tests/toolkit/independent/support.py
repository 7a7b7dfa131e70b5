"""The survey and support marts computed from the raw Zendesk, Typeform and CSV tables.

METRICS.md "Surveys", "Support" and the company-wide support rows of `metrics_daily`. Where
METRICS.md is silent, the decision written in docs/metrics.md is followed and named.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from fractions import Fraction
from pathlib import Path

import duckdb
import pandas as pd

from tests.toolkit.independent.compare import Expected, frame
from tests.toolkit.independent.raw import completed, latest_version
from tests.toolkit.independent.usage import FIRST_COPIES

SUPPORT_METRICS = [
    "tickets_created",
    "tickets_solved",
    "backlog",
    "median_first_reply_minutes_business",
    "sla_breach_rate",
]
NPS_SCORE_REF = "nps_score"  # the Typeform loader's default score_ref


def as_of_date(con: duckdb.DuckDBPyConnection) -> dt.date:
    """Last UTC day of a track/page event (first copy of each messageId)."""
    sql = f"select max(cast(ts as date)) from ({FIRST_COPIES}) where type in ('track', 'page')"
    day: dt.date = con.execute(sql).fetchall()[0][0]
    return day


def round_half_away(value: Fraction) -> float:
    """Round an exact rational to 1 decimal, halves away from zero."""
    sign = -1 if value < 0 else 1
    return sign * math.floor(abs(value) * 10 + Fraction(1, 2)) / 10


def tickets(con: duckdb.DuckDBPyConnection, seeds: Path) -> pd.DataFrame:
    """Each ticket's latest version, not deleted, with its metrics, rating and SLA target.

    satisfaction: the latest good/bad rating by created_at; on a tie the greater rating id
    (docs/metrics.md, `fct_tickets`). A ticket without priority is `normal`.
    """
    return frame(
        con,
        f"""
        with latest as ({latest_version("raw_zendesk.tickets")}),
        organizations as ({latest_version("raw_zendesk.organizations")}),
        metrics as ({latest_version("raw_zendesk.ticket_metrics", "ticket_id")}),
        ratings as ({latest_version("raw_zendesk.satisfaction_ratings")}),
        satisfaction as (
            select ticket_id, score
            from ratings
            where score in ('good', 'bad')
            qualify row_number() over (partition by ticket_id order by created_at desc, id desc) = 1
        ),
        targets as (select * from read_csv('{seeds / "sla_targets.csv"}'))
        select
            t.id as ticket_id,
            nullif(trim(o.external_id, ' '), '') as account_id,
            t.created_at,
            m.solved_at,
            t.status,
            nullif(t.priority, '') as priority,
            nullif(t.via__channel, '') as channel,
            m.reply_time_in_minutes__calendar as first_reply_minutes_calendar,
            m.reply_time_in_minutes__business as first_reply_minutes_business,
            m.full_resolution_time_in_minutes__calendar as full_resolution_minutes_calendar,
            m.full_resolution_time_in_minutes__business as full_resolution_minutes_business,
            m.reopens,
            s.score as satisfaction,
            targets.first_reply_target_minutes,
            m.reply_time_in_minutes__business > targets.first_reply_target_minutes
                as is_first_reply_sla_breached
        from latest as t
        left join organizations as o on o.id = t.organization_id
        left join metrics as m on m.ticket_id = t.id
        left join satisfaction as s on s.ticket_id = t.id
        left join targets on targets.priority = coalesce(nullif(t.priority, ''), 'normal')
        where t.status is distinct from 'deleted'
        """,
    )


def utc_day(value: dt.datetime | None) -> dt.date | None:
    """The UTC day of a timestamp."""
    return None if value is None or value is pd.NaT else value.astimezone(dt.UTC).date()


def support_daily(ticket_rows: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Every day from the first ticket's creation day to the as-of date.

    Median and breach rate are over the day's new tickets that have a reply.
    """
    created = [utc_day(v) for v in ticket_rows["created_at"]]
    solved = [utc_day(v) for v in ticket_rows["solved_at"]]
    reply = list(ticket_rows["first_reply_minutes_business"])
    breached = list(ticket_rows["is_first_reply_sla_breached"])
    rows = []
    day = min(d for d in created if d is not None)
    while day <= as_of:
        replied = [i for i, c in enumerate(created) if c == day and reply[i] is not None]
        minutes = sorted(float(reply[i]) for i in replied)
        n = len(minutes)
        median = None
        if n:
            median = minutes[n // 2] if n % 2 else (minutes[n // 2 - 1] + minutes[n // 2]) / 2
        rows.append(
            (
                day,
                sum(1 for c in created if c == day),
                sum(1 for s in solved if s == day),
                sum(
                    1
                    for c, s in zip(created, solved, strict=True)
                    if c is not None and c <= day and (s is None or s > day)
                ),
                median,
                sum(bool(breached[i]) for i in replied) / n if n else None,
            )
        )
        day += dt.timedelta(days=1)
    return pd.DataFrame(rows, columns=["activity_date", *SUPPORT_METRICS])


def score_from_answers(answers: str | None) -> float | None:
    """The number of the Typeform answer whose field ref is the score ref, else None."""
    for answer in json.loads(answers) if answers else []:
        if (answer.get("field") or {}).get("ref") == NPS_SCORE_REF:
            number = answer.get("number")
            return None if number is None else float(number)
    return None


def survey_pool(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pd.DataFrame:
    """Typeform and the CSV as one pool of valid responses, up to the as-of date's month.

    A Typeform response without a score answer is not a response. A response_id in both
    sources is one response: the earlier submitted_at, Typeform first on a tie
    (docs/metrics.md, "Re-delivered records"). Scores outside 0-10 (NPS) or 1-5 (CSAT) are
    bad records.
    """
    columns = """
        response_id,
        submitted_at,
        cast(date_trunc('month', timezone('UTC', submitted_at)) as date) as month_start,
        nullif(trim(user_id, ' '), '') as user_id,
        nullif(trim(account_id, ' '), '') as account_id,
        survey
    """
    typeform = frame(
        con,
        f"select {columns}, answers, 0 as source_rank from raw_typeform.responses"
        f" where {completed('raw_typeform')}",
    )
    typeform["score"] = typeform["answers"].map(score_from_answers)
    typeform = typeform[typeform["score"].notna()].drop(columns="answers")
    drop = frame(
        con,
        f"select {columns}, 1 as source_rank, score from raw_file_drop.survey_responses"
        f" where {completed('raw_file_drop')}",
    )
    pool = pd.concat([typeform, drop], ignore_index=True)
    pool["submitted_utc"] = [v.astimezone(dt.UTC) for v in pool["submitted_at"]]
    pool = pool.sort_values(["response_id", "submitted_utc", "source_rank"])
    pool = pool.drop_duplicates(subset=["response_id"])
    score = pool["score"].astype(float)
    valid = ((pool["survey"] == "nps") & score.between(0, 10)) | (
        (pool["survey"] == "csat") & score.between(1, 5)
    )
    return pool[valid & (pool["month_start"] <= as_of.replace(day=1))]


def nps_monthly(pool: pd.DataFrame) -> pd.DataFrame:
    """One answer per user and month (latest submitted_at, then greatest response_id)."""
    nps = pool[pool["survey"] == "nps"]
    with_user = nps[nps["user_id"].notna()].sort_values(
        ["month_start", "user_id", "submitted_utc", "response_id"]
    )
    latest = with_user.groupby(["month_start", "user_id"]).tail(1)
    counted = pd.concat([latest, nps[nps["user_id"].isna()]])
    rows = []
    for month, group in counted.groupby("month_start"):
        scores = group["score"].astype(float)
        promoters = int((scores >= 9).sum())
        passives = int(((scores >= 7) & (scores <= 8)).sum())
        detractors = int((scores <= 6).sum())
        n = len(group)
        nps_value = round_half_away(Fraction(100 * (promoters - detractors), n))
        rows.append((month, n, promoters, passives, detractors, nps_value))
    columns = ["month_start", "responses", "promoters", "passives", "detractors", "nps"]
    return pd.DataFrame(rows, columns=columns)


def csat_monthly(
    con: duckdb.DuckDBPyConnection, pool: pd.DataFrame, as_of: dt.date
) -> pd.DataFrame:
    """Survey answers 1-5 (4-5 satisfied) and Zendesk good/bad ratings, not deduplicated.

    Ratings of deleted tickets count nowhere (docs/metrics.md, `fct_csat_monthly`).
    """
    ratings = frame(
        con,
        f"""
        with tickets as ({latest_version("raw_zendesk.tickets")}),
        ratings as ({latest_version("raw_zendesk.satisfaction_ratings")})
        select
            cast(date_trunc('month', timezone('UTC', created_at)) as date) as month_start,
            score = 'good' as satisfied
        from ratings
        where score in ('good', 'bad')
            and ticket_id not in (select id from tickets where status = 'deleted')
        """,
    )
    survey = pool[pool["survey"] == "csat"]
    answers = [
        (m, "survey", s >= 4) for m, s in zip(survey["month_start"], survey["score"], strict=True)
    ]
    answers += [
        (m, "zendesk", s) for m, s in zip(ratings["month_start"], ratings["satisfied"], strict=True)
    ]
    counts: dict[tuple[dt.date, str], list[int]] = {}
    for month, source, satisfied in answers:
        count = counts.setdefault((month, source), [0, 0])
        count[0] += 1
        count[1] += bool(satisfied)
    rows = [
        (m, s, n, k, round_half_away(Fraction(100 * k, n)))
        for (m, s), (n, k) in sorted(counts.items())
        if m <= as_of.replace(day=1)
    ]
    columns = ["month_start", "source", "responses", "satisfied", "csat_pct"]
    return pd.DataFrame(rows, columns=columns)


def metrics_daily_support(daily: pd.DataFrame) -> pd.DataFrame:
    """The company-wide support rows of metrics_daily: each equal to fct_support_daily."""
    rows = [
        (name, r["activity_date"], r[name])
        for r in daily.to_dict("records")
        for name in SUPPORT_METRICS
    ]
    return pd.DataFrame(rows, columns=["metric_name", "metric_date", "value"])


def expected_marts(con: duckdb.DuckDBPyConnection, seeds: Path) -> list[Expected]:
    """Every survey and support mart, and the support slice of metrics_daily."""
    as_of = as_of_date(con)
    ticket_rows = tickets(con, seeds)
    daily = support_daily(ticket_rows, as_of)
    pool = survey_pool(con, as_of)
    support_rows = f"account_id is null and metric_name in {tuple(SUPPORT_METRICS)}"
    return [
        Expected("fct_nps_monthly", ["month_start"], nps_monthly(pool)),
        Expected("fct_csat_monthly", ["month_start", "source"], csat_monthly(con, pool, as_of)),
        Expected("fct_tickets", ["ticket_id"], ticket_rows),
        Expected("fct_support_daily", ["activity_date"], daily),
        Expected(
            "metrics_daily",
            ["metric_name", "metric_date"],
            metrics_daily_support(daily),
            where=support_rows,
        ),
    ]
