{% set columns = source_column_names(source('raw_stripe', 'customers')) %}

with

source as (

    select * from {{ source('raw_stripe', 'customers') }}
    where {{ dlt_completed_loads('raw_stripe') }}

),

renamed as (

    select
        id as customer_id,
        {{ nullif_empty(column_or_null(columns, 'metadata__account_id', 'varchar')) }} as account_id,
        {{ column_or_null(columns, 'name', 'varchar') }} as customer_name,
        {{ unix_to_timestamp('created') }} as created_at,
        _dlt_load_id as dlt_load_id
    from source

),

latest as (

    select
        *,
        row_number() over (partition by customer_id order by dlt_load_id desc) as version_rank
    from renamed

),

final as (

    select
        customer_id,
        account_id,
        customer_name,
        created_at
    from latest
    where version_rank = 1

)

select * from final
