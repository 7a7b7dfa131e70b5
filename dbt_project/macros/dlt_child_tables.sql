{#- A dlt child table (`tickets__tags`, `subscriptions__items__data`) exists only once some
    root row carried a non-empty list: a Zendesk account whose tickets have no tags yet, a
    Stripe account with no subscription, a source the team does not use
    (`SOURCES__<NAME>__ENABLED=false`). Its staging model reads it through this macro, which
    renders the completed rows of the child table when it exists and, when it does not, no
    rows with the columns the model reads:

        {{ dlt_child_rows('raw_zendesk', 'tickets__tags', 'tickets',
                          {'_dlt_parent_id': 'string', 'value': 'string',
                           '_dlt_list_idx': 'bigint'}) }}

    Types are `string`, `bigint` or `double`, as dbt's cross-database type macros name them.
    At parse time the source is always referenced, so the lineage stays. -#}
{% macro dlt_child_rows(source_name, child_table, root_table, columns) -%}
    {%- set relation = source(source_name, child_table) -%}
    {%- set exists = true -%}
    {%- if execute -%}
        {%- set exists = adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier
        ) is not none -%}
    {%- endif -%}
    {#- Rendered inside a CTE: the lines after the first are indented as the CTE's are. -#}
    {%- if exists -%}
        select * from {{ relation }}
    where {{ dlt_completed_child_rows(source_name, root_table) }}
    {%- else -%}
        select
        {%- for name, kind in columns.items() %}
        cast(null as {{ dlt_child_type(kind) }}) as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from (select 1 as one) as no_rows
    where 1 = 0
    {%- endif -%}
{%- endmacro %}

{% macro dlt_child_type(kind) -%}
    {%- if kind == 'bigint' -%}
        {{ dbt.type_bigint() }}
    {%- elif kind == 'double' -%}
        {{ dbt.type_float() }}
    {%- else -%}
        {{ dbt.type_string() }}
    {%- endif -%}
{%- endmacro %}
