{% set columns = source_column_names(source('raw_typeform', 'responses')) %}

with

source as (

    select * from {{ source('raw_typeform', 'responses') }}
    where {{ dlt_completed_loads('raw_typeform') }}

),

renamed as (

    select
        {{ nullif_empty('response_id') }} as response_id,
        cast(submitted_at as timestamptz) as submitted_at,
        {{ nullif_empty(column_or_null(columns, 'user_id', 'varchar')) }} as user_id,
        {{ nullif_empty(column_or_null(columns, 'account_id', 'varchar')) }} as account_id,
        lower(survey) as survey,
        cast({{ column_or_null(columns, 'score', 'bigint') }} as integer) as score,
        {{ column_or_null(columns, 'comment', 'varchar') }} as comment,  -- noqa: RF04
        {{ column_or_null(columns, 'answers', 'varchar') }} as answers,
        _dlt_load_id as dlt_load_id
    from source

),

deduplicated as (

    -- A response exported twice is one response: keep its first copy.
    select
        *,
        row_number() over (
            partition by response_id
            order by dlt_load_id
        ) as copy_number
    from renamed
    where response_id is not null

),

final as (

    select
        response_id,
        submitted_at,
        {{ utc_date('submitted_at') }} as submitted_on,
        user_id,
        account_id,
        survey,
        score,
        comment,
        answers
    from deduplicated
    where copy_number = 1

)

select * from final
