{% set columns = source_column_names(source('raw_zendesk', 'tickets')) %}

with

source as (

    select * from {{ source('raw_zendesk', 'tickets') }}
    where {{ dlt_completed_loads('raw_zendesk') }}

),

renamed as (

    select
        cast(id as bigint) as ticket_id,
        cast({{ column_or_null(columns, 'organization_id', 'bigint') }} as bigint) as organization_id,
        cast({{ column_or_null(columns, 'requester_id', 'bigint') }} as bigint) as requester_id,
        cast({{ column_or_null(columns, 'assignee_id', 'bigint') }} as bigint) as assignee_id,
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at,
        status,
        {{ column_or_null(columns, 'priority', 'varchar') }} as priority,
        {{ column_or_null(columns, 'type', 'varchar') }} as ticket_type,
        {{ column_or_null(columns, 'subject', 'varchar') }} as subject,
        {{ column_or_null(columns, 'via__channel', 'varchar') }} as channel,
        _dlt_id as dlt_id,
        _dlt_load_id as dlt_load_id
    from source

),

latest as (

    -- The ticket's latest version: greatest updated_at; on a tie the later load.
    select
        *,
        row_number() over (
            partition by ticket_id
            order by updated_at desc, dlt_load_id desc
        ) as version_rank
    from renamed

),

final as (

    select
        ticket_id,
        organization_id,
        requester_id,
        assignee_id,
        created_at,
        updated_at,
        status,
        priority,
        ticket_type,
        subject,
        channel,
        status = 'deleted' as is_deleted,
        dlt_id,
        dlt_load_id
    from latest
    where version_rank = 1

)

select * from final
