-- The power-user curve (docs/metrics.md, "Usage depth"): snapshot days are the as-of date and
-- every 7th day before it while the window [d-27, d] starts on or after the first event day;
-- for each, all 28 rows k = 1..28 (zeros included). A table, rebuilt whole: every snapshot
-- day moves with the as-of date, so a new day shifts all of them (docs/metrics.md).
with

bounds as (

    select * from {{ ref('int_activity_bounds') }}

),

user_days as (

    select * from {{ ref('int_user_activity_days') }}

),

snapshots as (

    select
        cast(snapshot_series.date_ts as date) as snapshot_date,
        {{ add_days('cast(snapshot_series.date_ts as date)', -27) }} as window_start
    from bounds
    cross join {{ day_series(add_days('bounds.first_event_date', 27), 'bounds.as_of_date', alias='snapshot_series') }}
    where
        mod(
            cast({{ dbt.datediff('cast(snapshot_series.date_ts as date)', 'bounds.as_of_date', 'day') }} as integer),
            7
        ) = 0

),

day_counts as (

    select k_series.days_active
    from {{ int_series(1, 28, 'k_series', 'days_active') }}

),

window_offsets as (

    select offset_series.weeks_back
    from {{ int_series(0, 3, 'offset_series', 'weeks_back') }}

),

user_days_back as (

    -- Each user-day's whole weeks before the as-of date: b = floor((as-of - d) / 7).
    select
        user_days.user_id,
        cast(floor(
            {{ dbt.datediff('user_days.activity_date', 'bounds.as_of_date', 'day') }} / 7.0
        ) as integer) as weeks_back
    from user_days
    cross join bounds

),

user_weeks_back as (

    -- Each user's active days by weeks back (one row per user and day in user_days).
    select
        user_id,
        weeks_back,
        count(*) as active_days
    from user_days_back
    group by user_id, weeks_back

),

user_day_snapshots as (

    -- The snapshot days whose window [s-27, s] holds a user-day d are s = as-of - 7k with
    -- as-of - d - 27 <= 7k <= as-of - d: k = floor((as-of - d) / 7) - i for i = 0..3. So the
    -- window of s = as-of - 7k is exactly the buckets k to k + 3: each user's bucket goes to
    -- its four snapshot days (kept when they are snapshot days), an equi-join instead of a
    -- range join of every user-day with every snapshot, on a row per user and week instead of
    -- one per user and day.
    select
        user_weeks_back.user_id,
        user_weeks_back.active_days,
        {{ add_days(
            'bounds.as_of_date',
            '-7 * (user_weeks_back.weeks_back - window_offsets.weeks_back)'
        ) }} as snapshot_date
    from user_weeks_back
    cross join bounds
    cross join window_offsets

),

user_windows as (

    -- Each user's distinct active days in each snapshot's window: the sum of its four buckets.
    select
        snapshots.snapshot_date,
        user_day_snapshots.user_id,
        cast(sum(user_day_snapshots.active_days) as integer) as days_active
    from user_day_snapshots
    inner join snapshots
        on user_day_snapshots.snapshot_date = snapshots.snapshot_date
    group by snapshots.snapshot_date, user_day_snapshots.user_id

),

curve as (

    select
        snapshot_date,
        days_active,
        count(*) as users
    from user_windows
    group by snapshot_date, days_active

),

window_users as (

    select
        snapshot_date,
        count(*) as active_users
    from user_windows
    group by snapshot_date

),

final as (

    select
        snapshots.snapshot_date,
        cast(day_counts.days_active as integer) as days_active,
        cast(coalesce(curve.users, 0) as bigint) as users,
        {{ safe_ratio('coalesce(curve.users, 0)', 'window_users.active_users') }} as share_of_active
    from snapshots
    cross join day_counts
    left join curve
        on
            snapshots.snapshot_date = curve.snapshot_date
            and day_counts.days_active = curve.days_active
    left join window_users
        on snapshots.snapshot_date = window_users.snapshot_date

)

select * from final
