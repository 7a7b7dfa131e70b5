{#- Every row satisfies a boolean SQL expression (dbt_utils' test, without the package). -#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
