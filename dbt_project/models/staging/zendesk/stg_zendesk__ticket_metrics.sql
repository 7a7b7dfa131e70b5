{% set columns = source_column_names(source('raw_zendesk', 'ticket_metrics')) %}

with

source as (

    select * from {{ source('raw_zendesk', 'ticket_metrics') }}
    where {{ dlt_completed_loads('raw_zendesk') }}

),

renamed as (

    select
        cast(id as bigint) as ticket_metric_id,
        cast(ticket_id as bigint) as ticket_id,
        cast({{ column_or_null(columns, 'created_at', 'timestamptz') }} as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at,
        cast({{ column_or_null(columns, 'solved_at', 'timestamptz') }} as timestamptz) as solved_at,
        cast(
            {{ column_or_null(columns, 'reply_time_in_minutes__calendar', 'bigint') }} as bigint
        ) as first_reply_minutes_calendar,
        cast(
            {{ column_or_null(columns, 'reply_time_in_minutes__business', 'bigint') }} as bigint
        ) as first_reply_minutes_business,
        cast(
            {{ column_or_null(columns, 'full_resolution_time_in_minutes__calendar', 'bigint') }} as bigint
        ) as full_resolution_minutes_calendar,
        cast(
            {{ column_or_null(columns, 'full_resolution_time_in_minutes__business', 'bigint') }} as bigint
        ) as full_resolution_minutes_business,
        cast({{ column_or_null(columns, 'reopens', 'bigint') }} as bigint) as reopens,
        cast({{ column_or_null(columns, 'replies', 'bigint') }} as bigint) as replies,
        _dlt_load_id as dlt_load_id
    from source

),

latest as (

    -- One metric record per ticket: the one with the latest updated_at.
    select
        *,
        row_number() over (
            partition by ticket_id
            order by updated_at desc, dlt_load_id desc, ticket_metric_id desc
        ) as version_rank
    from renamed

),

final as (

    select
        ticket_metric_id,
        ticket_id,
        created_at,
        updated_at,
        solved_at,
        first_reply_minutes_calendar,
        first_reply_minutes_business,
        full_resolution_minutes_calendar,
        full_resolution_minutes_business,
        reopens,
        replies
    from latest
    where version_rank = 1

)

select * from final
