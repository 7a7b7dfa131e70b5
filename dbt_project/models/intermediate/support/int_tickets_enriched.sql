-- Non-deleted Zendesk tickets (latest version) with their account, Zendesk's own metrics,
-- latest good/bad satisfaction rating and first-reply SLA target. Deleted tickets count
-- nowhere (as in Zendesk's own reports).

with

tickets as (

    select * from {{ ref('stg_zendesk__tickets') }}
    where not is_deleted

),

organizations as (

    select * from {{ ref('stg_zendesk__organizations') }}

),

ticket_metrics as (

    select * from {{ ref('stg_zendesk__ticket_metrics') }}

),

satisfaction_ratings as (

    select * from {{ ref('stg_zendesk__satisfaction_ratings') }}

),

sla_targets as (

    select * from {{ ref('sla_targets') }}

),

latest_rating as (

    -- The latest good/bad rating by created_at; a later offered/unoffered record does not
    -- erase it.
    select
        ticket_id,
        score as satisfaction,
        row_number() over (
            partition by ticket_id
            order by created_at desc, satisfaction_rating_id desc
        ) as recency_rank
    from satisfaction_ratings
    where is_response

),

final as (

    select
        tickets.ticket_id,
        organizations.account_id,
        tickets.organization_id,
        tickets.created_at,
        {{ utc_date('tickets.created_at') }} as created_on,
        ticket_metrics.solved_at,
        {{ utc_date('ticket_metrics.solved_at') }} as solved_on,
        tickets.status,
        tickets.priority,
        tickets.channel,
        ticket_metrics.first_reply_minutes_calendar,
        ticket_metrics.first_reply_minutes_business,
        ticket_metrics.full_resolution_minutes_calendar,
        ticket_metrics.full_resolution_minutes_business,
        ticket_metrics.reopens,
        latest_rating.satisfaction,
        sla_targets.first_reply_target_minutes,
        case
            when ticket_metrics.first_reply_minutes_business is null then null
            else ticket_metrics.first_reply_minutes_business > sla_targets.first_reply_target_minutes
        end as is_first_reply_sla_breached
    from tickets
    left join organizations
        on tickets.organization_id = organizations.organization_id
    left join ticket_metrics
        on tickets.ticket_id = ticket_metrics.ticket_id
    left join latest_rating
        on
            tickets.ticket_id = latest_rating.ticket_id
            and latest_rating.recency_rank = 1
    left join sla_targets
        on coalesce(tickets.priority, 'normal') = sla_targets.priority

)

select * from final
