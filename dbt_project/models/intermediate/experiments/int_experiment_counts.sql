{{ config(materialized='table') }}
-- The counts behind marts.fct_experiment_results (docs/metrics.md, "Experiments"); the Python step
-- orchestration/lib/experiments.py adds the statistics (SQL engines lack the normal and
-- chi-square distributions). One row per seeded experiment and variation, variations without
-- exposures included. A table, rebuilt whole: a new exposure can turn a user into a crossover
-- of any earlier day, and a conversion window reaches events of later days. It ranks each
-- user's first views of a day (int_experiment_views, incremental), not every view.

with

experiments as (

    select * from {{ ref('experiments') }}

),

variations as (

    select * from {{ ref('experiment_variations') }}

),

goal_events as (

    -- Identified track events (first copy of each messageId).
    select * from {{ ref('int_events_attributed') }}
    where event_type = 'track'

),

views as (

    -- Each user's first view of a variation on each day (int_experiment_views).
    select * from {{ ref('int_experiment_views') }}

),

exposures as (

    -- Only exposures whose experiment and variation are both seeded count.
    select
        views.message_id,
        views.user_id,
        views.occurred_at,
        variations.experiment_id,
        variations.variation_id
    from views
    inner join variations
        on
            views.experiment_id = variations.experiment_id
            and views.variation_id = variations.variation_id

),

user_exposures as (

    -- A user's exposure is their first event for the experiment (by timestamp, then smallest
    -- messageId: the earliest of the days' first views); they cross over when they saw two or
    -- more of its variations.
    select
        experiment_id,
        user_id,
        variation_id,
        occurred_at,
        row_number() over (
            partition by experiment_id, user_id
            order by occurred_at, {{ binary_text('message_id') }}
        ) as exposure_number,
        -- Two or more variations seen <=> their smallest and largest differ (PostgreSQL has
        -- no count(distinct) over a window).
        min(variation_id) over (partition by experiment_id, user_id)
        <> max(variation_id) over (partition by experiment_id, user_id) as is_crossover
    from exposures

),

first_exposures as (

    select
        user_exposures.experiment_id,
        user_exposures.user_id,
        user_exposures.variation_id,
        user_exposures.occurred_at as exposed_at,
        user_exposures.is_crossover,
        {{ dbt.dateadd('day', 'experiments.conversion_window_days', 'user_exposures.occurred_at') }}
            as window_end,
        experiments.goal_event
    from user_exposures
    inner join experiments
        on user_exposures.experiment_id = experiments.experiment_id
    where user_exposures.exposure_number = 1

),

crossovers as (

    select
        experiment_id,
        count(*) as crossover_users
    from first_exposures
    where is_crossover
    group by experiment_id

),

converted as (

    -- A goal event at or after the exposure and before exposure + window.
    select distinct
        first_exposures.experiment_id,
        first_exposures.user_id
    from first_exposures
    inner join goal_events
        on
            first_exposures.user_id = goal_events.user_id
            and first_exposures.goal_event = goal_events.event_name
            and first_exposures.exposed_at <= goal_events.occurred_at
            and first_exposures.window_end > goal_events.occurred_at
    where not first_exposures.is_crossover

),

variation_counts as (

    select
        first_exposures.experiment_id,
        first_exposures.variation_id,
        count(*) as exposed_users,
        count(converted.user_id) as converted_users,
        min({{ utc_date('first_exposures.exposed_at') }}) as first_exposed_on,
        max({{ utc_date('first_exposures.exposed_at') }}) as last_exposed_on
    from first_exposures
    left join converted
        on
            first_exposures.experiment_id = converted.experiment_id
            and first_exposures.user_id = converted.user_id
    where not first_exposures.is_crossover
    group by first_exposures.experiment_id, first_exposures.variation_id

),

final as (

    select
        cast(variations.experiment_id as varchar) as experiment_id,
        cast(variations.variation_id as varchar) as variation_id,
        cast(variations.is_control as boolean) as is_control,
        cast(variations.weight as double precision) as weight,
        cast(coalesce(variation_counts.exposed_users, 0) as bigint) as exposed_users,
        cast(coalesce(variation_counts.converted_users, 0) as bigint) as converted_users,
        cast(coalesce(crossovers.crossover_users, 0) as bigint) as crossover_users,
        variation_counts.first_exposed_on,
        variation_counts.last_exposed_on
    from variations
    inner join experiments
        on variations.experiment_id = experiments.experiment_id
    left join variation_counts
        on
            variations.experiment_id = variation_counts.experiment_id
            and variations.variation_id = variation_counts.variation_id
    left join crossovers
        on variations.experiment_id = crossovers.experiment_id

)

select * from final
