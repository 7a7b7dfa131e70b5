{#- Every row satisfies a boolean SQL expression: dbt_utils' `expression_is_true`, copied
    because installing dbt_utils (`dbt deps`) needs the dbt package hub, which not every
    install can reach; with no packages.yml the project builds offline. -#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
