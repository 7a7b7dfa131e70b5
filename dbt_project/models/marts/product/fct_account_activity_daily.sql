{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='activity_date',
        on_schema_change='fail'
    )
}}
-- depends_on: {{ ref('int_product_reprocess_from') }}
-- Incremental: rebuilds the days from int_product_reprocess_from on (delete+insert).
with

account_user_days as (

    select * from {{ ref('int_account_user_activity_days') }}
    {% if is_incremental() -%}
        where activity_date >= {{ reprocess_from() }}
    {%- endif %}

),

final as (

    select
        -- Cast to the contract's type: on PostgreSQL the rows of an incremental run must have
        -- exactly the target's column types (text and varchar differ there).
        cast(account_id as varchar) as account_id,
        activity_date,
        cast(count(distinct user_id) as bigint) as active_users,
        cast(sum(events) as bigint) as events
    from account_user_days
    group by account_id, activity_date

)

select * from final
