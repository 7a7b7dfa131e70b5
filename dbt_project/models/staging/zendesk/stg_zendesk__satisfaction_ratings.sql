{% set columns = source_column_names(source('raw_zendesk', 'satisfaction_ratings')) %}

with

source as (

    select * from {{ source('raw_zendesk', 'satisfaction_ratings') }}
    where {{ dlt_completed_loads('raw_zendesk') }}

),

renamed as (

    select
        cast(id as bigint) as satisfaction_rating_id,
        cast({{ column_or_null(columns, 'ticket_id', 'bigint') }} as bigint) as ticket_id,
        score,
        cast(created_at as timestamptz) as created_at,
        cast({{ column_or_null(columns, 'updated_at', 'timestamptz') }} as timestamptz) as updated_at,
        _dlt_load_id as dlt_load_id
    from source

),

latest as (

    select
        *,
        row_number() over (
            partition by satisfaction_rating_id
            order by updated_at desc, dlt_load_id desc
        ) as version_rank
    from renamed

),

final as (

    select
        satisfaction_rating_id,
        ticket_id,
        score,
        created_at,
        updated_at,
        {{ utc_date('created_at') }} as created_on,
        score in ('good', 'bad') as is_response
    from latest
    where version_rank = 1

)

select * from final
