-- One row per account, user and day: the user's track and page events attributed to the
-- account that day. A user active in two accounts has a row in each. Events of unknown
-- account are left out.

with

events as (

    select * from {{ ref('int_events_attributed') }}
    where account_id is not null

),

final as (

    select
        account_id,
        user_id,
        activity_date,
        {{ week_start('activity_date') }} as activity_week,
        count(*) as events
    from events
    group by account_id, user_id, activity_date

)

select * from final
