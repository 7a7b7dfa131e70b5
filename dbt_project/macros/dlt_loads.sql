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

{#- Rows of completed dlt loads that an incremental model has not built yet:

        where {{ dlt_loads_not_built('raw_segment', this) }}

    `built_relation` is the model's own table (or another built table, by name), whose
    `built_column` holds the load id of every row it has. When the model runs, the new load
    ids are read first and rendered as literals, so the engine filters the scan itself: DuckDB
    skips the row groups of older loads by their min/max statistics (dlt appends a load as
    contiguous rows) and reads the wide columns of the new rows only, where a join against a
    subquery reads every column of every row first. A new load is usually one id, a backlog
    a few. Outside execution (parse, docs) it renders the equivalent subquery. -#}
{% macro dlt_loads_not_built(
    source_name, built_relation, built_column='dlt_load_id', load_id_column='_dlt_load_id'
) -%}
    {%- set new_loads -%}
        select dlt_loads.load_id
        from {{ source(source_name, '_dlt_loads') }} as dlt_loads
        where
            dlt_loads.status = 0
            and dlt_loads.load_id not in (
                select distinct built.{{ built_column }}
                from {{ built_relation }} as built
                where built.{{ built_column }} is not null
            )
    {%- endset -%}
    {%- if execute -%}
        {%- set load_ids = run_query(new_loads).columns[0].values() -%}
        {%- if load_ids | length == 0 -%}
            1 = 0
        {%- else -%}
            {{ load_id_column }} in (
                {%- for load_id in load_ids | sort -%}
                    '{{ load_id | replace("'", "''") }}'{{ ', ' if not loop.last }}
                {%- endfor -%}
            )
        {%- endif -%}
    {%- else -%}
        {{ load_id_column }} in ({{ new_loads }})
    {%- endif -%}
{%- endmacro %}
