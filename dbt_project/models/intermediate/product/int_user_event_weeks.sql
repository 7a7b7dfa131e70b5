{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='activity_week',
        on_schema_change='fail'
    )
}}
-- depends_on: {{ ref('int_product_reprocess_from') }}
-- Incremental: rebuilds the weeks from the Monday of int_product_reprocess_from's day on.
-- One row per user, Monday week, event type and event name of the identified track and page
-- events: what fct_feature_adoption_weekly counts, without one row per event. The tracking
-- plan is applied by the mart, so editing the seed still changes every week with no full
-- refresh (docs/metrics.md, "Incremental builds").

with

events as (

    select * from {{ ref('int_events_attributed') }}
    {% if is_incremental() -%}
        where activity_date >= {{ week_start(reprocess_from()) }}
    {%- endif %}

),

final as (

    select
        user_id,
        activity_week,
        event_type,
        event_name,
        count(*) as events
    from events
    group by user_id, activity_week, event_type, event_name

)

select * from final
