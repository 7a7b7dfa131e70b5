{{ config(materialized='table') }}
-- One row per user with a group call: the groupId of the user's latest group call by
-- timestamp over all time (only group calls that carry a userId). It attributes the events
-- without context.groupId (int_events_attributed).

-- A table, not a view: several models read it, and through a view each would rank every
-- group call again.

with

all_group_calls as (

    -- Every group call (int_segment_group_calls: its rows with a message_id).
    select * from {{ ref('int_segment_group_calls') }}
    where message_id is not null

),

group_calls as (

    select
        user_id,
        group_id,
        row_number() over (
            partition by user_id
            order by occurred_at desc, received_at desc nulls last, {{ binary_text('message_id') }} desc
        ) as recency_rank
    from all_group_calls
    where
        user_id is not null
        and group_id is not null
        and occurred_at is not null

),

final as (

    select
        user_id,
        group_id as latest_group_id
    from group_calls
    where recency_rank = 1

)

select * from final
