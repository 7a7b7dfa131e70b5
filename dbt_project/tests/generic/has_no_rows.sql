{#- The model is empty. Used with `severity: warn` on report tables (unresolved_records): dbt
    then reports the row count as the warning's failure count, so the run summary shows it
    without stopping anything (docs/checks.md). -#}
{% test has_no_rows(model) %}

select *
from {{ model }}

{% endtest %}
