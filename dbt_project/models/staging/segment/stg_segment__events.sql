{{
    config(
        materialized='incremental',
        incremental_strategy='replace_later_loads',
        unique_key='message_id',
        on_schema_change='fail',
        pre_hook="{{ index_on_postgres(['message_id']) }}",
        post_hook="{{ index_on_postgres(['message_id']) }}"
    )
}}
-- Incremental (docs/metrics.md, "Incremental builds"): a run reads only the rows of completed
-- dlt loads it has not seen yet. The first copy of a messageId must still win across loads:
-- a new copy is kept only if no kept copy came from an earlier load (the kept copies are
-- looked up by id and load id only, never read whole), and replaces a kept copy of a later
-- load (delete+insert on message_id; possible only when loads complete out of order). So the
-- delete only looks at kept rows of later loads than the new rows' earliest
-- (replace_later_loads, macros/incremental.sql).
-- PostgreSQL looks the kept copies up through an index on message_id: right after a load its
-- statistics expect one new row and it would scan the whole table once per new event (the
-- hooks also index a table built before the index existed, before its look-up).

with

source as (

    select * from {{ source('raw_segment', 'events') }}
    where
        {% if is_incremental() -%}
            {{ dlt_loads_not_built('raw_segment', this) }}
        {%- else -%}
            {{ dlt_completed_loads('raw_segment') }}
        {%- endif %}

),

renamed as (

    select
        {{ nullif_empty('message_id') }} as message_id,
        type as event_type,
        timestamp as occurred_at,
        {{ utc_date('timestamp') }} as occurred_on,
        {{ nullif_empty('user_id') }} as user_id,
        {{ nullif_empty('anonymous_id') }} as anonymous_id,
        event as event_name,
        name as page_name,
        {{ nullif_empty('group_id') }} as group_id,
        {{ nullif_empty('context_group_id') }} as context_group_id,
        {{ json_text('traits', 'name') }} as trait_name,
        {{ json_text('traits', 'plan') }} as trait_plan,
        received_at,
        sent_at,
        properties,
        traits,
        context,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id
    from source

),

{% if is_incremental() %}

    kept_copies as (

        -- The copies already built of this run's messageIds: one each (message_id is unique).
        select
            kept.message_id,
            kept.dlt_load_id
        from {{ this }} as kept
        where kept.message_id in (select renamed.message_id from renamed)

    ),

{% endif %}

deduplicated as (

    -- A message delivered more than once counts once: its first copy (earliest load, then
    -- earliest arrival).
    select
        *,
        row_number() over (
            partition by message_id
            order by dlt_load_id, received_at nulls last, {{ binary_text('source_file') }}
        ) as copy_number
    from renamed
    where message_id is not null

)

select
    deduplicated.message_id,
    deduplicated.event_type,
    deduplicated.occurred_at,
    deduplicated.occurred_on,
    deduplicated.user_id,
    deduplicated.anonymous_id,
    deduplicated.event_name,
    deduplicated.page_name,
    deduplicated.group_id,
    deduplicated.context_group_id,
    deduplicated.trait_name,
    deduplicated.trait_plan,
    deduplicated.received_at,
    deduplicated.sent_at,
    deduplicated.properties,
    deduplicated.traits,
    deduplicated.context,
    deduplicated.source_file,
    deduplicated.dlt_load_id
from deduplicated
{% if is_incremental() -%}
    left join kept_copies
        on deduplicated.message_id = kept_copies.message_id
{%- endif %}
where
    deduplicated.copy_number = 1
    {% if is_incremental() -%}
        -- Load ids of different loads never tie: an earlier kept copy wins.
        and (
            kept_copies.message_id is null
            or kept_copies.dlt_load_id > deduplicated.dlt_load_id
        )
    {%- endif %}
