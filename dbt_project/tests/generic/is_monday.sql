{#- Every non-null date is a Monday (weeks start on Monday, docs/metrics.md). -#}
{% test is_monday(model, column_name) %}

select {{ column_name }} as not_a_monday
from {{ model }}
where
    {{ column_name }} is not null
    and {{ week_start(column_name) }} <> {{ column_name }}

{% endtest %}
