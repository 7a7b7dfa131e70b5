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
-- One row per user and UTC day on which the user was active (a track or page event).

with

events as (

    select * from {{ ref('int_events_attributed') }}
    {% if is_incremental() -%}
        where activity_date >= {{ reprocess_from() }}
    {%- endif %}

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
