with

source as (

    select * from {{ source('raw_segment', 'events') }}
    where {{ dlt_completed_loads('raw_segment') }}

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

deduplicated as (

    -- A message delivered more than once counts once: its first copy (earliest load, then
    -- earliest arrival).
    select
        *,
        row_number() over (
            partition by message_id
            order by dlt_load_id, received_at, source_file
        ) as copy_number
    from renamed
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
