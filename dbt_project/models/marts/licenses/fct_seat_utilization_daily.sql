with

license_days as (

    select * from {{ ref('int_license_days') }}

),

account_user_days as (

    select * from {{ ref('int_account_user_activity_days') }}

),

account_days as (

    select
        account_id,
        activity_date,
        {{ add_days('activity_date', -27) }} as window_start,
        sum(seats) as seats_purchased,
        sum(annual_price) as arr
    from license_days
    group by account_id, activity_date

),

active_users as (

    -- Distinct users attributed to the account and active in the 28 days ending on the day.
    select
        account_days.account_id,
        account_days.activity_date,
        count(distinct account_user_days.user_id) as active_users_28d
    from account_days
    inner join account_user_days
        on
            account_days.account_id = account_user_days.account_id
            and account_days.window_start <= account_user_days.activity_date
            and account_days.activity_date >= account_user_days.activity_date
    group by account_days.account_id, account_days.activity_date

),

final as (

    select
        account_days.account_id,
        account_days.activity_date,
        cast(account_days.seats_purchased as bigint) as seats_purchased,
        cast(coalesce(active_users.active_users_28d, 0) as bigint) as active_users_28d,
        {{ safe_ratio('coalesce(active_users.active_users_28d, 0)', 'account_days.seats_purchased') }}
            as utilization,
        cast(
            greatest(account_days.seats_purchased - coalesce(active_users.active_users_28d, 0), 0) as bigint
        ) as unused_seats,
        cast(account_days.arr as double precision) as arr
    from account_days
    left join active_users
        on
            account_days.account_id = active_users.account_id
            and account_days.activity_date = active_users.activity_date

)

select * from final
