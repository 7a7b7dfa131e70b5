{{ config(materialized='table') }}
-- depends_on: {{ ref('stg_segment__events') }}
-- depends_on: {{ ref('int_user_latest_group') }}
-- depends_on: {{ source('raw_segment', '_dlt_loads') }}
-- One row: the first UTC day the incremental product models must rebuild on this run
-- (docs/metrics.md, "Incremental builds"). It is the earliest of
--   * the last attributed day already built minus var('lookback_days') (default 3);
--   * the earliest day of track/page events of dlt loads not built yet (a late event of any
--     age is caught here, not only within the lookback; anonymous ones too: an early one
--     moves the first event day, and fct_active_users_daily must add the days before);
--   * the earliest day of a built event whose account would change because the user's
--     latest group call changed (only users with a group call in a new load can change).
-- Null (rebuild everything) when int_events_attributed has not been built yet. It reads the
-- previous state of int_events_attributed by name, not through ref(), which would be a cycle.

{%- set built = none %}
{%- if execute %}
    {%- set built = adapter.get_relation(
        database=this.database,
        schema=generate_schema_name('intermediate', none),
        identifier='int_events_attributed'
    ) %}
{%- endif %}

with

{% if built is not none and built.is_table %}

    -- The built table is read by name in each CTE (no shared CTE: DuckDB would materialize
    -- it whole).
    new_events as (

        -- Events of completed loads that int_events_attributed has not built yet (a load
        -- whose events are all anonymous or group calls stays here, harmlessly); their load
        -- ids are rendered as literals (dlt_loads_not_built).
        select
            user_id,
            event_type,
            group_id,
            occurred_on,
            occurred_at
        from {{ ref('stg_segment__events') }}
        where {{ dlt_loads_not_built('raw_segment', built, load_id_column='dlt_load_id') }}

    ),

    lookback as (

        select {{ add_days('max(built_events.activity_date)', -(var('lookback_days', 3) | int)) }} as from_date
        from {{ built }} as built_events

    ),

    new_loads as (

        select min(occurred_on) as from_date
        from new_events
        where
            event_type in ('track', 'page')
            and occurred_at is not null

    ),

    regrouped_users as (

        -- A user's latest group call can only change through a new group call.
        select distinct user_id
        from new_events
        where
            event_type = 'group'
            and user_id is not null
            and group_id is not null
            and occurred_at is not null

    ),

    reattributed as (

        select min(built_events.activity_date) as from_date
        from {{ built }} as built_events
        inner join regrouped_users
            on built_events.user_id = regrouped_users.user_id
        left join {{ ref('int_user_latest_group') }} as latest_group
            on built_events.user_id = latest_group.user_id
        where
            built_events.context_group_id is null
            and built_events.account_id is distinct from latest_group.latest_group_id

    ),

    final as (

        select
            case
                when lookback.from_date is not null
                    then
                        least(
                            lookback.from_date,
                            coalesce(new_loads.from_date, lookback.from_date),
                            coalesce(reattributed.from_date, lookback.from_date)
                        )
            end as reprocess_from
        from lookback
        cross join new_loads
        cross join reattributed

    )

{% else %}

    final as (

        select cast(null as date) as reprocess_from

    )

{% endif %}

select * from final
