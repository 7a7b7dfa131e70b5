with

tickets as (

    select * from {{ ref('int_tickets_enriched') }}

),

final as (

    select
        cast(ticket_id as bigint) as ticket_id,
        cast(account_id as varchar) as account_id,
        cast(created_at as timestamptz) as created_at,
        cast(solved_at as timestamptz) as solved_at,
        cast(status as varchar) as status,
        cast(priority as varchar) as priority,
        cast(channel as varchar) as channel,
        cast(first_reply_minutes_calendar as bigint) as first_reply_minutes_calendar,
        cast(first_reply_minutes_business as bigint) as first_reply_minutes_business,
        cast(full_resolution_minutes_calendar as bigint) as full_resolution_minutes_calendar,
        cast(full_resolution_minutes_business as bigint) as full_resolution_minutes_business,
        cast(reopens as bigint) as reopens,
        cast(satisfaction as varchar) as satisfaction,
        cast(first_reply_target_minutes as integer) as first_reply_target_minutes,
        cast(is_first_reply_sla_breached as boolean) as is_first_reply_sla_breached
    from tickets

)

select * from final
