{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_restaged_group_calls() }}"
    )
}}
-- The Segment group calls (first copy of each messageId) that int_user_latest_group,
-- int_account_mentions and dim_accounts read, so none of them reads every staged event each
-- run (docs/metrics.md, "Incremental builds").
-- Incremental, by load, like stg_segment__events: a run reads the staged rows of the dlt loads
-- it has not read yet. Each load read leaves one marker row (dlt_load_id only, every other
-- column null) so a load without group calls is not read again; readers keep the rows with
-- a message_id. A staged copy can replace one of a later load (loads completing out of
-- order, macros/incremental.sql), so the pre-hook first deletes every kept row whose
-- message_id the loads read now bring (delete_restaged_group_calls), then the run appends.

with

new_rows as (

    select * from {{ ref('stg_segment__events') }}
    {% if is_incremental() -%}
        where {{ dlt_loads_not_built('raw_segment', this, load_id_column='dlt_load_id') }}
    {%- endif %}

),

group_calls as (

    select
        message_id,
        user_id,
        group_id,
        occurred_at,
        received_at,
        trait_name,
        trait_plan,
        dlt_load_id
    from new_rows
    where event_type = 'group'

),

load_markers as (

    select distinct
        cast(null as varchar) as message_id,
        cast(null as varchar) as user_id,
        cast(null as varchar) as group_id,
        cast(null as timestamptz) as occurred_at,
        cast(null as timestamptz) as received_at,
        cast(null as varchar) as trait_name,
        cast(null as varchar) as trait_plan,
        dlt_load_id
    from new_rows

),

final as (

    select * from group_calls
    union all
    select * from load_markers

)

select * from final
