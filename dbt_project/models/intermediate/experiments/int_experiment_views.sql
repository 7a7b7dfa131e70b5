{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='activity_date',
        on_schema_change='fail'
    )
}}
-- depends_on: {{ ref('int_product_reprocess_from') }}
-- Incremental: rebuilds the days from int_product_reprocess_from on, like int_events_attributed
-- (these are some of its events: identified track events with a timestamp).
-- One row per identified user, experiment, variation and UTC day of Segment's A/B-testing
-- spec event `Experiment Viewed`: the day's first view of that variation (by timestamp, then
-- smallest messageId). int_experiment_counts ranks these over all days instead of every
-- view. Ids compare as text (a JSON number is its decimal text); an empty one is absent,
-- and a view without both ids counts nowhere. The seeds are applied by int_experiment_counts,
-- so editing them changes the counts with no full refresh.

with

events as (

    select * from {{ ref('stg_segment__events') }}
    where
        event_type = 'track'
        and event_name = 'Experiment Viewed'
        and user_id is not null
        and occurred_at is not null
        {% if is_incremental() -%}
            and occurred_on >= {{ reprocess_from() }}
        {%- endif %}

),

views as (

    select
        message_id,
        user_id,
        occurred_at,
        occurred_on as activity_date,
        nullif({{ json_text('properties', 'experiment_id') }}, '') as experiment_id,
        nullif({{ json_text('properties', 'variation_id') }}, '') as variation_id
    from events

),

ranked as (

    select
        *,
        row_number() over (
            partition by activity_date, user_id, experiment_id, variation_id
            order by occurred_at, {{ binary_text('message_id') }}
        ) as view_number
    from views
    where
        experiment_id is not null
        and variation_id is not null

),

final as (

    select
        activity_date,
        user_id,
        experiment_id,
        variation_id,
        occurred_at,
        message_id
    from ranked
    where view_number = 1

)

select * from final
