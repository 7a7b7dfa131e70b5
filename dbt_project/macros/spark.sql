{#- WAREHOUSE=spark (docs/spark.md): what makes the DuckDB/PostgreSQL models run unchanged on
    Spark over the raw Parquet files dlt lands. Nothing here renders on the other targets. -#}

{#- Spark spells three of the project's portable type names differently and has no
    `at time zone`: `varchar` needs a length there, `double precision` is `double`, and
    `timestamptz` is `timestamp` (Spark's timestamp is an instant, shown in the session zone,
    which the profile sets to UTC, so `x at time zone 'UTC'` is `x`). Every statement dbt runs
    on Spark (models, tests, unit tests, contract checks, run_query) passes through here, so
    models, casts and the contracts' `data_type` keep one spelling for all engines. -#}
{% macro spark_dialect(sql) -%}
    {%- set re = modules.re -%}
    {%- set sql = re.sub('(?i)\\bvarchar\\b(?!\\s*\\()', 'string', sql) -%}
    {%- set sql = re.sub('(?i)\\bdouble\\s+precision\\b', 'double', sql) -%}
    {%- set sql = re.sub('(?i)\\btimestamptz\\b', 'timestamp', sql) -%}
    {%- set sql = re.sub("(?i)\\s+at\\s+time\\s+zone\\s+'UTC'", '', sql) -%}
    {{ return(sql) }}
{%- endmacro %}

{#- dbt's own `statement` (dbt-core 1.11, include/global_project/macros/etc/statement.sql),
    with one addition: on Spark the SQL goes through `spark_dialect` first. -#}
{%- macro statement(name=None, fetch_result=False, auto_begin=True, language='sql') -%}
  {%- if execute: -%}
    {%- set compiled_code = caller() -%}
    {%- if language == 'sql' and target.type == 'spark' -%}
      {%- set compiled_code = spark_dialect(compiled_code) -%}
    {%- endif -%}

    {%- if name == 'main' -%}
      {{ log('Writing runtime {} for node "{}"'.format(language, model['unique_id'])) }}
      {{ write(compiled_code) }}
    {%- endif -%}
    {%- if language == 'sql'-%}
      {%- set res, table = adapter.execute(compiled_code, auto_begin=auto_begin, fetch=fetch_result) -%}
    {%- elif language == 'python' -%}
      {%- set res = submit_python_job(model, compiled_code) -%}
      {%- set table = None -%}
    {%- else -%}
      {% do exceptions.raise_compiler_error("statement macro didn't get supported language") %}
    {%- endif -%}

    {%- if name is not none -%}
      {{ store_result(name, response=res, agate_table=table) }}
    {%- endif -%}

  {%- endif -%}
{%- endmacro %}

{#- dbt's own `get_column_schema_from_query` (dbt-core 1.11; contract checks), through
    `spark_dialect` on Spark: the adapter runs this query itself, not through `statement`. -#}
{% macro get_column_schema_from_query(select_sql, select_sql_header=none) -%}
    {% set sql = get_empty_subquery_sql(select_sql, select_sql_header) %}
    {% if target.type == 'spark' %}
        {% set sql = spark_dialect(sql) %}
    {% endif %}
    {% set column_schema = adapter.get_column_schema_from_query(sql) %}
    {{ return(column_schema) }}
{% endmacro %}

{#- Incremental models are full tables on Spark. Their strategy is delete+insert (replace the
    rows of changed keys and days), which needs row-level deletes: Delta or Iceberg tables,
    whose jars this project cannot fetch offline. Plain Parquet tables only offer
    insert_overwrite of whole partitions, which would need every incremental model
    repartitioned by day and its logic rewritten for Spark. So on Spark `is_incremental()` is
    false and each run rebuilds them from the raw files (same rows as an incremental run). On
    Databricks (Delta) dbt-databricks runs delete+insert as it is (docs/spark.md). -#}
{% materialization incremental, adapter='spark' -%}
    {{ return(materialization_table_spark()) }}
{%- endmaterialization %}

{#- dbt's own `is_incremental` (dbt-core 1.11), false on Spark (see above). -#}
{% macro is_incremental() %}
    {% if not execute or target.type == 'spark' %}
        {{ return(False) }}
    {% else %}
        {% set relation = adapter.get_relation(this.database, this.schema, this.table) %}
        {{ return(relation is not none
                  and relation.type == 'table'
                  and model.config.materialized == 'incremental'
                  and not should_full_refresh()) }}
    {% endif %}
{% endmacro %}

{#- on-run-start: the raw datasets as Spark tables over the Parquet files dlt landed under
    DBT_SPARK_BUCKET_URL (`<bucket>/<dataset>/<table>/<load_id>.<file_id>.parquet`).

    On plain files dlt's merge falls back to append: every load's files stay, and a changed
    record appears once per load that brought it. So each table is registered twice:
    `<dataset>__files.<table>` reads all its files (mergeSchema: a later load may add
    columns), and the view `<dataset>.<table>` that the dbt sources read applies dlt's merge as
    the table's dlt schema (`_dlt_version`) declares it, over completed loads only: per primary
    key, the rows of the latest completed load (the greatest `dedup_sort` first) for a
    delete-insert merge, the rows of the first load for an insert-only merge. Nested tables
    follow their root row (staging keeps only children of root rows it reads). Re-registered on
    every run, so new columns and new tables appear. -#}
{% macro register_raw_parquet() -%}
    {%- if target.type != 'spark' or not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set bucket = env_var('DBT_SPARK_BUCKET_URL', '') | trim -%}
    {%- if bucket == '' -%}
        {{ exceptions.raise_compiler_error(
            "WAREHOUSE=spark needs DBT_SPARK_BUCKET_URL, the folder or bucket dlt landed the raw "
            ~ "Parquet files in: run dbt through `productops`/Dagster (ingestion.settings.dbt_env "
            ~ "sets it from DESTINATION__FILESYSTEM__BUCKET_URL), or export it (docs/spark.md)"
        ) }}
    {%- endif -%}
    {%- set datasets = [] -%}
    {%- for source in graph.sources.values() -%}
        {%- if source.schema.startswith('raw_') and source.schema not in datasets -%}
            {%- do datasets.append(source.schema) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for dataset in datasets | sort -%}
        {%- set root = bucket ~ '/' ~ dataset -%}
        {%- do run_query('create database if not exists ' ~ dataset) -%}
        {%- do run_query('create database if not exists ' ~ dataset ~ '__files') -%}
        {%- for internal in ['_dlt_loads', '_dlt_version'] -%}
            {%- do run_query('drop table if exists ' ~ dataset ~ '.' ~ internal) -%}
            {%- do run_query(
                'create table ' ~ dataset ~ '.' ~ internal ~ " using json location '"
                ~ root ~ '/' ~ internal ~ "'"
            ) -%}
        {%- endfor -%}
        {%- set versions = run_query(
            'select `schema` from ' ~ dataset ~ '._dlt_version order by inserted_at desc limit 1'
        ) -%}
        {%- if versions.rows | length == 0 -%}
            {{ exceptions.raise_compiler_error(
                "WAREHOUSE=spark: no dlt schema in " ~ root ~ "/_dlt_version: load the "
                ~ dataset ~ " source first (python -m ingestion), with the same "
                ~ "DESTINATION__FILESYSTEM__BUCKET_URL"
            ) }}
        {%- endif -%}
        {%- set tables = fromjson(versions.rows[0][0])['tables'] -%}
        {%- for name, table in tables.items() | sort -%}
            {%- if not name.startswith('_dlt') and table.get('x-normalizer', {}).get('seen-data') -%}
                {%- do run_query('drop view if exists ' ~ dataset ~ '.' ~ name) -%}
                {%- do run_query('drop table if exists ' ~ dataset ~ '__files.' ~ name) -%}
                {%- do run_query(
                    'create table ' ~ dataset ~ '__files.' ~ name ~ " using parquet options"
                    ~ " (mergeSchema 'true') location '" ~ root ~ '/' ~ name ~ "'"
                ) -%}
                {%- do run_query(
                    'create view ' ~ dataset ~ '.' ~ name ~ ' as '
                    ~ dlt_merged_rows(dataset, name, table)
                ) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}

{#- The rows dlt's merge would keep, as a query over `<dataset>__files.<table>` (see above). -#}
{% macro dlt_merged_rows(dataset, name, table) -%}
    {%- set files = dataset ~ '__files.' ~ name -%}
    {%- set keys = [] -%}
    {%- set sorts = [] -%}
    {%- for column_name, column in table['columns'].items() -%}
        {%- if column.get('primary_key') -%}{%- do keys.append(column_name) -%}{%- endif -%}
        {%- if column.get('dedup_sort') -%}
            {%- do sorts.append(column_name ~ ' ' ~ column['dedup_sort']) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set completed -%}
        _dlt_load_id in (select load_id from {{ dataset }}._dlt_loads where status = 0)
    {%- endset -%}
    {%- if table.get('parent') and '_dlt_root_id' not in table['columns'] -%}
        {#- dlt adds the root key only where it merges itself; on files a child of a root
            table gets it from its parent key (deeper nesting is not used by any source),
            and keeps only the children of the root rows the merge keeps. -#}
        select *, _dlt_parent_id as _dlt_root_id from {{ files }}
        where _dlt_parent_id in (select _dlt_id from {{ dataset }}.{{ table['parent'] }})
    {%- elif table.get('write_disposition') != 'merge' or keys | length == 0 or table.get('parent') -%}
        select * from {{ files }}
    {%- elif table.get('x-merge-strategy') == 'insert-only' -%}
        select * except (dlt_merge_rank) from (
            select *, dense_rank() over (partition by {{ keys | join(', ') }} order by _dlt_load_id) as dlt_merge_rank
            from {{ files }} where {{ completed }}
        ) where dlt_merge_rank = 1
    {%- else -%}
        select * except (dlt_merge_rank) from (
            select *, row_number() over (
                partition by {{ keys | join(', ') }}
                order by _dlt_load_id desc{% for sort in sorts %}, {{ sort }}{% endfor %}, _dlt_id
            ) as dlt_merge_rank
            from {{ files }} where {{ completed }}
        ) where dlt_merge_rank = 1
    {%- endif -%}
{%- endmacro %}

{#- Spark reads a table function in FROM with LATERAL when it refers to earlier rows, and its
    `sequence` fails when the start is after the end (generate_series gives no rows). -#}
{% macro spark__day_series(start_date, end_date, step_days=1, alias='day_series') -%}
    lateral explode(
        if(
            cast({{ start_date }} as timestamp) <= cast({{ end_date }} as timestamp),
            sequence(
                cast({{ start_date }} as timestamp),
                cast({{ end_date }} as timestamp),
                interval {{ step_days }} day
            ),
            cast(array() as array<timestamp>)
        )
    ) as {{ alias }} (date_ts)
{%- endmacro %}

{% macro spark__int_series(first, last, alias, column) -%}
    range({{ first }}, {{ last }} + 1) as {{ alias }} ({{ column }})
{%- endmacro %}

{% macro spark__json_text(column, key) -%}
    get_json_object({{ column }}, '$.{{ key }}')
{%- endmacro %}

{#- dbt-spark's seed loader (dbt-spark 1.11), its insert through `spark_dialect`: it runs
    the statement itself, not through `statement`, and casts to the seeds' `column_types`. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
  {% set batch_size = get_batch_size() %}
  {% set column_override = model['config'].get('column_types', {}) %}
  {% set statements = [] %}
  {% for chunk in agate_table.rows | batch(batch_size) %}
      {% set bindings = [] %}
      {% for row in chunk %}
          {% do bindings.extend(row) %}
      {% endfor %}
      {% set sql %}
          insert into {{ this.render() }} values
          {% for row in chunk -%}
              ({%- for col_name in agate_table.column_names -%}
                  {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                  {%- set type = column_override.get(col_name, inferred_type) -%}
                    cast({{ get_binding_char() }} as {{type}})
                  {%- if not loop.last%},{%- endif %}
              {%- endfor -%})
              {%- if not loop.last%},{%- endif %}
          {%- endfor %}
      {% endset %}
      {% do adapter.add_query(spark_dialect(sql), bindings=bindings, abridge_sql_log=True) %}
      {% if loop.index0 == 0 %}
          {% do statements.append(sql) %}
      {% endif %}
  {% endfor %}
  {{ return(statements[0]) }}
{% endmacro %}
