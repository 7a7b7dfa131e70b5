{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['cohort_week', 'weeks_since_first_active'],
        on_schema_change='fail'
    )
}}
-- depends_on: {{ ref('int_product_reprocess_from') }}
-- Incremental: rebuilds the (cohort, period) rows whose period week starts on or after the
-- week of int_product_reprocess_from; cohorts still come from all history.
with

bounds as (

    select * from {{ ref('int_activity_bounds') }}

),

user_days as (

    select * from {{ ref('int_user_activity_days') }}

),

user_weeks as (

    select distinct
        user_id,
        activity_week
    from user_days

),

cohorts as (

    -- A user's cohort is the Monday week of their first active day (from the user-days:
    -- the distinct user-weeks of all history would cost more than they save).
    select
        user_id,
        min(activity_week) as cohort_week
    from user_days
    group by user_id

),

cohort_sizes as (

    select
        cohort_week,
        count(*) as cohort_users
    from cohorts
    group by cohort_week

),

cohort_periods as (

    -- k = 0, 1, ... while cohort_week + 7k starts on or before the as-of date.
    select
        cohort_sizes.cohort_week,
        cohort_sizes.cohort_users,
        cast(period_series.date_ts as date) as period_week
    from cohort_sizes
    cross join bounds
    cross join {{ day_series('cohort_sizes.cohort_week', 'bounds.as_of_date', 7, alias='period_series') }}
    {% if is_incremental() -%}
        where cast(period_series.date_ts as date) >= {{ week_start(reprocess_from()) }}
    {%- endif %}

),

retained as (

    select
        cohorts.cohort_week,
        user_weeks.activity_week as period_week,
        count(distinct cohorts.user_id) as retained_users
    from cohorts
    inner join user_weeks
        on cohorts.user_id = user_weeks.user_id
    {% if is_incremental() -%}
        where user_weeks.activity_week >= {{ week_start(reprocess_from()) }}
    {%- endif %}
    group by cohorts.cohort_week, user_weeks.activity_week

),

final as (

    select
        cohort_periods.cohort_week,
        cast({{ dbt.datediff('cohort_periods.cohort_week', 'cohort_periods.period_week', 'day') }} / 7 as integer)
            as weeks_since_first_active,
        cast(cohort_periods.cohort_users as bigint) as cohort_users,
        cast(coalesce(retained.retained_users, 0) as bigint) as retained_users,
        {{ safe_ratio('coalesce(retained.retained_users, 0)', 'cohort_periods.cohort_users') }} as retention_rate
    from cohort_periods
    left join retained
        on
            cohort_periods.cohort_week = retained.cohort_week
            and cohort_periods.period_week = retained.period_week

)

select * from final
