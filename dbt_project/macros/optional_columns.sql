{#- dlt creates a column only once some record has a non-null value for it: a warehouse whose
    tickets were never solved has no `ticket_metrics.solved_at`, real Zendesk organizations
    without `external_id` give no `external_id` column, and so on. Staging reads such
    vendor fields through `column_or_null`, so a missing column reads as typed nulls instead
    of failing the build:

        {% set columns = source_column_names(source('raw_zendesk', 'tickets')) %}
        ... {{ column_or_null(columns, 'organization_id', 'bigint') }} as organization_id

    At parse time (no warehouse) the column name is rendered as it is.
-#}
{% macro source_column_names(relation) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(relation) -%}
    {%- if columns | length == 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(columns | map(attribute='name') | map('lower') | list) }}
{%- endmacro %}

{% macro column_or_null(available_columns, column, data_type) -%}
    {%- if available_columns is none or (column | lower) in available_columns -%}
        {{ column }}
    {%- else -%}
        cast(null as {{ data_type }})
    {%- endif -%}
{%- endmacro %}
