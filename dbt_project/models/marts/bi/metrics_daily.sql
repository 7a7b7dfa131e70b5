-- Long format for dashboards; each value equals its mart's (a null stays null).

with

active_users_daily as (

    select * from {{ ref('fct_active_users_daily') }}

),

support_daily as (

    select * from {{ ref('fct_support_daily') }}

),

account_activity_daily as (

    select * from {{ ref('fct_account_activity_daily') }}

),

seat_utilization_daily as (

    select * from {{ ref('fct_seat_utilization_daily') }}

),

company_usage as (

    {% for metric in ['dau', 'wau', 'mau', 'stickiness', 'new_users'] %}
        select
            activity_date as metric_date,
            '{{ metric }}' as metric_name,
            cast(null as varchar) as account_id,
            cast({{ metric }} as double precision) as value
        from active_users_daily
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

company_support as (

    {% set support_metrics = [
        'tickets_created', 'tickets_solved', 'backlog', 'median_first_reply_minutes_business', 'sla_breach_rate'
    ] %}
    {% for metric in support_metrics %}
        select
            activity_date as metric_date,
            '{{ metric }}' as metric_name,
            cast(null as varchar) as account_id,
            cast({{ metric }} as double precision) as value
        from support_daily
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

account_activity as (

    {% for metric in ['active_users', 'events'] %}
        select
            activity_date as metric_date,
            '{{ metric }}' as metric_name,
            account_id,
            cast({{ metric }} as double precision) as value
        from account_activity_daily
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

account_seats as (

    {% for metric in ['seats_purchased', 'active_users_28d', 'utilization', 'unused_seats', 'arr'] %}
        select
            activity_date as metric_date,
            '{{ metric }}' as metric_name,
            account_id,
            cast({{ metric }} as double precision) as value
        from seat_utilization_daily
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select * from company_usage
    union all
    select * from company_support
    union all
    select * from account_activity
    union all
    select * from account_seats

)

select
    cast(metric_date as date) as metric_date,
    cast(metric_name as varchar) as metric_name,
    cast(account_id as varchar) as account_id,
    cast(value as double precision) as value
from final
