{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='activity_date',
        on_schema_change='fail'
    )
}}
-- depends_on: {{ ref('int_product_reprocess_from') }}
-- Incremental: rebuilds the days from int_product_reprocess_from on.
-- One row per account, user and day: the user's track and page events attributed to the
-- account that day. A user active in two accounts has a row in each. Events of unknown
-- account are left out.

with

events as (

    select * from {{ ref('int_events_attributed') }}
    where
        account_id is not null
        {% if is_incremental() -%}
            and activity_date >= {{ reprocess_from() }}
        {%- endif %}

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
