"""The account marts computed from the raw tables and the seeds.

METRICS.md "Licenses", "Accounts", "Experiments" and the per-account license rows of
`metrics_daily`. Where METRICS.md is silent, the decision written in docs/metrics.md is
followed and named. The work happens in temporary tables of a cursor of its own, so the
caller's connection is left as it was.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from scipy import stats

from tests.toolkit.independent.compare import Expected, frame
from tests.toolkit.independent.raw import FIRST_COPY_EVENTS, completed, latest_version

LICENSE_METRICS = ["seats_purchased", "active_users_28d", "utilization", "unused_seats", "arr"]
Z_95 = 1.959963984540054


# Events, first copy of each messageId (docs/metrics.md, "Re-delivered records"). `latest`
# orders calls of one timestamp: the later received_at (a call without one loses: DuckDB
# ranks a null struct field above every value, hence the -infinity), then the greater
# messageId.
EVENTS = f"""
create temp table ev as
with first_copy as ({FIRST_COPY_EVENTS})
select
    message_id,
    type,
    "timestamp" as ts,
    cast("timestamp" as date) as d,
    (ts, coalesce(received_at, '-infinity'::timestamptz), message_id) as latest,
    nullif(trim(user_id, ' '), '') as user_id,
    nullif(event, '') as event,
    nullif(trim(group_id, ' '), '') as group_id,
    nullif(trim(context_group_id, ' '), '') as context_group_id,
    properties,
    traits
from first_copy
"""

# The account of each identified track/page event: context.groupId, else the group of the
# user's latest group call (over all time; only calls with a userId attribute).
ATTRIBUTED = """
create temp table user_group as
select user_id, arg_max(group_id, latest) as group_id
from ev
where type = 'group' and user_id is not null and group_id is not null
group by user_id;

create temp table act as
select e.user_id, e.d, coalesce(e.context_group_id, g.group_id) as account_id
from ev as e
left join user_group as g using (user_id)
where e.type in ('track', 'page') and e.user_id is not null;

create temp table account_user_day as
select distinct account_id, user_id, d from act where account_id is not null
"""

# Licenses from the CSV (a re-sent license_id: the latest copy wins, docs/metrics.md) and
# from Stripe (seats = sum of item quantities; annual price = unit_amount * quantity, x 12
# for monthly prices, / 100).
LICENSES = f"""
create temp table lic as
with csv as (
    select
        license_id,
        nullif(trim(account_id, ' '), '') as account_id,
        seats,
        starts_on,
        ends_on,
        cast(annual_price as double) as annual_price
    from raw_file_drop.licenses
    where {completed("raw_file_drop")}
    qualify row_number() over (
        partition by license_id order by _dlt_load_id desc, _source_file desc
    ) = 1
),
subscriptions as (
    select * from raw_stripe.subscriptions where {completed("raw_stripe")}
),
items as (
    select * from raw_stripe.subscriptions__items__data
    where _dlt_root_id in (select _dlt_id from subscriptions)
),
customers as (
    select id, nullif(trim(metadata__account_id, ' '), '') as account_id
    from raw_stripe.customers
    where {completed("raw_stripe")}
),
stripe as (
    select
        s.id as license_id,
        c.account_id,
        sum(i.quantity) as seats,
        cast(to_timestamp(s.start_date) as date) as starts_on,
        cast(to_timestamp(s.ended_at) as date) as ends_on,
        sum(
            i.price__unit_amount * i.quantity
            * case i.price__recurring__interval when 'month' then 12 when 'year' then 1 end
        ) / 100.0 as annual_price
    from subscriptions as s
    left join customers as c on c.id = s.customer
    left join items as i on i._dlt_parent_id = s._dlt_id
    group by all
)
select * from csv
union all
select * from stripe
"""

# Days from the later of the account's first license day and the first event day to the
# as-of date on which a license is active (starts_on <= d < ends_on).
SEAT_UTILIZATION = """
create temp table seat as
with accounts as (
    select account_id, greatest(min(starts_on), (select first_day from p)) as from_day
    from lic
    where account_id is not null
    group by 1
),
license_days as (
    select l.account_id, d.d, sum(l.seats) as seats_purchased, sum(l.annual_price) as arr
    from lic as l
    inner join accounts as a using (account_id)
    inner join days as d
        on d.d >= a.from_day and d.d <= (select as_of from p)
        and l.starts_on <= d.d and (l.ends_on is null or d.d < l.ends_on)
    group by all
),
active as (
    select ld.account_id, ld.d, count(distinct u.user_id) as active_users_28d
    from license_days as ld
    left join account_user_day as u
        on u.account_id = ld.account_id and u.d between ld.d - 27 and ld.d
    group by all
)
select
    ld.account_id,
    ld.d as activity_date,
    ld.seats_purchased,
    a.active_users_28d,
    case when ld.seats_purchased != 0 then a.active_users_28d / ld.seats_purchased end
        as utilization,
    greatest(ld.seats_purchased - a.active_users_28d, 0) as unused_seats,
    ld.arr
from license_days as ld
inner join active as a using (account_id, d)
"""

# Every account named by a valid record; name and plan from its latest group call (any group
# call counts, anonymous ones too: docs/metrics.md, `dim_accounts`).
DIM_ACCOUNTS = f"""
create temp table tk as
with tickets as ({latest_version("raw_zendesk.tickets")}),
organizations as ({latest_version("raw_zendesk.organizations")})
select
    t.id as ticket_id,
    nullif(trim(o.external_id, ' '), '') as account_id,
    t.created_at,
    t.priority
from tickets as t
left join organizations as o on o.id = t.organization_id
where t.status is distinct from 'deleted';

create temp table surveys as
select
    response_id,
    submitted_at,
    nullif(trim(user_id, ' '), '') as user_id,
    nullif(trim(account_id, ' '), '') as account_id,
    survey,
    score
from raw_typeform.responses
where {completed("raw_typeform")} and score is not null
union all
select
    response_id,
    submitted_at,
    nullif(trim(user_id, ' '), '') as user_id,
    nullif(trim(account_id, ' '), '') as account_id,
    survey,
    score
from raw_file_drop.survey_responses
where {completed("raw_file_drop")};

create temp table dim as
with named as (
    select group_id as account_id, ts as t from ev where type = 'group'
    union all
    select context_group_id, ts from ev where type in ('track', 'page')
    union all
    select nullif(trim(external_id, ' '), ''), created_at
    from ({latest_version("raw_zendesk.organizations")})
    union all
    select account_id, created_at from tk
    union all
    select account_id, submitted_at from surveys
    union all
    select nullif(trim(metadata__account_id, ' '), ''), to_timestamp(created)
    from raw_stripe.customers
    where {completed("raw_stripe")}
    union all
    select account_id, cast(starts_on as timestamptz) from lic
),
first_seen as (
    select account_id, min(t) as first_seen_at
    from named
    where account_id is not null
    group by 1
),
latest_group as (
    select
        group_id as account_id,
        arg_max(json_extract_string(traits, '$.name'), latest) as account_name,
        arg_max(json_extract_string(traits, '$.plan'), latest) as plan
    from ev
    where type = 'group' and group_id is not null
    group by 1
),
current as (
    select account_id, sum(seats) as seats_purchased, sum(annual_price) as arr
    from lic, p
    where account_id is not null and starts_on <= as_of and (ends_on is null or as_of < ends_on)
    group by 1
)
select
    f.account_id,
    g.account_name,
    g.plan,
    f.first_seen_at,
    coalesce(c.seats_purchased, 0) as seats_purchased,
    coalesce(c.arr, 0) as arr,
    c.account_id is not null as is_active_customer
from first_seen as f
left join latest_group as g using (account_id)
left join current as c using (account_id)
"""

# The parts of each health score. Scored day D: the week's Sunday, or the as-of date in the
# current week; a row only where the account has a seat-utilization row on D. NPS: the first
# copy of a response_id, answers with a user_id, each user's latest in [D-89, D].
HEALTH_PARTS = """
create temp table nps as
select *
from surveys
where survey = 'nps'
qualify row_number() over (partition by response_id order by submitted_at) = 1;

create temp table scored as
with weeks as (
    select distinct account_id, date_trunc('week', activity_date)::date as week_start
    from seat
),
scored_days as (
    select
        account_id,
        week_start,
        case
            when week_start = date_trunc('week', (select as_of from p))::date
                then (select as_of from p)
            else week_start + 6
        end as dday
    from weeks
)
select sd.account_id, sd.week_start, sd.dday
from scored_days as sd
inner join seat as s on s.account_id = sd.account_id and s.activity_date = sd.dday;

create temp table health_parts as
with support as (
    select sc.account_id, sc.week_start, count(t.ticket_id) as urgent_high
    from scored as sc
    left join tk as t
        on t.account_id = sc.account_id and t.priority in ('urgent', 'high')
        and cast(t.created_at as date) between sc.dday - 27 and sc.dday
    group by all
),
answers as (
    select
        sc.account_id,
        sc.week_start,
        n.user_id,
        arg_max(n.score, (n.submitted_at, n.response_id)) as score
    from scored as sc
    inner join nps as n
        on n.account_id = sc.account_id and n.user_id is not null
        and cast(n.submitted_at as date) between sc.dday - 89 and sc.dday
    group by all
),
sentiment as (
    select account_id, week_start, sum(score) as score_sum, count(*) as answered
    from answers
    group by all
),
now_users as (
    select sc.account_id, sc.week_start, count(distinct u.user_id) as active_now
    from scored as sc
    left join account_user_day as u
        on u.account_id = sc.account_id and u.d between sc.week_start and sc.dday
    group by all
),
then_users as (
    select sc.account_id, sc.week_start, count(distinct u.user_id) as active_then
    from scored as sc
    left join account_user_day as u
        on u.account_id = sc.account_id and u.d between sc.week_start - 28 and sc.dday - 28
    group by all
)
select
    sc.account_id,
    sc.week_start,
    s.seats_purchased,
    s.active_users_28d,
    sup.urgent_high,
    coalesce(sen.score_sum, 0) as score_sum,
    coalesce(sen.answered, 0) as answered,
    nu.active_now,
    tu.active_then
from scored as sc
inner join support as sup using (account_id, week_start)
left join sentiment as sen using (account_id, week_start)
inner join now_users as nu using (account_id, week_start)
inner join then_users as tu using (account_id, week_start)
inner join seat as s on s.account_id = sc.account_id and s.activity_date = sc.dday
"""

# Exposures: identified `Experiment Viewed` track events whose experiment and variation are
# both seeded; a user's exposure is their first (timestamp, then smallest messageId).
EXPOSURES = """
create temp table exposures as
with viewed as (
    select
        user_id,
        ts,
        message_id,
        nullif(json_extract_string(properties, '$.experiment_id'), '') as experiment_id,
        nullif(json_extract_string(properties, '$.variation_id'), '') as variation_id
    from ev
    where type = 'track' and event = 'Experiment Viewed' and user_id is not null
)
select viewed.*
from viewed
inner join variations using (experiment_id, variation_id);

create temp table user_exposure as
with first_exposure as (
    select
        experiment_id,
        user_id,
        arg_min(variation_id, (ts, message_id)) as variation_id,
        min(ts) as exposed_at,
        count(distinct variation_id) as variations_seen
    from exposures
    group by all
)
select
    f.*,
    exists (
        select 1
        from ev as g
        where g.type = 'track' and g.user_id = f.user_id and g.event = e.goal_event
            and g.ts >= f.exposed_at
            and g.ts < f.exposed_at + to_days(cast(e.conversion_window_days as integer))
    ) as converted
from first_exposure as f
inner join experiments as e using (experiment_id);

create temp table variation_counts as
select
    v.experiment_id,
    v.variation_id,
    lower(v.is_control) = 'true' as is_control,
    cast(v.weight as double) as weight,
    count(u.user_id) as exposed_users,
    count(u.user_id) filter (where u.converted) as converted_users,
    cast(min(u.exposed_at) as date) as first_exposed_on,
    cast(max(u.exposed_at) as date) as last_exposed_on,
    (
        select count(*) from user_exposure as c
        where c.experiment_id = v.experiment_id and c.variations_seen > 1
    ) as crossover_users
from variations as v
left join user_exposure as u
    on u.experiment_id = v.experiment_id and u.variation_id = v.variation_id
    and u.variations_seen = 1
group by all
"""


def round_half_away(value: Fraction) -> float:
    """Round an exact rational to 1 decimal, halves away from zero."""
    sign = -1 if value < 0 else 1
    return sign * math.floor(abs(value) * 10 + Fraction(1, 2)) / 10


def health_row(part: dict[str, Any], weights: dict[str, Fraction]) -> dict[str, Any]:
    """One health row from its parts, every component an exact rational.

    Usage with 0 seats (null utilization) scores 0 (docs/metrics.md,
    `fct_account_health_weekly`).
    """
    seats = int(part["seats_purchased"])
    usage = Fraction(0)
    if seats:
        usage = 100 * min(Fraction(int(part["active_users_28d"]), seats), Fraction(1))
    support = max(Fraction(100 - 20 * int(part["urgent_high"])), Fraction(0))
    answered = int(part["answered"])
    sentiment = 10 * Fraction(int(part["score_sum"]), answered) if answered else Fraction(50)
    then = int(part["active_then"])
    change = Fraction(int(part["active_now"]) - then, max(then, 1))
    trend = 50 + 50 * max(Fraction(-1), min(Fraction(1), change))
    score = round_half_away(
        weights["usage"] * usage
        + weights["support"] * support
        + weights["sentiment"] * sentiment
        + weights["trend"] * trend
    )
    band = "healthy" if score >= 70 else "at_risk" if score >= 40 else "critical"
    return {
        "account_id": part["account_id"],
        "week_start": part["week_start"],
        "usage_score": float(usage),
        "support_score": float(support),
        "sentiment_score": float(sentiment),
        "trend_score": float(trend),
        "health_score": score,
        "health_band": band,
    }


def health_weekly(work: duckdb.DuckDBPyConnection, seeds: Path) -> pd.DataFrame:
    """Weighted health scores, weights read exactly from the seed's decimal text."""
    weights_seed = pd.read_csv(seeds / "health_score_weights.csv", dtype=str)
    weights = {r["component"]: Fraction(r["weight"]) for r in weights_seed.to_dict("records")}
    work.execute(HEALTH_PARTS)
    parts = frame(work, "select * from health_parts")
    rows = [health_row(part, weights) for part in parts.to_dict("records")]
    columns = [
        "account_id",
        "week_start",
        "usage_score",
        "support_score",
        "sentiment_score",
        "trend_score",
        "health_score",
        "health_band",
    ]
    return pd.DataFrame(rows, columns=columns)


def experiment_rows(counts: pd.DataFrame) -> list[dict[str, Any]]:
    """Lift, interval and p-value against the control; SRM chi-square over the experiment."""
    rows = []
    for experiment_id, group in counts.groupby("experiment_id"):
        control = group[group["is_control"]].iloc[0]
        total = int(group["exposed_users"].sum())
        srm = None
        if total:
            expected = total * group["weight"] / group["weight"].sum()
            chi2 = float((((group["exposed_users"] - expected) ** 2) / expected).sum())
            srm = float(stats.chi2.sf(chi2, len(group) - 1))
        n_c, x_c = int(control["exposed_users"]), int(control["converted_users"])
        for r in group.to_dict("records"):
            n, x = int(r["exposed_users"]), int(r["converted_users"])
            lift = relative = low = high = p_value = None
            if not r["is_control"] and n and n_c:
                rate_v, rate_c = x / n, x_c / n_c
                lift = rate_v - rate_c
                relative = lift / rate_c if rate_c else None
                se = math.sqrt(rate_v * (1 - rate_v) / n + rate_c * (1 - rate_c) / n_c)
                low, high = lift - Z_95 * se, lift + Z_95 * se
                pooled = (x + x_c) / (n + n_c)
                se0 = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / n_c))
                p_value = math.erfc(abs(lift / se0) / math.sqrt(2)) if se0 else None
            rows.append(
                {
                    "experiment_id": experiment_id,
                    "variation_id": r["variation_id"],
                    "is_control": bool(r["is_control"]),
                    "exposed_users": n,
                    "converted_users": x,
                    "conversion_rate": x / n if n else None,
                    "absolute_lift": lift,
                    "relative_lift": relative,
                    "ci_low": low,
                    "ci_high": high,
                    "p_value": p_value,
                    "srm_p_value": srm,
                    "has_srm": None if srm is None else srm < 0.001,
                    "crossover_users": int(r["crossover_users"]),
                    "first_exposed_on": r["first_exposed_on"],
                    "last_exposed_on": r["last_exposed_on"],
                }
            )
    return rows


def metrics_daily_licenses(seat: pd.DataFrame) -> pd.DataFrame:
    """The per-account license rows of metrics_daily: each equal to its seat mart column."""
    rows = [
        (name, r["account_id"], r["activity_date"], r[name])
        for r in seat.to_dict("records")
        for name in LICENSE_METRICS
    ]
    return pd.DataFrame(rows, columns=["metric_name", "account_id", "metric_date", "value"])


def build(work: duckdb.DuckDBPyConnection, seeds: Path) -> dict[str, pd.DataFrame]:
    """Every account mart's expected rows, computed in `work`'s temporary tables."""
    work.execute("set session TimeZone = 'UTC'")
    work.execute(EVENTS)
    work.execute(
        "create temp table p as select max(d) as as_of, min(d) as first_day"
        " from ev where type in ('track', 'page')"
    )
    work.execute(ATTRIBUTED)
    work.execute(LICENSES)
    work.execute(
        "create temp table days as select cast(unnest(generate_series("
        "(select min(starts_on) from lic), (select as_of from p), interval 1 day)) as date) as d"
    )
    work.execute(SEAT_UTILIZATION)
    work.execute(DIM_ACCOUNTS)
    for table, seed in (("experiments", "experiments"), ("variations", "experiment_variations")):
        path = seeds / f"{seed}.csv"
        work.execute(
            f"create temp table {table} as select * from read_csv('{path}', all_varchar=true)"
        )
    work.execute(EXPOSURES)
    counts = frame(work, "select * from variation_counts order by experiment_id, variation_id")
    seat = frame(work, "select * from seat")
    return {
        "seat": seat,
        "dim": frame(work, "select * from dim"),
        "health": health_weekly(work, seeds),
        "experiments": pd.DataFrame(experiment_rows(counts)),
    }


def expected_marts(con: duckdb.DuckDBPyConnection, seeds: Path) -> list[Expected]:
    """Every account mart, and the per-account license slice of metrics_daily."""
    work = con.cursor()
    try:
        tables = build(work, seeds)
    finally:
        work.close()
    license_rows = f"account_id is not null and metric_name in {tuple(LICENSE_METRICS)}"
    return [
        Expected("fct_seat_utilization_daily", ["account_id", "activity_date"], tables["seat"]),
        Expected("dim_accounts", ["account_id"], tables["dim"]),
        Expected("fct_account_health_weekly", ["account_id", "week_start"], tables["health"]),
        Expected(
            "fct_experiment_results", ["experiment_id", "variation_id"], tables["experiments"]
        ),
        Expected(
            "metrics_daily",
            ["metric_name", "account_id", "metric_date"],
            metrics_daily_licenses(tables["seat"]),
            where=license_rows,
        ),
    ]
