-- The daily time spine MetricFlow joins to (docs/bi.md): one row per UTC day over a range wider
-- than any data the warehouse will hold. generate_series over timestamps is the same on DuckDB
-- and PostgreSQL.
{{ config(materialized='table', schema='semantic') }}

with

days as (

    select series.day_start
    from generate_series(
        cast('2015-01-01' as timestamp),
        cast('2040-12-31' as timestamp),
        interval '1 day'
    ) as series (day_start)

),

final as (

    select cast(day_start as date) as date_day
    from days

)

select * from final
