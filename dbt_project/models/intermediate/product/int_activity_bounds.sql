{{ config(materialized='table') }}
-- One row: the first event day and the as-of date of the warehouse.
-- As-of date = the last UTC day on which any track or page event happened (docs/metrics.md);
-- the first event day is taken over the same events, anonymous ones included.

-- A table, not a view: most marts read it, and through a view each would scan every event.

with

events as (

    select * from {{ ref('stg_segment__events') }}

),

activity_events as (

    select occurred_on
    from events
    where event_type in ('track', 'page')

),

final as (

    select
        min(occurred_on) as first_event_date,
        max(occurred_on) as as_of_date,
        {{ week_start('min(occurred_on)') }} as first_event_week,
        {{ week_start('max(occurred_on)') }} as as_of_week,
        {{ month_start('max(occurred_on)') }} as as_of_month
    from activity_events
    having count(*) > 0

)

select * from final
