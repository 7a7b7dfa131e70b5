{% set columns = source_column_names(source('raw_stripe', 'subscriptions')) %}

with

source as (

    select * from {{ source('raw_stripe', 'subscriptions') }}
    where {{ dlt_completed_loads('raw_stripe') }}

),

renamed as (

    select
        id as subscription_id,
        customer as customer_id,
        status,
        {{ unix_to_timestamp('start_date') }} as started_at,
        {{ unix_to_timestamp(column_or_null(columns, 'ended_at', 'double precision')) }} as ended_at,
        {{ unix_to_timestamp(column_or_null(columns, 'canceled_at', 'double precision')) }} as canceled_at,
        {{
            unix_to_timestamp(column_or_null(columns, 'current_period_start', 'double precision'))
        }} as current_period_start_at,
        {{
            unix_to_timestamp(column_or_null(columns, 'current_period_end', 'double precision'))
        }} as current_period_end_at,
        _dlt_id as dlt_id,
        _dlt_load_id as dlt_load_id
    from source

),

latest as (

    select
        *,
        row_number() over (partition by subscription_id order by dlt_load_id desc) as version_rank
    from renamed

),

final as (

    select
        subscription_id,
        customer_id,
        status,
        started_at,
        ended_at,
        canceled_at,
        current_period_start_at,
        current_period_end_at,
        dlt_id
    from latest
    where version_rank = 1

)

select * from final
