{#- Which rows of an incremental model a data test must check on this run (docs/metrics.md,
    "Incremental builds"). Returns a SQL predicate over the model's rows, or none: check every
    row. The `*_in_new_rows` tests (tests/generic/new_rows.sql) use it, so their cost follows
    the new data, not the history:

        new_rows: {day_column: activity_date}
            the days this run rebuilt: `activity_date >= reprocess_from` of
            int_product_reprocess_from (the models that delete+insert from that day on);
        new_rows: {load_column: dlt_load_id, built_by: int_events_attributed}
            the rows of completed dlt loads that `built_by` (an intermediate table built after
            the tested model) has not built yet: on `dbt build` the tests of a model run
            before its children, so these are the loads this run added. A load whose test
            fails stops the children, so it is checked again on the next run until it passes.

    Every row is checked (none) outside `dbt build` (a plain `dbt test` checks all history),
    on `--full-refresh`, and whenever the state the rule reads is not there yet (first build,
    int_product_reprocess_from null, `built_by` not a table). Tables are looked up by name,
    never through ref(), which would make the test wait for them. -#}
{% macro new_rows_predicate(model, new_rows) -%}
    {%- if not execute or flags.FULL_REFRESH or flags.WHICH != 'build' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if new_rows.day_column is defined -%}
        {%- set restart = adapter.get_relation(
            database=model.database,
            schema=generate_schema_name('intermediate', none),
            identifier='int_product_reprocess_from'
        ) -%}
        {%- if restart is none -%}
            {{ return(none) }}
        {%- endif -%}
        {%- set result = run_query('select reprocess_from from ' ~ restart) -%}
        {%- set day = result.columns[0].values()[0] if result.rows | length > 0 else none -%}
        {%- if day is none -%}
            {{ return(none) }}
        {%- endif -%}
        {{ return(new_rows.day_column ~ " >= cast('" ~ day ~ "' as date)") }}
    {%- elif new_rows.load_column is defined -%}
        {%- set built = adapter.get_relation(
            database=model.database,
            schema=generate_schema_name(new_rows.built_by_schema | default('intermediate'), none),
            identifier=new_rows.built_by
        ) -%}
        {%- if built is none or not built.is_table -%}
            {{ return(none) }}
        {%- endif -%}
        {{ return(dlt_loads_not_built(
            new_rows.source | default('raw_segment'), built, load_id_column=new_rows.load_column
        )) }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error(
        "new_rows must name a day_column or a load_column and built_by, got " ~ new_rows
    ) }}
{%- endmacro %}
