{#- A model's custom schema is used as it is (`marts`, not `main_marts`): the marts are a public
    contract and live in schema `marts` whichever target builds them. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
