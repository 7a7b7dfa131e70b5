{% set columns = source_column_names(source('raw_zendesk', 'organizations')) %}

with

source as (

    select * from {{ source('raw_zendesk', 'organizations') }}
    where {{ dlt_completed_loads('raw_zendesk') }}

),

renamed as (

    select
        cast(id as bigint) as organization_id,
        {{ nullif_empty(column_or_null(columns, 'external_id', 'varchar')) }} as account_id,
        {{ column_or_null(columns, 'name', 'varchar') }} as organization_name,
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at,
        _dlt_load_id as dlt_load_id
    from source

),

latest as (

    select
        *,
        row_number() over (
            partition by organization_id
            order by updated_at desc, dlt_load_id desc
        ) as version_rank
    from renamed

),

final as (

    select
        organization_id,
        account_id,
        organization_name,
        created_at,
        updated_at
    from latest
    where version_rank = 1

)

select * from final
