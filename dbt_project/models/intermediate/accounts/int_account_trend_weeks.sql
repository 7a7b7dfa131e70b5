{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='week_start',
        on_schema_change='fail'
    )
}}
-- depends_on: {{ ref('int_product_reprocess_from') }}
-- The usage trend of fct_account_health_weekly (docs/metrics.md, "Account health"): for each
-- account and week, the distinct users active "now", [week start, D], and "then", the same
-- days 28 days earlier, where D is the week's Sunday or the as-of date for the current week,
-- so a partial current week never meets a whole one. Incremental: rebuilds the weeks from
-- the Monday of int_product_reprocess_from's day on, reading the user-days from 28 days
-- before it (a week's "then" days). Older weeks keep their rows: their days are not rebuilt
-- and their D is their Sunday, before the as-of date.

with

bounds as (

    select * from {{ ref('int_activity_bounds') }}

),

account_user_days as (

    select * from {{ ref('int_account_user_activity_days') }}
    {% if is_incremental() -%}
        where activity_date >= {{ add_days(week_start(reprocess_from()), -28) }}
    {%- endif %}

),

trend_days as (

    -- A user-day d counts "now" for its own week and "then" for the week 28 days later (4
    -- whole weeks, so d + 28 falls in that week); compared_date (d, or d + 28) must be on
    -- or before the week's D. Grouped by account and week, so the cost follows the
    -- user-days, not user-days times weeks (docs/metrics.md).
    select
        account_id,
        user_id,
        {{ week_start('activity_date') }} as week_start,
        activity_date as compared_date,
        true as is_now
    from account_user_days

    union all

    select
        account_id,
        user_id,
        {{ add_days(week_start('activity_date'), 28) }} as week_start,
        {{ add_days('activity_date', 28) }} as compared_date,
        false as is_now
    from account_user_days

),

final as (

    select
        trend_days.account_id,
        trend_days.week_start,
        cast(count(distinct case when trend_days.is_now then trend_days.user_id end) as bigint)
            as active_users_now,
        cast(count(distinct case when not trend_days.is_now then trend_days.user_id end) as bigint)
            as active_users_then
    from trend_days
    cross join bounds
    where
        trend_days.compared_date <= {{ scored_day('trend_days.week_start', 'bounds.as_of_date') }}
        {% if is_incremental() -%}
            and trend_days.week_start >= {{ week_start(reprocess_from()) }}
        {%- endif %}
    group by trend_days.account_id, trend_days.week_start

)

select * from final
