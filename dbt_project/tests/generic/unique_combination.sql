{#- The combination of columns is unique (a composite grain): dbt_utils'
    `unique_combination_of_columns`, copied because installing dbt_utils (`dbt deps`) needs
    the dbt package hub, which not every install can reach; with no packages.yml the project
    builds offline.

    `new_rows: {day_column: activity_date}` (macros/new_rows.sql) checks, on `dbt build`, only
    the days the run rebuilt; exact only because the day is part of the grain (two rows with
    the same combination have the same day), so the day column must be one of the columns. -#}
{% test unique_combination(model, combination_of_columns, new_rows=none) %}
{%- set new_rows_filter = none %}
{%- if new_rows is not none %}
    {%- if new_rows.day_column not in combination_of_columns %}
        {{ exceptions.raise_compiler_error(
            "unique_combination: new_rows.day_column must be one of " ~ combination_of_columns
        ) }}
    {%- endif %}
    {%- set new_rows_filter = new_rows_predicate(model, new_rows) %}
{%- endif %}

with grain as (

    select
        {{ combination_of_columns | join(', ') }},
        count(*) as row_count
    from {{ model }}
    {%- if new_rows_filter is not none %}
        where {{ new_rows_filter }}
    {%- endif %}
    group by {{ combination_of_columns | join(', ') }}

)

select *
from grain
where row_count > 1

{% endtest %}
