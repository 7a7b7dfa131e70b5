-- Every valid record whose account cannot be resolved, with the reason (SOURCES.md: such
-- records are kept and reported, not dropped). dim_accounts and the account marts leave them
-- out, as docs/metrics.md says; this table says what was left out and why, so a team can fix the
-- source (add the group call, the organization's external_id, the customer's metadata).
-- Records that count nowhere anyway are not listed: anonymous events, deleted tickets,
-- survey answers that are not responses.

with

events as (

    select * from {{ ref('int_events_attributed') }}

),

tickets as (

    select * from {{ ref('int_tickets_enriched') }}

),

organizations as (

    select * from {{ ref('stg_zendesk__organizations') }}

),

customers as (

    select * from {{ ref('stg_stripe__customers') }}

),

subscriptions as (

    select * from {{ ref('stg_stripe__subscriptions') }}

),

licenses as (

    select * from {{ ref('int_licenses') }}

),

survey_responses as (

    select * from {{ ref('int_survey_responses') }}

),

unresolved_events as (

    select
        'segment' as source,
        'event' as record_type,
        message_id as record_id,
        'no context.groupId and no group call for the user' as reason
    from events
    where account_id is null

),

unresolved_tickets as (

    select
        'zendesk' as source,
        'ticket' as record_type,
        cast(tickets.ticket_id as varchar) as record_id,
        case
            when tickets.organization_id is null then 'ticket has no organization'
            when organizations.organization_id is null then 'organization not loaded'
            else 'organization has no external_id'
        end as reason
    from tickets
    left join organizations
        on tickets.organization_id = organizations.organization_id
    where tickets.account_id is null

),

unresolved_organizations as (

    select
        'zendesk' as source,
        'organization' as record_type,
        cast(organization_id as varchar) as record_id,
        'organization has no external_id' as reason
    from organizations
    where account_id is null

),

unresolved_customers as (

    select
        'stripe' as source,
        'customer' as record_type,
        customer_id as record_id,
        'customer has no metadata.account_id' as reason
    from customers
    where account_id is null

),

unresolved_licenses as (

    select
        licenses.license_source as source,
        case
            when licenses.license_source = 'stripe' then 'subscription'
            else 'license'
        end as record_type,
        licenses.license_id as record_id,
        case
            when licenses.license_source <> 'stripe' then 'license has no account_id'
            when subscriptions.customer_id is null then 'subscription has no customer'
            when customers.customer_id is null then 'customer not loaded'
            else 'customer has no metadata.account_id'
        end as reason
    from licenses
    left join subscriptions
        on
            licenses.license_source = 'stripe'
            and licenses.license_id = subscriptions.subscription_id
    left join customers
        on subscriptions.customer_id = customers.customer_id
    where not licenses.is_account_resolved

),

unresolved_survey_responses as (

    select
        response_source as source,
        'survey_response' as record_type,
        response_id as record_id,
        case
            when response_source = 'typeform' then 'response has no hidden account_id'
            else 'response has no account_id'
        end as reason
    from survey_responses
    where account_id is null

),

unioned as (

    select * from unresolved_events
    union all
    select * from unresolved_tickets
    union all
    select * from unresolved_organizations
    union all
    select * from unresolved_customers
    union all
    select * from unresolved_licenses
    union all
    select * from unresolved_survey_responses

),

final as (

    select
        cast(source as varchar) as source,
        cast(record_type as varchar) as record_type,
        cast(record_id as varchar) as record_id,
        cast(reason as varchar) as reason
    from unioned

)

select * from final
