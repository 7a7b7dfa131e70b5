with

bounds as (

    select * from {{ ref('int_activity_bounds') }}

),

responses as (

    select * from {{ ref('int_survey_responses') }}
    where survey = 'nps'

),

ranked as (

    -- A user who answered more than once in a month counts once, with their latest answer
    -- (latest submitted_at, then greatest response_id); responses without a user each count.
    select
        *,
        case
            when user_id is null then 1
            else row_number() over (
                partition by submitted_month, user_id
                order by submitted_at desc, {{ binary_text('response_id') }} desc
            )
        end as answer_rank
    from responses

),

counted as (

    select
        ranked.submitted_month as month_start,
        count(*) as responses,
        sum(case when ranked.score >= 9 then 1 else 0 end) as promoters,
        sum(case when ranked.score in (7, 8) then 1 else 0 end) as passives,
        sum(case when ranked.score <= 6 then 1 else 0 end) as detractors
    from ranked
    cross join bounds
    where
        ranked.answer_rank = 1
        and ranked.submitted_month <= bounds.as_of_month
    group by ranked.submitted_month

),

final as (

    select
        month_start,
        cast(responses as bigint) as responses,
        cast(promoters as bigint) as promoters,
        cast(passives as bigint) as passives,
        cast(detractors as bigint) as detractors,
        -- Rounded through DECIMAL, as the health score: a half at the second decimal (7 of
        -- 2,000 is 0.35, a double's 0.3499..) rounds away from zero on every engine.
        cast(
            round(cast(100.0 * (promoters - detractors) / responses as decimal(38, 10)), 1)
            as double precision
        ) as nps
    from counted

)

select * from final
