{% set columns = source_column_names(source('raw_stripe', 'subscriptions__items__data')) %}

with

source as (

    {{ dlt_child_rows('raw_stripe', 'subscriptions__items__data', 'subscriptions', {
        'id': 'string', '_dlt_parent_id': 'string', 'quantity': 'bigint',
        'price__id': 'string', 'price__product': 'string', 'price__unit_amount': 'bigint',
        'price__currency': 'string', 'price__recurring__interval': 'string'
    }) }}

),

final as (

    select
        id as subscription_item_id,
        _dlt_parent_id as subscription_dlt_id,
        cast({{ column_or_null(columns, 'quantity', 'bigint') }} as bigint) as quantity,
        {{ column_or_null(columns, 'price__id', 'varchar') }} as price_id,
        {{ column_or_null(columns, 'price__product', 'varchar') }} as product_id,
        cast({{ column_or_null(columns, 'price__unit_amount', 'bigint') }} as bigint) as unit_amount,
        {{ column_or_null(columns, 'price__currency', 'varchar') }} as currency,
        {{ column_or_null(columns, 'price__recurring__interval', 'varchar') }} as billing_interval
    from source

)

select * from final
