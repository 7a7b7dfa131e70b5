with

source as (

    select * from {{ source('raw_file_drop', 'survey_responses') }}
    where {{ dlt_completed_loads('raw_file_drop') }}

),

renamed as (

    select
        {{ nullif_empty('response_id') }} as response_id,
        cast(submitted_at as timestamptz) as submitted_at,
        {{ nullif_empty('user_id') }} as user_id,
        {{ nullif_empty('account_id') }} as account_id,
        lower(survey) as survey,
        cast(score as integer) as score,
        comment,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id
    from source

),

deduplicated as (

    -- A response exported twice (two files, same response_id) is one response. The raw table
    -- is merged on response_id (the latest copy; in one load, the greater file name), so this
    -- only guards a raw table written another way.
    select
        *,
        row_number() over (
            partition by response_id
            order by dlt_load_id, {{ binary_text('source_file') }}
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
        source_file
    from deduplicated
    where copy_number = 1

)

select * from final
