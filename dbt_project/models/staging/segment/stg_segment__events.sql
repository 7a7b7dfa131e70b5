{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='message_id',
        on_schema_change='fail'
    )
}}
-- Incremental (docs/metrics.md, "Incremental builds"): a run reads only the rows of completed
-- dlt loads it has not seen yet. The first copy of a messageId must still win across loads,
-- so the new rows are ranked together with the kept copies of the same messageIds; the
-- winners replace them (delete+insert on message_id).

with

source as (

    select * from {{ source('raw_segment', 'events') }}
    where
        {{ dlt_completed_loads('raw_segment') }}
        {% if is_incremental() -%}
            and _dlt_load_id not in (select distinct kept.dlt_load_id from {{ this }} as kept)
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

candidates as (

    select * from renamed
    {% if is_incremental() %}
        union all
        select
            kept.message_id,
            kept.event_type,
            kept.occurred_at,
            kept.occurred_on,
            kept.user_id,
            kept.anonymous_id,
            kept.event_name,
            kept.page_name,
            kept.group_id,
            kept.context_group_id,
            kept.trait_name,
            kept.trait_plan,
            kept.received_at,
            kept.sent_at,
            kept.properties,
            kept.traits,
            kept.context,
            kept.source_file,
            kept.dlt_load_id
        from {{ this }} as kept
        where kept.message_id in (select renamed.message_id from renamed)
    {% endif %}

),

deduplicated as (

    -- A message delivered more than once counts once: its first copy (earliest load, then
    -- earliest arrival).
    select
        *,
        row_number() over (
            partition by message_id
            order by dlt_load_id, received_at, source_file
        ) as copy_number
    from candidates
    where message_id is not null

)

select
    message_id,
    event_type,
    occurred_at,
    occurred_on,
    user_id,
    anonymous_id,
    event_name,
    page_name,
    group_id,
    context_group_id,
    trait_name,
    trait_plan,
    received_at,
    sent_at,
    properties,
    traits,
    context,
    source_file,
    dlt_load_id
from deduplicated
where copy_number = 1
