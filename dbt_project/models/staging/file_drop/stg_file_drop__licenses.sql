with

source as (

    select * from {{ source('raw_file_drop', 'licenses') }}
    where {{ dlt_completed_loads('raw_file_drop') }}

),

renamed as (

    select
        {{ nullif_empty('license_id') }} as license_id,
        {{ nullif_empty('account_id') }} as account_id,
        product,
        plan,
        cast(seats as bigint) as seats,
        cast(starts_on as date) as starts_on,
        cast(ends_on as date) as ends_on,
        cast(annual_price as double precision) as annual_price,
        currency,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id
    from source

),

latest as (

    -- A license re-sent in a later file is corrected by it: keep the latest copy.
    select
        *,
        row_number() over (
            partition by license_id
            order by dlt_load_id desc, {{ binary_text('source_file') }} desc
        ) as copy_rank
    from renamed
    where license_id is not null

),

final as (

    select
        license_id,
        account_id,
        product,
        plan,
        seats,
        starts_on,
        ends_on,
        annual_price,
        currency,
        source_file
    from latest
    where copy_rank = 1

)

select * from final
