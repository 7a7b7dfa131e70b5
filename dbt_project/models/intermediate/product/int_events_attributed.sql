{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='activity_date',
        on_schema_change='fail'
    )
}}
-- depends_on: {{ ref('int_product_reprocess_from') }}
-- Incremental: a run rebuilds the days from int_product_reprocess_from on (delete+insert on
-- activity_date).
-- Identified track and page events (a userId present), each with the account it is
-- attributed to: context.groupId when present, else the groupId of the user's latest group
-- call by timestamp over all time (only group calls that carry a userId), else null.
-- Anonymous-only events count toward no user metric and are not here.

-- The events are read with the restart-day filter only, which prunes the older row groups;
-- the latest group call per user comes built (int_user_latest_group, one table per run).

with

identified_activity as (

    select
        message_id,
        user_id,
        event_type,
        event_name,
        page_name,
        occurred_at,
        occurred_on,
        context_group_id,
        dlt_load_id
    from {{ ref('stg_segment__events') }}
    where
        event_type in ('track', 'page')
        and user_id is not null
        and occurred_at is not null
        {% if is_incremental() -%}
            and occurred_on >= {{ reprocess_from() }}
        {%- endif %}

),

latest_group as (

    select * from {{ ref('int_user_latest_group') }}

),

final as (

    select
        identified_activity.message_id,
        identified_activity.user_id,
        identified_activity.event_type,
        identified_activity.event_name,
        identified_activity.page_name,
        identified_activity.occurred_at,
        identified_activity.occurred_on as activity_date,
        {{ week_start('identified_activity.occurred_on') }} as activity_week,
        coalesce(identified_activity.context_group_id, latest_group.latest_group_id) as account_id,
        case
            when identified_activity.context_group_id is not null then 'context_group_id'
            when latest_group.latest_group_id is not null then 'latest_group_call'
        end as account_attribution,
        identified_activity.context_group_id,
        identified_activity.dlt_load_id
    from identified_activity
    left join latest_group
        on identified_activity.user_id = latest_group.user_id

)

select * from final
