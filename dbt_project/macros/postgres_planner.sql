{#- What PostgreSQL's planner needs to plan the models well (docs/postgres.md, "How fast").
    Every macro here renders nothing on DuckDB and Spark.

    PostgreSQL plans a query from the statistics `analyze` gathers, and dbt never runs it:
    a table a model has just created has none until autovacuum gets to it (up to a minute
    later, long after the next model has run). Worse, a view that keeps one version per key
    (`row_number() ... = 1`, every staging model) is estimated at a handful of rows whatever
    its size, so a query that joins such views picks nested loops that rescan one side once
    per row of the other: at scale 10 `int_tickets_enriched` (a view then) cost about 200 s
    in each of the models that read it. Hence, on PostgreSQL only, staging and intermediate
    models are tables, never views (`+materialized` in dbt_project.yml), and every table and
    incremental model is analyzed as soon as it is built (`analyze_on_postgres`, a project-wide
    post-hook there). -#}

{#- Post-hook: fresh planner statistics for the table or incremental model just built, so
    the models and tests that read it next are planned on its real size and values. -#}
{% macro analyze_on_postgres() -%}
    {%- if target.type == 'postgres' and config.get('materialized') in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- Pre- and post-hook: an index on `columns` of the model's table unless one exists already
    (under any name). dbt-postgres' `indexes` config creates its indexes only with the table,
    so a table built before the config was added would never get one without a full refresh.
    As a pre-hook it indexes an existing table before the model's incremental statement needs
    it (nothing while the table does not exist yet); as a post-hook, a table just created. -#}
{% macro index_on_postgres(columns) -%}
    {%- if target.type == 'postgres' -%}
        {%- set relation = this.include(database=False) -%}
        do $$
        begin
            if to_regclass('{{ relation }}') is not null and not exists (
                select 1
                from pg_index as indexes
                where
                    indexes.indrelid = to_regclass('{{ relation }}')
                    and array(
                        select attributes.attname::text
                        from unnest(indexes.indkey::int2[]) with ordinality as keys (attnum, position)
                        inner join pg_attribute as attributes
                            on attributes.attrelid = indexes.indrelid and attributes.attnum = keys.attnum
                        order by keys.position
                    ) = array[{% for column in columns %}'{{ column }}'{{ ', ' if not loop.last }}{% endfor %}]::text[]
            ) then
                create index on {{ relation }} ({{ columns | join(', ') }});
            end if;
        end
        $$
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook for a model whose row estimates shrink step after step, so that PostgreSQL would
    plan a nested loop that rescans a large input once per row it expected to be one: hash
    and merge joins only, for this model's statement (`set local` ends with its transaction).
    `fct_funnel_weekly` needs it: each funnel step is estimated at a fraction of the one
    before (1 row by step 4 where 377 users are), and the next step rescanned every step
    event once per user (10.9 s of its 12 s at scale 3; 0.8 s without nested loops). JIT
    goes too: a plan that must keep one nested loop (a cross join) is costed at about 1e10
    there, which would make PostgreSQL spend seconds compiling it. -#}
{% macro hash_joins_on_postgres() -%}
    {%- if target.type == 'postgres' -%}
        set local enable_nestloop = off;
        set local jit = off
    {%- endif -%}
{%- endmacro %}
