{#- The combination of columns is unique (a composite grain): dbt_utils'
    `unique_combination_of_columns`, copied because installing dbt_utils (`dbt deps`) needs
    the dbt package hub, which not every install can reach; with no packages.yml the project
    builds offline. -#}
{% test unique_combination(model, combination_of_columns) %}

with grain as (

    select
        {{ combination_of_columns | join(', ') }},
        count(*) as row_count
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}

)

select *
from grain
where row_count > 1

{% endtest %}
