{{ config(pre_hook="{{ hash_joins_on_postgres() }}") }}
-- Ordered funnels from the seeds funnels / funnel_steps (docs/metrics.md, "Usage depth"). A user
-- enters at their first step-1 event over all time (t1); they reach step k when they have
-- events of steps 2..k at t1 <= t2 <= ... <= tk < t1 + window. Taking, step after step, the
-- earliest qualifying event at or after the previous step's time decides exactly that (an
-- earlier tk never closes a path a later one keeps open). Steps are unrolled up to
-- var('funnel_max_steps') (10); the seed test keeps step numbers within it.
-- A table, rebuilt whole: an entrant's window can reach events of any later day, and entry
-- is over all history (docs/metrics.md).
{#- At least 2 (sqlfluff's lint-time var() renders no number). -#}
{%- set max_steps = [var('funnel_max_steps', 10) | int, 2] | max %}
with

bounds as (

    select * from {{ ref('int_activity_bounds') }}

),

funnels as (

    select * from {{ ref('funnels') }}

),

funnel_steps as (

    select * from {{ ref('funnel_steps') }}

),

events as (

    select * from {{ ref('int_events_attributed') }}

),

step_events as (

    -- Identified users' track events whose exact name is a step of some funnel.
    select
        funnel_steps.funnel_id,
        funnel_steps.step_number,
        events.user_id,
        events.occurred_at
    from events
    inner join funnel_steps
        on events.event_name = funnel_steps.event_name
    where events.event_type = 'track'

),

entries as (

    select
        step_events.funnel_id,
        step_events.user_id,
        min(step_events.occurred_at) as entered_at
    from step_events
    where step_events.step_number = 1
    group by step_events.funnel_id, step_events.user_id

),

reached_1 as (

    select
        entries.funnel_id,
        entries.user_id,
        {{ week_start(utc_date('entries.entered_at')) }} as cohort_week,
        {{ dbt.dateadd('day', 'funnels.conversion_window_days', 'entries.entered_at') }} as window_end,
        entries.entered_at as reached_at
    from entries
    inner join funnels
        on entries.funnel_id = funnels.funnel_id

),
{% for step in range(2, max_steps + 1) %}
    reached_{{ step }} as (

        select
            reached.funnel_id,
            reached.user_id,
            reached.cohort_week,
            reached.window_end,
            min(step_events.occurred_at) as reached_at
        from reached_{{ step - 1 }} as reached
        inner join step_events
            on
                reached.funnel_id = step_events.funnel_id
                and reached.user_id = step_events.user_id
                and step_events.step_number = {{ step }}
                and reached.reached_at <= step_events.occurred_at
                and reached.window_end > step_events.occurred_at
        group by reached.funnel_id, reached.user_id, reached.cohort_week, reached.window_end

    ),
{% endfor %}
reached as (
    {% for step in range(1, max_steps + 1) %}
        select
            funnel_id,
            cohort_week,
            {{ step }} as step_number,
            count(*) as users
        from reached_{{ step }}
        group by funnel_id, cohort_week
        {{ 'union all' if not loop.last }}
    {% endfor %}
),

cohorts as (

    select distinct
        funnel_id,
        cohort_week
    from reached_1

),

step_rows as (

    -- Every step of every cohort with an entrant, zeros included.
    select
        cohorts.funnel_id,
        cohorts.cohort_week,
        funnel_steps.step_number,
        funnel_steps.event_name,
        coalesce(reached.users, 0) as users
    from cohorts
    inner join funnel_steps
        on cohorts.funnel_id = funnel_steps.funnel_id
    left join reached
        on
            cohorts.funnel_id = reached.funnel_id
            and cohorts.cohort_week = reached.cohort_week
            and funnel_steps.step_number = reached.step_number

),

final as (

    select
        cast(step_rows.funnel_id as varchar) as funnel_id,
        step_rows.cohort_week,
        cast(step_rows.step_number as integer) as step_number,
        cast(step_rows.event_name as varchar) as event_name,
        cast(step_rows.users as bigint) as users,
        {{ safe_ratio('step_rows.users', 'first_step.users') }} as conversion_from_start,
        case
            when step_rows.step_number > 1
                then {{ safe_ratio('step_rows.users', 'previous_step.users') }}
        end as conversion_from_previous,
        {{ add_days('step_rows.cohort_week', '6 + funnels.conversion_window_days') }} <= bounds.as_of_date
            as is_complete
    from step_rows
    inner join funnels
        on step_rows.funnel_id = funnels.funnel_id
    inner join step_rows as first_step
        on
            step_rows.funnel_id = first_step.funnel_id
            and step_rows.cohort_week = first_step.cohort_week
            and first_step.step_number = 1
    left join step_rows as previous_step
        on
            step_rows.funnel_id = previous_step.funnel_id
            and step_rows.cohort_week = previous_step.cohort_week
            and step_rows.step_number - 1 = previous_step.step_number
    cross join bounds

)

select * from final
