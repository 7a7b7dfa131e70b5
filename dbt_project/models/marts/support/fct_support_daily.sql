with

bounds as (

    select * from {{ ref('int_activity_bounds') }}

),

tickets as (

    select * from {{ ref('int_tickets_enriched') }}

),

ticket_bounds as (

    select
        min(tickets.created_on) as first_ticket_date,
        max(bounds.as_of_date) as as_of_date
    from tickets
    cross join bounds

),

calendar as (

    select cast(day_series.date_ts as date) as activity_date
    from ticket_bounds
    cross join {{ day_series('ticket_bounds.first_ticket_date', 'ticket_bounds.as_of_date') }}

),

created as (

    select
        created_on as activity_date,
        count(*) as tickets_created,
        percentile_cont(0.5) within group (order by first_reply_minutes_business)
            as median_first_reply_minutes_business,
        count(first_reply_minutes_business) as replied_tickets,
        sum(case when is_first_reply_sla_breached then 1 else 0 end) as breached_tickets
    from tickets
    group by created_on

),

solved as (

    select
        solved_on as activity_date,
        count(*) as tickets_solved
    from tickets
    where solved_on is not null
    group by solved_on

),

backlog as (

    -- Created on or before the day and not solved by its end.
    select
        calendar.activity_date,
        count(tickets.ticket_id) as backlog
    from calendar
    left join tickets
        on
            calendar.activity_date >= tickets.created_on
            and (tickets.solved_on is null or calendar.activity_date < tickets.solved_on)
    group by calendar.activity_date

),

final as (

    select
        calendar.activity_date,
        cast(coalesce(created.tickets_created, 0) as bigint) as tickets_created,
        cast(coalesce(solved.tickets_solved, 0) as bigint) as tickets_solved,
        cast(backlog.backlog as bigint) as backlog,
        cast(created.median_first_reply_minutes_business as double precision) as median_first_reply_minutes_business,
        {{ safe_ratio('created.breached_tickets', 'created.replied_tickets') }} as sla_breach_rate
    from calendar
    inner join backlog
        on calendar.activity_date = backlog.activity_date
    left join created
        on calendar.activity_date = created.activity_date
    left join solved
        on calendar.activity_date = solved.activity_date

)

select * from final
