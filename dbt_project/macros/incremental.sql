{#- The first day an incremental product model rebuilds on this run, as a SQL scalar
    subquery (int_product_reprocess_from; null = everything):

        where activity_date >= {{ reprocess_from() }}

    Models that use it declare the dependency at their top with
    `-- depends_on: {{ ref('int_product_reprocess_from') }}`, because the ref only renders
    inside `is_incremental()` blocks. -#}
{% macro reprocess_from(offset_days=0) -%}
    (
        select coalesce({{ add_days('reprocess_from.reprocess_from', offset_days) }}, cast('1900-01-01' as date))
        from {{ ref('int_product_reprocess_from') }} as reprocess_from
    )
{%- endmacro %}
