-- Every license, Stripe subscriptions and the CSV drop unified. A Stripe subscription is a
-- license with starts_on = start_date, ends_on = ended_at (UTC dates), seats = sum of item
-- quantities, annual price = sum of unit_amount * quantity (x12 for monthly prices) / 100.
-- Licenses whose account cannot be resolved are kept here (account_id null) and flagged.

with

subscriptions as (

    select * from {{ ref('stg_stripe__subscriptions') }}

),

subscription_items as (

    select * from {{ ref('stg_stripe__subscription_items') }}

),

customers as (

    select * from {{ ref('stg_stripe__customers') }}

),

csv_licenses as (

    select * from {{ ref('stg_file_drop__licenses') }}

),

item_totals as (

    select
        subscription_dlt_id,
        sum(quantity) as seats,
        sum(
            unit_amount * quantity
            * case billing_interval
                when 'month' then 12
                when 'week' then 52
                when 'day' then 365
                else 1
            end
        ) / 100.0 as annual_price,
        min(currency) as currency,
        min({{ binary_text('product_id') }}) as product
    from subscription_items
    group by subscription_dlt_id

),

stripe_licenses as (

    select
        subscriptions.subscription_id as license_id,
        'stripe' as license_source,
        customers.account_id,
        item_totals.product,
        cast(null as varchar) as plan,
        cast(coalesce(item_totals.seats, 0) as bigint) as seats,
        {{ utc_date('subscriptions.started_at') }} as starts_on,
        {{ utc_date('subscriptions.ended_at') }} as ends_on,
        cast(coalesce(item_totals.annual_price, 0) as double precision) as annual_price,
        item_totals.currency
    from subscriptions
    left join item_totals
        on subscriptions.dlt_id = item_totals.subscription_dlt_id
    left join customers
        on subscriptions.customer_id = customers.customer_id

),

file_drop_licenses as (

    select
        license_id,
        'file_drop' as license_source,
        account_id,
        product,
        plan,
        coalesce(seats, 0) as seats,
        starts_on,
        ends_on,
        coalesce(annual_price, 0) as annual_price,
        currency
    from csv_licenses

),

unioned as (

    select * from stripe_licenses
    union all
    select * from file_drop_licenses

),

final as (

    select
        license_id,
        license_source,
        account_id,
        product,
        plan,
        seats,
        starts_on,
        ends_on,
        annual_price,
        currency,
        account_id is not null as is_account_resolved
    from unioned
    where starts_on is not null

)

select * from final
