with

source as (

    select * from {{ source('raw_zendesk', 'tickets__tags') }}
    where {{ dlt_completed_child_rows('raw_zendesk', 'tickets') }}

),

final as (

    select
        _dlt_parent_id as ticket_dlt_id,
        value as tag,
        _dlt_list_idx as tag_position
    from source

)

select * from final
