with

account_user_days as (

    select * from {{ ref('int_account_user_activity_days') }}

),

final as (

    select
        account_id,
        activity_date,
        cast(count(distinct user_id) as bigint) as active_users,
        cast(sum(events) as bigint) as events
    from account_user_days
    group by account_id, activity_date

)

select * from final
