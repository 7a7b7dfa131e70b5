with

bounds as (

    select * from {{ ref('int_activity_bounds') }}

),

seat_utilization as (

    select * from {{ ref('fct_seat_utilization_daily') }}

),

tickets as (

    select * from {{ ref('int_tickets_enriched') }}

),

nps_responses as (

    select * from {{ ref('int_survey_responses') }}
    where
        survey = 'nps'
        and user_id is not null
        and account_id is not null

),

trend_weeks as (

    -- Users active "now" and "then", like for like, per account and week.
    select * from {{ ref('int_account_trend_weeks') }}

),

weights as (

    select * from {{ ref('health_score_weights') }}

),

scored_weeks as (

    -- Scored day D: the week's last day (Sunday), or the as-of date for the current week.
    select
        seat_utilization.account_id,
        {{ week_start('seat_utilization.activity_date') }} as week_start,
        seat_utilization.activity_date as scored_date,
        {{ add_days('seat_utilization.activity_date', -27) }} as window_28d_start,
        {{ add_days('seat_utilization.activity_date', -89) }} as window_90d_start,
        seat_utilization.utilization
    from seat_utilization
    cross join bounds
    where
        seat_utilization.activity_date
        = {{ scored_day(week_start('seat_utilization.activity_date'), 'bounds.as_of_date') }}

),

support as (

    select
        scored_weeks.account_id,
        scored_weeks.week_start,
        count(tickets.ticket_id) as escalated_tickets
    from scored_weeks
    inner join tickets
        on
            scored_weeks.account_id = tickets.account_id
            and scored_weeks.window_28d_start <= tickets.created_on
            and scored_weeks.scored_date >= tickets.created_on
    where tickets.priority in ('urgent', 'high')
    group by scored_weeks.account_id, scored_weeks.week_start

),

nps_in_window as (

    -- Each user's latest NPS score among their answers for the account in [D-89, D].
    select
        scored_weeks.account_id,
        scored_weeks.week_start,
        nps_responses.user_id,
        nps_responses.score,
        row_number() over (
            partition by scored_weeks.account_id, scored_weeks.week_start, nps_responses.user_id
            order by nps_responses.submitted_at desc, {{ binary_text('nps_responses.response_id') }} desc
        ) as answer_rank
    from scored_weeks
    inner join nps_responses
        on
            scored_weeks.account_id = nps_responses.account_id
            and scored_weeks.window_90d_start <= nps_responses.submitted_on
            and scored_weeks.scored_date >= nps_responses.submitted_on

),

sentiment as (

    select
        account_id,
        week_start,
        avg(cast(score as double precision)) as average_score
    from nps_in_window
    where answer_rank = 1
    group by account_id, week_start

),

components as (

    select
        scored_weeks.account_id,
        scored_weeks.week_start,
        100.0 * least(coalesce(scored_weeks.utilization, 0), 1) as usage_score,
        greatest(100.0 - 20 * coalesce(support.escalated_tickets, 0), 0) as support_score,
        coalesce(10.0 * sentiment.average_score, 50.0) as sentiment_score,
        50.0 + 50.0 * greatest(
            least(
                cast(
                    coalesce(trend_weeks.active_users_now, 0) - coalesce(trend_weeks.active_users_then, 0)
                    as double precision
                )
                / greatest(coalesce(trend_weeks.active_users_then, 0), 1),
                1
            ),
            -1
        ) as trend_score
    from scored_weeks
    left join support
        on
            scored_weeks.account_id = support.account_id
            and scored_weeks.week_start = support.week_start
    left join sentiment
        on
            scored_weeks.account_id = sentiment.account_id
            and scored_weeks.week_start = sentiment.week_start
    left join trend_weeks
        on
            scored_weeks.account_id = trend_weeks.account_id
            and scored_weeks.week_start = trend_weeks.week_start
),

weight_row as (

    select
        max(case when component = 'usage' then weight end) as usage_weight,
        max(case when component = 'support' then weight end) as support_weight,
        max(case when component = 'sentiment' then weight end) as sentiment_weight,
        max(case when component = 'trend' then weight end) as trend_weight
    from weights

),

scored as (

    -- Rounded through DECIMAL so halves round away from zero exactly: 10 decimals absorb the
    -- binary-float drift of a true half (69.95 as 69.9499999999999) without moving a sum
    -- just below a half (1.2499996) onto it.
    select
        components.*,
        cast(round(cast(
            weight_row.usage_weight * components.usage_score
            + weight_row.support_weight * components.support_score
            + weight_row.sentiment_weight * components.sentiment_score
            + weight_row.trend_weight * components.trend_score
            as decimal(38, 10)
        ), 1) as double precision) as health_score
    from components
    cross join weight_row

),

final as (

    select
        cast(account_id as varchar) as account_id,
        cast(week_start as date) as week_start,
        cast(usage_score as double precision) as usage_score,
        cast(support_score as double precision) as support_score,
        cast(sentiment_score as double precision) as sentiment_score,
        cast(trend_score as double precision) as trend_score,
        health_score,
        cast(
            case
                when health_score >= 70 then 'healthy'
                when health_score >= 40 then 'at_risk'
                else 'critical'
            end as varchar
        ) as health_band
    from scored

)

select * from final
