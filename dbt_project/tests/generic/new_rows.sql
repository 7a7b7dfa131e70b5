{#- dbt's `unique`, `not_null` and `accepted_values`, checking on `dbt build` only the rows this
    run built (`new_rows`, see macros/new_rows.sql), so a daily run's tests cost what its new
    data costs. Without a restriction (plain `dbt test`, `--full-refresh`, first build) they
    are dbt's own tests on every row.

    Never weaker than dbt's: rows a run did not build were checked by the run that built them.
    `unique_in_new_rows` compares the new rows' values with every row of the table: a value
    new in this load that an older row already has is a duplicate. -#}
{% test unique_in_new_rows(model, column_name, new_rows) %}
{%- set new_rows_filter = new_rows_predicate(model, new_rows) %}

{%- if new_rows_filter is none %}

    select
        {{ column_name }} as unique_field,
        count(*) as n_records
    from {{ model }}
    where {{ column_name }} is not null
    group by {{ column_name }}
    having count(*) > 1

{%- else %}

    with new_values as (

        select distinct {{ column_name }} as unique_field
        from {{ model }}
        where {{ column_name }} is not null and {{ new_rows_filter }}

    )

    select
        every_row.{{ column_name }} as unique_field,
        count(*) as n_records
    from {{ model }} as every_row
    inner join new_values
        on every_row.{{ column_name }} = new_values.unique_field
    group by every_row.{{ column_name }}
    having count(*) > 1

{%- endif %}

{% endtest %}


{% test not_null_in_new_rows(model, column_name, new_rows) %}
{%- set new_rows_filter = new_rows_predicate(model, new_rows) %}

    select {{ column_name }}
    from {{ model }}
    where
        {{ column_name }} is null
        {%- if new_rows_filter is not none %}
            and {{ new_rows_filter }}
        {%- endif %}

{% endtest %}


{% test accepted_values_in_new_rows(model, column_name, values, new_rows) %}
{%- set new_rows_filter = new_rows_predicate(model, new_rows) %}

    select
        {{ column_name }} as value_field,
        count(*) as n_records
    from {{ model }}
    where
        {{ column_name }} is not null
        and {{ column_name }} not in (
            {%- for value in values -%}
                '{{ value | replace("'", "''") }}'{{ ', ' if not loop.last }}
            {%- endfor -%}
        )
        {%- if new_rows_filter is not none %}
            and {{ new_rows_filter }}
        {%- endif %}
    group by {{ column_name }}

{% endtest %}
