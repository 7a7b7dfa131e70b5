{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='activity_date',
        on_schema_change='fail'
    )
}}
-- depends_on: {{ ref('int_product_reprocess_from') }}
-- Incremental: rebuilds the days from int_product_reprocess_from on; their 28-day windows
-- read the user-days from 27 days earlier, and new users still come from each user's first
-- active day over all history.
with

bounds as (

    select * from {{ ref('int_activity_bounds') }}

),

user_days as (

    select * from {{ ref('int_user_activity_days') }}

),

calendar as (

    select
        cast(day_series.date_ts as date) as activity_date,
        {{ add_days('cast(day_series.date_ts as date)', -6) }} as wau_window_start,
        {{ add_days('cast(day_series.date_ts as date)', -27) }} as mau_window_start
    from bounds
    {% if is_incremental() -%}
        cross join {{ day_series('greatest(bounds.first_event_date, ' ~ reprocess_from() ~ ')', 'bounds.as_of_date') }}
    {%- else -%}
        cross join {{ day_series('bounds.first_event_date', 'bounds.as_of_date') }}
    {%- endif %}

),

first_active_days as (

    select
        user_id,
        min(activity_date) as first_active_date
    from user_days
    group by user_id

),

rolling_users as (

    -- Each day against the user-days of the 28 days ending on it; the 7- and 1-day windows
    -- are sub-ranges of that one join.
    select
        calendar.activity_date,
        count(distinct case when user_days.activity_date = calendar.activity_date then user_days.user_id end) as dau,
        count(
            distinct case when user_days.activity_date >= calendar.wau_window_start then user_days.user_id end
        ) as wau,
        count(distinct user_days.user_id) as mau
    from calendar
    left join user_days
        on
            {% if is_incremental() -%}
                user_days.activity_date >= {{ reprocess_from(-27) }}
                and
            {% endif -%}
            calendar.mau_window_start <= user_days.activity_date
            and calendar.activity_date >= user_days.activity_date
    group by calendar.activity_date

),

new_users as (

    select
        first_active_date as activity_date,
        count(*) as new_users
    from first_active_days
    group by first_active_date

),

final as (

    select
        rolling_users.activity_date,
        cast(rolling_users.dau as bigint) as dau,
        cast(rolling_users.wau as bigint) as wau,
        cast(rolling_users.mau as bigint) as mau,
        {{ safe_ratio('rolling_users.dau', 'rolling_users.mau') }} as stickiness,
        cast(coalesce(new_users.new_users, 0) as bigint) as new_users
    from rolling_users
    left join new_users
        on rolling_users.activity_date = new_users.activity_date

)

select * from final
