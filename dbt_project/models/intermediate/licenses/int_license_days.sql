-- One row per license of a resolved account and UTC day on which it is active
-- (starts_on <= d and (ends_on is null or d < ends_on)), within the period that has usage
-- data: from the first event day to the as-of date.

with

bounds as (

    select * from {{ ref('int_activity_bounds') }}

),

licenses as (

    select * from {{ ref('int_licenses') }}
    where is_account_resolved

),

clipped as (

    select
        licenses.license_id,
        licenses.account_id,
        licenses.seats,
        licenses.annual_price,
        greatest(licenses.starts_on, bounds.first_event_date) as first_day,
        least(
            coalesce({{ add_days('licenses.ends_on', -1) }}, bounds.as_of_date),
            bounds.as_of_date
        ) as last_day
    from licenses
    cross join bounds

),

final as (

    select
        clipped.license_id,
        clipped.account_id,
        cast(day_series.date_ts as date) as activity_date,
        clipped.seats,
        clipped.annual_price
    from clipped
    cross join {{ day_series('clipped.first_day', 'clipped.last_day') }}
    where clipped.first_day <= clipped.last_day

)

select * from final
