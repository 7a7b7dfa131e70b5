{#- Every non-null value lies in [min_value, max_value]; either bound may be omitted. Like
    dbt_utils' `accepted_range`, written here because installing dbt_utils needs the dbt
    package hub, which not every install can reach. -#}
{% test value_between(model, column_name, min_value=none, max_value=none) %}

select {{ column_name }} as out_of_range_value
from {{ model }}
where
    {{ column_name }} is not null
    and (
        false
        {% if min_value is not none %} or {{ column_name }} < {{ min_value }}{% endif %}
        {% if max_value is not none %} or {{ column_name }} > {{ max_value }}{% endif %}
    )

{% endtest %}
