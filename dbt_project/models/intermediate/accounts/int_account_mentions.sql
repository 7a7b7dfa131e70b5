{{ config(materialized='table') }}
-- Every kind of valid record that names an account, with the earliest such record's time
-- (one row per account and kind): a group call's groupId, a track/page context.groupId
-- (anonymous events included), a Zendesk organization's external_id, a (non-deleted)
-- ticket's account, a survey account_id, a Stripe customer's metadata.account_id, a license
-- account_id (starts_on at 00:00 UTC). The events are reduced to one row per account and kind
-- as they are read, so dim_accounts never carries every event through the union.
-- A table, not a view: read once per run, not again by each of its tests and by dim_accounts.

with

organizations as (

    select * from {{ ref('stg_zendesk__organizations') }}

),

tickets as (

    select * from {{ ref('int_tickets_enriched') }}

),

survey_responses as (

    select * from {{ ref('int_survey_responses') }}

),

customers as (

    select * from {{ ref('stg_stripe__customers') }}

),

licenses as (

    select * from {{ ref('int_licenses') }}

),

mentions as (

    select
        group_id as account_id,
        'segment_group' as mention_source,
        min(occurred_at) as seen_at
    from {{ ref('int_segment_group_calls') }}
    where message_id is not null
    group by group_id

    union all

    select
        context_group_id as account_id,
        'segment_activity' as mention_source,
        min(occurred_at) as seen_at
    from {{ ref('stg_segment__events') }}
    where event_type in ('track', 'page')
    group by context_group_id

    union all

    select
        account_id,
        'zendesk_organization' as mention_source,
        created_at as seen_at
    from organizations

    union all

    select
        account_id,
        'zendesk_ticket' as mention_source,
        created_at as seen_at
    from tickets

    union all

    select
        account_id,
        'survey' as mention_source,
        submitted_at as seen_at
    from survey_responses

    union all

    select
        account_id,
        'stripe_customer' as mention_source,
        created_at as seen_at
    from customers

    union all

    select
        account_id,
        'license' as mention_source,
        cast(starts_on as timestamp) at time zone 'UTC' as seen_at
    from licenses

),

final as (

    select
        account_id,
        mention_source,
        min(seen_at) as seen_at
    from mentions
    where account_id is not null
    group by account_id, mention_source

)

select * from final
