with

mentions as (

    select * from {{ ref('int_account_mentions') }}

),

group_calls as (

    -- Every group call (int_segment_group_calls: its rows with a message_id).
    select * from {{ ref('int_segment_group_calls') }}
    where message_id is not null

),

bounds as (

    select * from {{ ref('int_activity_bounds') }}

),

licenses as (

    select * from {{ ref('int_licenses') }}
    where is_account_resolved

),

accounts as (

    select
        account_id,
        min(seen_at) as first_seen_at
    from mentions
    group by account_id

),

latest_group_call as (

    -- Name and plan: the traits of the account's latest group call (by timestamp).
    select
        group_id as account_id,
        trait_name as account_name,
        trait_plan as plan,
        row_number() over (
            partition by group_id
            order by occurred_at desc, received_at desc nulls last, {{ binary_text('message_id') }} desc
        ) as recency_rank
    from group_calls
    where group_id is not null

),

active_licenses as (

    select
        licenses.account_id,
        sum(licenses.seats) as seats_purchased,
        sum(licenses.annual_price) as arr
    from licenses
    cross join bounds
    where
        licenses.starts_on <= bounds.as_of_date
        and (licenses.ends_on is null or bounds.as_of_date < licenses.ends_on)
    group by licenses.account_id

),

final as (

    select
        cast(accounts.account_id as varchar) as account_id,
        cast(latest_group_call.account_name as varchar) as account_name,
        cast(latest_group_call.plan as varchar) as plan,
        cast(accounts.first_seen_at as timestamptz) as first_seen_at,
        cast(coalesce(active_licenses.seats_purchased, 0) as bigint) as seats_purchased,
        cast(coalesce(active_licenses.arr, 0) as double precision) as arr,
        active_licenses.account_id is not null as is_active_customer
    from accounts
    left join latest_group_call
        on
            accounts.account_id = latest_group_call.account_id
            and latest_group_call.recency_rank = 1
    left join active_licenses
        on accounts.account_id = active_licenses.account_id

)

select * from final
