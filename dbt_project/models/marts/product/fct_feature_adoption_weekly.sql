with

bounds as (

    select * from {{ ref('int_activity_bounds') }}

),

tracking_plan as (

    select * from {{ ref('feature_tracking_plan') }}

),

events as (

    select * from {{ ref('int_events_attributed') }}

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
        events.activity_week as week_start,
        tracking_plan.feature,
        count(distinct events.user_id) as feature_users
    from events
    inner join tracking_plan
        on events.event_name = tracking_plan.event_name
    where events.event_type = 'track'
    group by events.activity_week, tracking_plan.feature

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
