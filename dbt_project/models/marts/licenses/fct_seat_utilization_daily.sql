{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_stale_seat_utilization_rows() }}"
    )
}}
-- depends_on: {{ ref('int_product_reprocess_from') }}
-- Incremental (docs/metrics.md, "Incremental builds"). A row depends on the account's
-- licenses that day and on its user-days of the 28 days ending on it. User-days change only
-- from int_product_reprocess_from on; licenses (Stripe, CSV) may change any day. So the
-- pre-hook first deletes every kept row from the restart day on and every row whose seats
-- or ARR no longer match the licenses (or whose license day is gone); the model then builds
-- exactly the license account-days that have no row left (append).

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

days_to_build as (

    select account_days.*
    from account_days
    {% if is_incremental() -%}
        where not exists (
            select 1
            from {{ this }} as kept
            where
                kept.account_id = account_days.account_id
                and kept.activity_date = account_days.activity_date
        )
    {%- endif %}

),

active_users as (

    -- Distinct users attributed to the account and active in the 28 days ending on the day.
    select
        days_to_build.account_id,
        days_to_build.activity_date,
        count(distinct account_user_days.user_id) as active_users_28d
    from days_to_build
    inner join account_user_days
        on
            days_to_build.account_id = account_user_days.account_id
            and days_to_build.window_start <= account_user_days.activity_date
            and days_to_build.activity_date >= account_user_days.activity_date
    group by days_to_build.account_id, days_to_build.activity_date

),

final as (

    select
        -- The contract's type: on PostgreSQL an incremental run's rows must match the target's
        -- column types exactly (text and varchar differ there).
        cast(days_to_build.account_id as varchar) as account_id,
        days_to_build.activity_date,
        cast(days_to_build.seats_purchased as bigint) as seats_purchased,
        cast(coalesce(active_users.active_users_28d, 0) as bigint) as active_users_28d,
        {{ safe_ratio('coalesce(active_users.active_users_28d, 0)', 'days_to_build.seats_purchased') }}
            as utilization,
        cast(
            greatest(days_to_build.seats_purchased - coalesce(active_users.active_users_28d, 0), 0) as bigint
        ) as unused_seats,
        cast(days_to_build.arr as double precision) as arr
    from days_to_build
    left join active_users
        on
            days_to_build.account_id = active_users.account_id
            and days_to_build.activity_date = active_users.activity_date

)

select * from final
