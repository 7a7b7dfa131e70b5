{#- Small cross-database helpers, one definition for every engine: plain SQL that DuckDB and
    PostgreSQL both accept, or an `adapter.dispatch` where the engines differ (`json_text`,
    `day_series`; docs/postgres.md, "Portable SQL"). -#}

{#- An empty-string id is the same as an absent one (docs/metrics.md, "Shared rules"). Only
    ASCII spaces are trimmed, as the loaders do (`str.strip(" ")`): DuckDB's one-argument
    `trim` also strips Unicode spaces (a no-break space, U+3000), PostgreSQL's and Spark's do
    not, so an id ending in one would be another id on those engines. -#}
{% macro nullif_empty(column) -%}
    nullif(trim(both ' ' from cast({{ column }} as varchar)), '')
{%- endmacro %}

{#- The UTC calendar day of a timestamp (timestamptz or UTC-naive). -#}
{% macro utc_date(column) -%}
    cast(({{ column }} at time zone 'UTC') as date)
{%- endmacro %}

{#- Vendor Unix seconds (integer or float) to a UTC timestamptz. -#}
{% macro unix_to_timestamp(column) -%}
    to_timestamp(cast({{ column }} as double precision))
{%- endmacro %}

{#- The Monday that starts the ISO week of a date. -#}
{% macro week_start(column) -%}
    cast({{ dbt.date_trunc('week', column) }} as date)
{%- endmacro %}

{#- The first day of the month of a date. -#}
{% macro month_start(column) -%}
    cast({{ dbt.date_trunc('month', column) }} as date)
{%- endmacro %}

{#- A week's scored day D (docs/metrics.md, "fct_account_health_weekly"): its Sunday, or the
    as-of date for the current week, so a partial week is compared like for like. -#}
{% macro scored_day(week_start_date, as_of_date) -%}
    least({{ add_days(week_start_date, 6) }}, {{ as_of_date }})
{%- endmacro %}

{#- A decimal ratio, null when the denominator is 0 (docs/metrics.md, "Shared rules"). -#}
{% macro safe_ratio(numerator, denominator) -%}
    cast({{ numerator }} as double precision) / nullif({{ denominator }}, 0)
{%- endmacro %}

{#- `date + n days` as a DATE. -#}
{% macro add_days(column, days) -%}
    cast({{ dbt.dateadd('day', days, column) }} as date)
{%- endmacro %}

{#- One text field of a JSON text column. -#}
{% macro json_text(column, key) -%}
    {{ return(adapter.dispatch('json_text')(column, key)) }}
{%- endmacro %}

{% macro default__json_text(column, key) -%}
    (cast({{ column }} as json) ->> '{{ key }}')
{%- endmacro %}

{% macro duckdb__json_text(column, key) -%}
    json_extract_string({{ column }}, '$.{{ key }}')
{%- endmacro %}

{#- A table function of every step_days-th day from start_date up to end_date (DATE
    expressions over the rows it is joined to), as column `<alias>.date_ts` (a timestamp).
    Both DuckDB and PostgreSQL read `generate_series` in FROM as a lateral call; Spark has
    its own (macros/spark.sql). -#}
{% macro day_series(start_date, end_date, step_days=1, alias='day_series') -%}
    {{ return(adapter.dispatch('day_series')(start_date, end_date, step_days, alias)) }}
{%- endmacro %}

{% macro default__day_series(start_date, end_date, step_days=1, alias='day_series') -%}
    generate_series(
        cast({{ start_date }} as timestamp),
        cast({{ end_date }} as timestamp),
        interval '{{ step_days }} day'
    ) as {{ alias }} (date_ts)
{%- endmacro %}

{#- A table function of the integers first..last as column `<alias>.<column>`. -#}
{% macro int_series(first, last, alias, column) -%}
    {{ return(adapter.dispatch('int_series')(first, last, alias, column)) }}
{%- endmacro %}

{% macro default__int_series(first, last, alias, column) -%}
    generate_series({{ first }}, {{ last }}) as {{ alias }} ({{ column }})
{%- endmacro %}

{#- A text column compared byte by byte (code point order, as DuckDB and Spark always do),
    whatever collation the PostgreSQL database has: for tie-breaks on ids, which must pick the
    same row on every engine (an ICU or en_US database orders 'm-B' after 'm-a'). -#}
{% macro binary_text(column) -%}
    {{ return(adapter.dispatch('binary_text')(column)) }}
{%- endmacro %}

{% macro default__binary_text(column) -%}
    {{ column }}
{%- endmacro %}

{% macro postgres__binary_text(column) -%}
    ({{ column }} collate "C")
{%- endmacro %}
