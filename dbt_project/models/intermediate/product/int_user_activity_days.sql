-- One row per user and UTC day on which the user was active (a track or page event).

with

events as (

    select * from {{ ref('int_events_attributed') }}

),

final as (

    select
        user_id,
        activity_date,
        {{ week_start('activity_date') }} as activity_week,
        count(*) as events
    from events
    group by user_id, activity_date

)

select * from final
