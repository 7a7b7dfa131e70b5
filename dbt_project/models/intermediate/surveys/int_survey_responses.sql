-- Typeform and CSV-drop survey responses as one pool, one row per response_id. A Typeform
-- response without a score answer is not a response; scores outside the survey's range
-- (0-10 nps, 1-5 csat) are not responses either (the loader sets CSV ones aside already).

with

typeform as (

    select * from {{ ref('stg_typeform__responses') }}

),

file_drop as (

    select * from {{ ref('stg_file_drop__survey_responses') }}

),

unioned as (

    select
        response_id,
        'typeform' as response_source,
        submitted_at,
        submitted_on,
        user_id,
        account_id,
        survey,
        score,
        comment
    from typeform

    union all

    select
        response_id,
        'file_drop' as response_source,
        submitted_at,
        submitted_on,
        user_id,
        account_id,
        survey,
        score,
        comment
    from file_drop

),

valid as (

    select *
    from unioned
    where
        score is not null
        and submitted_at is not null
        and (
            (survey = 'nps' and score between 0 and 10)
            or (survey = 'csat' and score between 1 and 5)
        )

),

deduplicated as (

    -- The same response_id in both sources is one response (the earlier submission).
    select
        *,
        row_number() over (
            partition by response_id
            order by submitted_at asc, response_source desc
        ) as copy_number
    from valid

),

final as (

    select
        response_id,
        response_source,
        submitted_at,
        submitted_on,
        {{ month_start('submitted_on') }} as submitted_month,
        user_id,
        account_id,
        survey,
        score,
        comment
    from deduplicated
    where copy_number = 1

)

select * from final
