{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='week_start',
        on_schema_change='fail'
    )
}}
-- depends_on: {{ ref('int_product_reprocess_from') }}
-- Growth accounting (docs/metrics.md, "Usage depth"): one row per week from the first event's week
-- to the as-of date's week; the current partial week counts as a week. Incremental: rebuilds
-- the weeks from the Monday of int_product_reprocess_from's day on. A week's states need the
-- user-weeks of that week and the one before, and, for the users active then, their first
-- active week over all history (read for those users only).
with

bounds as (

    select * from {{ ref('int_activity_bounds') }}

),

user_days as (

    select * from {{ ref('int_user_activity_days') }}

),

weeks as (

    select cast(week_series.date_ts as date) as week_start
    from bounds
    cross join {{ day_series('bounds.first_event_week', 'bounds.as_of_week', 7, alias='week_series') }}
    {% if is_incremental() -%}
        where cast(week_series.date_ts as date) >= {{ week_start(reprocess_from()) }}
    {%- endif %}

),

user_weeks as (

    -- From the week before the first rebuilt one: its users decide returning and dormant.
    select distinct
        user_id,
        activity_week
    from user_days
    {% if is_incremental() -%}
        where activity_date >= {{ add_days(week_start(reprocess_from()), -7) }}
    {%- endif %}

),

first_weeks as (

    -- The week of a user's first active day, over all history.
    select
        user_id,
        min(activity_week) as first_week
    from user_days
    {% if is_incremental() -%}
        where user_id in (select user_weeks.user_id from user_weeks)
    {%- endif %}
    group by user_id

),

active_states as (

    -- Each user active in week W: new (first active day in W), returning (also active in
    -- W-1) or resurrected (active before W-1, not in W-1).
    select
        user_weeks.activity_week as week_start,
        user_weeks.user_id,
        case
            when first_weeks.first_week = user_weeks.activity_week then 'new'
            when previous_week.user_id is not null then 'returning'
            else 'resurrected'
        end as state
    from user_weeks
    inner join first_weeks
        on user_weeks.user_id = first_weeks.user_id
    left join user_weeks as previous_week
        on
            user_weeks.user_id = previous_week.user_id
            and {{ add_days('user_weeks.activity_week', -7) }} = previous_week.activity_week

),

dormant as (

    -- Active in W-1 and not in W, counted in W (only for weeks up to the as-of week).
    select
        {{ add_days('user_weeks.activity_week', 7) }} as week_start,
        count(*) as dormant_users
    from user_weeks
    left join user_weeks as next_week
        on
            user_weeks.user_id = next_week.user_id
            and {{ add_days('user_weeks.activity_week', 7) }} = next_week.activity_week
    where next_week.user_id is null
    group by {{ add_days('user_weeks.activity_week', 7) }}

),

active as (

    select
        week_start,
        count(*) as active_users,
        sum(case when state = 'new' then 1 else 0 end) as new_users,
        sum(case when state = 'returning' then 1 else 0 end) as returning_users,
        sum(case when state = 'resurrected' then 1 else 0 end) as resurrected_users
    from active_states
    group by week_start

),

final as (

    select
        weeks.week_start,
        cast(coalesce(active.active_users, 0) as bigint) as active_users,
        cast(coalesce(active.new_users, 0) as bigint) as new_users,
        cast(coalesce(active.returning_users, 0) as bigint) as returning_users,
        cast(coalesce(active.resurrected_users, 0) as bigint) as resurrected_users,
        cast(coalesce(dormant.dormant_users, 0) as bigint) as dormant_users,
        {{ safe_ratio(
            'coalesce(active.new_users, 0) + coalesce(active.resurrected_users, 0)',
            'dormant.dormant_users'
        ) }} as quick_ratio
    from weeks
    left join active
        on weeks.week_start = active.week_start
    left join dormant
        on weeks.week_start = dormant.week_start

)

select * from final
