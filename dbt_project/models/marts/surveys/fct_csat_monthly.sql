with

bounds as (

    select * from {{ ref('int_activity_bounds') }}

),

survey_responses as (

    select * from {{ ref('int_survey_responses') }}
    where survey = 'csat'

),

ratings as (

    select * from {{ ref('stg_zendesk__satisfaction_ratings') }}
    where is_response

),

deleted_tickets as (

    select ticket_id
    from {{ ref('stg_zendesk__tickets') }}
    where is_deleted

),

answers as (

    -- CSAT is not deduplicated: every survey answer and every good/bad rating counts.
    select
        'survey' as source,
        submitted_month as month_start,
        case when score >= 4 then 1 else 0 end as is_satisfied
    from survey_responses

    union all

    select
        'zendesk' as source,
        {{ month_start('ratings.created_on') }} as month_start,
        case when ratings.score = 'good' then 1 else 0 end as is_satisfied
    from ratings
    left join deleted_tickets
        on ratings.ticket_id = deleted_tickets.ticket_id
    where deleted_tickets.ticket_id is null

),

counted as (

    select
        answers.month_start,
        answers.source,
        count(*) as responses,
        sum(answers.is_satisfied) as satisfied
    from answers
    cross join bounds
    where answers.month_start <= bounds.as_of_month
    group by answers.month_start, answers.source

),

final as (

    select
        month_start,
        cast(source as varchar) as source,
        cast(responses as bigint) as responses,
        cast(satisfied as bigint) as satisfied,
        -- Rounded through DECIMAL, as the health score: a half at the second decimal (3 of
        -- 2,000 is 0.15, a double's 0.1499..) rounds up on every engine.
        cast(round(cast(100.0 * satisfied / responses as decimal(38, 10)), 1) as double precision)
            as csat_pct
    from counted

)

select * from final
