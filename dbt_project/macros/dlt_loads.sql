{#- Rows of a dlt dataset that belong to completed loads only.

    dlt records every finished load in `<dataset>._dlt_loads` with `status = 0`; a load that
    crashed after writing some rows never gets that record, so its rows must not count. Used
    in every staging model:

        where {{ dlt_completed_loads('raw_segment') }}

    Child tables (`tickets__tags`, `subscriptions__items__data`) carry no `_dlt_load_id`; they
    are filtered through their root row with `dlt_completed_child_rows`.
-#}
{% macro dlt_completed_loads(source_name, load_id_column='_dlt_load_id') -%}
    {{ load_id_column }} in (
        select dlt_loads.load_id
        from {{ source(source_name, '_dlt_loads') }} as dlt_loads
        where dlt_loads.status = 0
    )
{%- endmacro %}

{% macro dlt_completed_child_rows(source_name, root_table, root_id_column='_dlt_root_id') -%}
    {{ root_id_column }} in (
        select root_rows._dlt_id
        from {{ source(source_name, root_table) }} as root_rows
        where {{ dlt_completed_loads(source_name, 'root_rows._dlt_load_id') }}
    )
{%- endmacro %}
