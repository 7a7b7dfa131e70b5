with

bounds as (

    select * from {{ ref('int_activity_bounds') }}

),

tracking_plan as (

    select * from {{ ref('feature_tracking_plan') }}

),

event_weeks as (

    -- One row per user, week and event name (int_user_event_weeks, incremental), not one
    -- per event: the scan follows users and weeks. A table rebuilt whole, so an edit of the
    -- tracking plan changes every week (docs/metrics.md, "Incremental builds").
    select * from {{ ref('int_user_event_weeks') }}

),

user_days as (

    select * from {{ ref('int_user_activity_days') }}

),

weeks as (

    select cast(day_series.date_ts as date) as week_start
    from bounds
    cross join {{ day_series('bounds.first_event_week', 'bounds.as_of_week', 7) }}

),

features as (

    select distinct feature
    from tracking_plan

),

feature_users as (

    -- Only track events match, by exact (case-sensitive) event name.
    select
        event_weeks.activity_week as week_start,
        tracking_plan.feature,
        count(distinct event_weeks.user_id) as feature_users
    from event_weeks
    inner join tracking_plan
        on event_weeks.event_name = tracking_plan.event_name
    where event_weeks.event_type = 'track'
    group by event_weeks.activity_week, tracking_plan.feature

),

active_users as (

    select
        activity_week as week_start,
        count(distinct user_id) as active_users
    from user_days
    group by activity_week

),

final as (

    select
        weeks.week_start,
        features.feature,
        cast(coalesce(feature_users.feature_users, 0) as bigint) as feature_users,
        cast(coalesce(active_users.active_users, 0) as bigint) as active_users,
        {{ safe_ratio('coalesce(feature_users.feature_users, 0)', 'active_users.active_users') }} as adoption_rate
    from weeks
    cross join features
    left join feature_users
        on
            weeks.week_start = feature_users.week_start
            and features.feature = feature_users.feature
    left join active_users
        on weeks.week_start = active_users.week_start

)

select * from final
