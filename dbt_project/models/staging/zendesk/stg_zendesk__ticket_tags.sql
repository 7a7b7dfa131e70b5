with

source as (

    {{ dlt_child_rows('raw_zendesk', 'tickets__tags', 'tickets', {
        '_dlt_parent_id': 'string', 'value': 'string', '_dlt_list_idx': 'bigint'
    }) }}

),

final as (

    select
        _dlt_parent_id as ticket_dlt_id,
        value as tag,
        _dlt_list_idx as tag_position
    from source

)

select * from final
