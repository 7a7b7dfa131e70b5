-- The daily time spine MetricFlow joins to (docs/bi.md): one row per UTC day over a range wider
-- than any data the warehouse will hold (day_series: generate_series on DuckDB and PostgreSQL,
-- sequence on Spark).
{{ config(materialized='table', schema='semantic') }}

with

days as (

    select series.date_ts as day_start
    from (select 1 as one) as anchor
    cross join {{ day_series("cast('2015-01-01' as date)", "cast('2040-12-31' as date)", alias='series') }}

),

final as (

    select cast(day_start as date) as date_day
    from days

)

select * from final
