{#- The first day an incremental product model rebuilds on this run (int_product_reprocess_from;
    null = everything, rendered as 1900-01-01), as a DATE expression:

        where activity_date >= {{ reprocess_from() }}

    When the model runs, the day is read once and rendered as a date literal, so the engine
    can skip the older part of a table by its min/max statistics (DuckDB's zone maps) and
    plans a plain comparison with a constant instead of a join against a subquery. Outside
    execution (parse, docs), or before int_product_reprocess_from exists, it renders the
    equivalent scalar subquery (dlt_loads_not_built does the same for new load ids), and so
    it does in a unit test, where the ref is the test's given rows (no table to look up).

    Models that use it declare the dependency at their top with
    `-- depends_on: {{ ref('int_product_reprocess_from') }}`, because the ref only renders
    inside `is_incremental()` blocks, and int_product_reprocess_from must be built (earlier
    in the same run) before they are. -#}
{% macro reprocess_from(offset_days=0) -%}
    {%- set relation = ref('int_product_reprocess_from') -%}
    {%- if execute and relation.schema is not none and load_relation(relation) is not none -%}
        {%- set result = run_query('select reprocess_from from ' ~ relation) -%}
        {%- set day = result.columns[0].values()[0] if result.rows | length > 0 else none -%}
        {%- if day is none -%}
            cast('1900-01-01' as date)
        {%- elif offset_days == 0 -%}
            cast('{{ day }}' as date)
        {%- else -%}
            {{ add_days("cast('" ~ day ~ "' as date)", offset_days) }}
        {%- endif -%}
    {%- else -%}
        (
            select coalesce({{ add_days('reprocess_from.reprocess_from', offset_days) }}, cast('1900-01-01' as date))
            from {{ relation }} as reprocess_from
        )
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of fct_seat_utilization_daily on incremental runs: delete the rows the run must
    rebuild, i.e. every day from the restart day on (their 28-day windows may have changed)
    and every row whose license figures (seats, ARR) differ from the current licenses or
    whose account-day has no active license any more (a license edited, ended or removed).
    The model then appends the license account-days that have no row left. Renders nothing
    on a full build. A kept row survives only if an unchanged license account-day before the
    restart day matches it: one top-level NOT EXISTS, which both engines run as an anti-join
    (an OR around it would make PostgreSQL re-run the subquery for every row). -#}
{% macro delete_stale_seat_utilization_rows() -%}
    {%- if is_incremental() %}
        delete from {{ this }} as kept
        where not exists (
            select 1
            from (
                select
                    license_days.account_id,
                    license_days.activity_date,
                    sum(license_days.seats) as seats_purchased,
                    sum(license_days.annual_price) as arr
                from {{ ref('int_license_days') }} as license_days
                where license_days.activity_date < {{ reprocess_from() }}
                group by license_days.account_id, license_days.activity_date
            ) as licensed
            where
                licensed.account_id = kept.account_id
                and licensed.activity_date = kept.activity_date
                and licensed.seats_purchased = kept.seats_purchased
                and cast(licensed.arr as double precision) = kept.arr
        )
    {%- endif %}
{%- endmacro %}

{#- Incremental strategy `replace_later_loads` (stg_segment__events): dbt's delete+insert on the
    unique key, whose delete only looks at kept rows of loads later than the earliest load
    among the new rows. That is exact when a new row is only built to replace a kept copy of
    a later load (the first copy of a message wins), and lets DuckDB skip the older row groups
    by their min/max statistics instead of reading every kept key each run. Works wherever
    delete+insert does (DuckDB, PostgreSQL); Spark rebuilds its tables (macros/spark.sql). -#}
{% macro get_incremental_replace_later_loads_sql(arg_dict) -%}
    {%- set later_loads -%}
        dlt_load_id > (select min(new_rows.dlt_load_id) from {{ arg_dict['temp_relation'] }} as new_rows)
    {%- endset -%}
    {%- set predicates = (arg_dict['incremental_predicates'] or []) + [later_loads] -%}
    {%- set strategy_args = {} -%}
    {%- do strategy_args.update(arg_dict) -%}
    {%- do strategy_args.update({'incremental_predicates': predicates}) -%}
    {{ return(get_incremental_delete_insert_sql(strategy_args)) }}
{%- endmacro %}

{#- Pre-hook of int_segment_group_calls on incremental runs: delete the kept rows whose
    message_id a staged row of the loads this run reads carries (a group call whose staged
    copy was replaced by a copy of an earlier load that completed late); the model then
    appends those loads' group calls, so the kept rows always match the staged ones. The
    loads are the model's own (dlt_loads_not_built), read the same way by the model. Renders
    nothing on a full build. -#}
{% macro delete_restaged_group_calls() -%}
    {%- if is_incremental() %}
        delete from {{ this }}
        where message_id in (
            select staged.message_id
            from {{ ref('stg_segment__events') }} as staged
            where {{ dlt_loads_not_built('raw_segment', this, load_id_column='staged.dlt_load_id') }}
        )
    {%- endif %}
{%- endmacro %}
