"""Seats sold: Stripe customers and subscriptions, plus the enterprise license CSV drop.

Subscriptions are read from the accounts' story in the model: churned accounts' subscriptions
end when their users stop, upgrades cancel a starter subscription and start a growth one on
the upgrade day, and the seats of each account are set against its user count so that some
accounts are over-licensed and some over-used.
"""

from __future__ import annotations

import math
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from demo.common import DAY, add_months, epoch, random_tokens, write_csv, write_jsonl
from demo.model import PLANS, Model, orphan_account_ids
from demo.zendesk import shape_rng

LICENSE_HEADER = (
    "license_id",
    "account_id",
    "product",
    "plan",
    "seats",
    "starts_on",
    "ends_on",
    "annual_price",
    "currency",
)
PRODUCTS = {
    "starter": ("prod_PoStarter0001", "ProductOps Starter"),
    "growth": ("prod_PoGrowth00001", "ProductOps Growth"),
    "enterprise": ("prod_PoEnterprise01", "ProductOps Enterprise"),
}
# (plan, interval) -> (price id, unit amount in cents per seat and interval)
PRICES = {
    ("starter", "month"): ("price_1PoStarterMonthlyUsd", 1_500),
    ("starter", "year"): ("price_1PoStarterAnnualUsd0", 15_000),
    ("growth", "month"): ("price_1PoGrowthMonthlyUsd00", 4_000),
    ("growth", "year"): ("price_1PoGrowthAnnualUsd000", 40_000),
    ("enterprise", "year"): ("price_1PoEnterpriseAnnualUs", 72_000),
}
PRICE_CREATED = 1_672_531_200  # 2023-01-01
ENTERPRISE_SEAT_PRICE = 690.0


def write_licenses(model: Model, rng: np.random.Generator, out: Path) -> tuple[dict, dict, dict]:
    """Write stripe/*.jsonl and the license CSV drop; returns (counts, planted, scenario)."""
    shutil.rmtree(out / "stripe", ignore_errors=True)
    shutil.rmtree(out / "file_drop" / "licenses", ignore_errors=True)
    n_acc = len(model.acc_ids)
    users = np.bincount(model.user_acc, minlength=n_acc)
    kind = rng.choice(3, n_acc, p=(0.76, 0.13, 0.11))  # normal, over-licensed, over-used
    seats = np.where(
        kind == 0,
        np.ceil(users * rng.uniform(1.0, 1.35, n_acc)),
        np.where(
            kind == 1,
            np.ceil(users * rng.uniform(2.2, 4.0, n_acc)) + 3,
            np.maximum(1, np.floor(users * rng.uniform(0.45, 0.75, n_acc))),
        ),
    ).astype(int)

    enterprise = np.flatnonzero(model.acc_plan == 3)
    in_csv = rng.choice(enterprise, max(1, round(0.4 * len(enterprise))), replace=False)
    csv_set = set(in_csv.tolist())
    paying = [a for a in np.flatnonzero(model.acc_plan > 0).tolist() if a not in csv_set]
    unlicensed = set(rng.choice(paying, max(1, round(0.04 * len(paying))), replace=False).tolist())
    unlicensed -= {
        a for a in paying if model.acc_upgrade_day[a] >= 0 or model.acc_end_day[a] < model.days
    }
    stripe_accounts = [a for a in paying if a not in unlicensed]

    customers: list[dict[str, Any]] = []
    subscriptions: list[dict[str, Any]] = []
    tokens = iter(random_tokens(rng, 8 * (len(stripe_accounts) + 4), 14, mixed=True))
    now = model.now
    n_pending_cancel = 0
    for a in stripe_accounts:
        start = (
            model.t0 + int(model.acc_start_day[a]) * DAY + 10 * 3600 + int(rng.integers(0, 20_000))
        )
        customer = _customer(
            f"cus_{next(tokens)}",
            start - 600,
            model.acc_ids[a],
            model.acc_names[a],
            model.acc_slugs[a],
            rng,
        )
        customers.append(customer)
        plan = PLANS[int(model.acc_plan[a])]
        interval = "year" if plan == "enterprise" or rng.random() < 0.4 else "month"
        first_end = None
        if model.acc_end_day[a] < model.days:
            first_end = model.t0 + int(model.acc_end_day[a]) * DAY + 15 * 3600
        upgrade = int(model.acc_upgrade_day[a])
        if upgrade >= 0:
            first_end = model.t0 + upgrade * DAY + 11 * 3600
        sub = _subscription(
            tokens, customer["id"], plan, interval, int(seats[a]), start, first_end, now
        )
        if first_end is not None and upgrade < 0 and rng.random() < 0.5:
            # Cancelled some weeks before, effective at the end date.
            sub["canceled_at"] = first_end - int(rng.integers(5, 25)) * DAY
            sub["cancel_at"] = first_end
            sub["cancellation_details"]["reason"] = "cancellation_requested"
        elif first_end is None and rng.random() < 0.05:
            # Will not renew: still active until the period ends.
            sub["cancel_at_period_end"] = True
            sub["canceled_at"] = now - int(rng.integers(1, 20)) * DAY
            sub["cancel_at"] = sub["current_period_end"]
            sub["cancellation_details"]["reason"] = "cancellation_requested"
            n_pending_cancel += 1
        subscriptions.append(sub)
        if upgrade >= 0 and first_end is not None:
            more = int(math.ceil(seats[a] * 1.4)) + 2
            subscriptions.append(
                _subscription(
                    tokens, customer["id"], "growth", interval, more, first_end, None, now
                )
            )
    if not n_pending_cancel and subscriptions:
        active = [s for s in subscriptions if s["status"] == "active"]
        sub = active[len(active) // 2]
        sub["cancel_at_period_end"] = True
        sub["canceled_at"] = now - 3 * DAY
        sub["cancel_at"] = sub["current_period_end"]
        n_pending_cancel = 1

    # A customer whose account id names no account anywhere else (license-only account).
    orphan_stripe, orphan_csv = orphan_account_ids(model, 2)
    start = model.t0 - 200 * DAY + 40_000
    customer = _customer(
        f"cus_{next(tokens)}", start - 600, orphan_stripe, "Northwind Holdings", "northwind", rng
    )
    customers.append(customer)
    subscriptions.append(
        _subscription(tokens, customer["id"], "growth", "year", 25, start, None, now)
    )

    shape_counts = _vary_stripe_shapes(customers, subscriptions, shape_rng(rng), model.t0)
    customers.sort(key=lambda c: (c["created"], c["id"]))
    subscriptions.sort(key=lambda s: (s["created"], s["id"]))
    counts = {
        "stripe_customers": write_jsonl(out / "stripe" / "customers.jsonl", customers),
        "stripe_subscriptions": write_jsonl(out / "stripe" / "subscriptions.jsonl", subscriptions),
    }

    # --- the enterprise license CSV drop ----------------------------------------------------
    rows: list[list[Any]] = []
    seq = iter(range(1, 10_000))
    renewal = int(in_csv[0])
    for a in sorted(csv_set):
        starts = model.day(int(model.acc_start_day[a]))
        n = int(seats[a])
        if a == renewal:
            switch = model.day(model.days // 3)
            rows.append(_license(next(seq), model.acc_ids[a], "enterprise", n, starts, switch))
            rows.append(_license(next(seq), model.acc_ids[a], "enterprise", n + 20, switch, None))
            continue
        ends = None if rng.random() < 0.6 else add_months(starts, 36)
        while ends is not None and ends <= model.end:
            ends = add_months(ends, 12)
        rows.append(_license(next(seq), model.acc_ids[a], "enterprise", n, starts, ends))
    rows.append(_license(next(seq), orphan_csv, "enterprise", 40, model.day(-300), None))
    # Planted: an add-on line whose seats someone typed as a word.
    bad = _license(next(seq), model.acc_ids[renewal], "enterprise", 50, model.day(5), None)
    bad[2], bad[4], bad[7] = "ProductOps AI Add-on", "fifty", "6000.00"
    rows.append(bad)
    path = out / "file_drop" / "licenses" / f"licenses_{model.end:%Y-%m-%d}.csv"
    counts["license_csv_rows"] = write_csv(path, LICENSE_HEADER, rows)

    planted = {
        "counts": {"license_csv_bad_seats": 1, **shape_counts},
        "where": {
            "license_csv_bad_seats": {
                "license_id": bad[0],
                "file": path.relative_to(out).as_posix(),
            }
        },
    }
    licensed = set(stripe_accounts) | csv_set
    scenario = {
        "license_only_accounts": [orphan_stripe, orphan_csv],
        "over_licensed_accounts": [model.acc_ids[a] for a in sorted(licensed) if kind[a] == 1],
        "over_used_accounts": [model.acc_ids[a] for a in sorted(licensed) if kind[a] == 2],
        "csv_licensed_accounts": [model.acc_ids[a] for a in sorted(csv_set)],
        "unlicensed_paying_accounts": [model.acc_ids[a] for a in sorted(unlicensed)],
        "pending_cancellations": n_pending_cancel,
    }
    return counts, planted, scenario


def _vary_stripe_shapes(
    customers: list[dict[str, Any]],
    subscriptions: list[dict[str, Any]],
    shapes: np.random.Generator,
    t0: int,
) -> dict[str, int]:
    """Vary record shapes by seed as Stripe's API reference allows.

    Some subscriptions carry their seats in two items of the same price, and then, as Stripe
    does, no top-level `quantity` or `plan` (null or absent); some items lack the deprecated
    `plan`; some seeds add customers whose `metadata` is empty or has no `account_id` (valid,
    unresolved, without subscriptions). Seats and prices per subscription are unchanged.
    """
    p_multi = float(shapes.choice([0.0, 0.2, 0.5]))
    p_no_item_plan = float(shapes.choice([0.0, 0.5]))
    n_unresolved = int(shapes.choice([0, 1, 2]))
    multi = 0
    for sub in subscriptions:
        items = sub["items"]["data"]
        for item in items:
            if shapes.random() < p_no_item_plan:
                del item["plan"]
        if len(items) != 1 or items[0]["quantity"] < 2 or shapes.random() >= p_multi:
            continue
        first = items[0]
        second = {**first, "id": f"{first['id']}x", "quantity": first["quantity"] // 2}
        first["quantity"] -= second["quantity"]
        items.append(second)
        sub["items"]["total_count"] = 2
        if shapes.random() < 0.5:
            sub["quantity"], sub["plan"] = None, None
        else:
            del sub["quantity"], sub["plan"]
        multi += 1
    for n in range(n_unresolved):
        created = t0 - (30 + n) * DAY
        customer = {
            "id": f"cus_unresolved{n}{int(shapes.integers(0, 16**6)):06x}",
            "object": "customer",
            "created": created,
            "email": None,
            "name": None,
            "metadata": {} if n == 0 else {"crm": "none"},
        }
        customers.append(customer)
    return {"stripe_multi_item_subscriptions": multi, "stripe_unresolved_customers": n_unresolved}


def _license(
    n: int, account: str, plan: str, seats: int, starts: date, ends: date | None
) -> list[Any]:
    price = seats * ENTERPRISE_SEAT_PRICE
    return [
        f"LIC-{n:04d}",
        account,
        "ProductOps Analytics",
        plan,
        seats,
        starts.isoformat(),
        ends.isoformat() if ends else "",
        f"{price:.2f}",
        "USD",
    ]


def _customer(
    cid: str, created: int, account_id: str, name: str, slug: str, rng: np.random.Generator
) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": created,
        "currency": "usd",
        "default_currency": "usd",
        "default_source": None,
        "delinquent": False,
        "description": name,
        "discount": None,
        "email": f"billing@{slug}.example.com",
        "invoice_prefix": f"{int(rng.integers(0, 16**8)):08X}",
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {"account_id": account_id},
        "name": name,
        "next_invoice_sequence": int(rng.integers(2, 40)),
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def _periods(start: int, interval: str, until: int) -> tuple[int, int]:
    """Return the billing period (start, end) containing `until`, anchored on `start`."""
    anchor = date(1970, 1, 1) + timedelta(days=start // DAY)
    offset = start % DAY
    step = 12 if interval == "year" else 1
    k = 0
    while True:
        lo = epoch(add_months(anchor, k * step)) + offset
        hi = epoch(add_months(anchor, (k + 1) * step)) + offset
        if hi > until:
            return lo, hi
        k += 1


def _subscription(
    tokens: Any,
    customer: str,
    plan: str,
    interval: str,
    quantity: int,
    start: int,
    ended: int | None,
    now: int,
) -> dict[str, Any]:
    sub_id = f"sub_{next(tokens)}"
    price_id, amount = PRICES[(plan, interval)]
    product = PRODUCTS[plan][0]
    nickname = f"{plan}-{'annual' if interval == 'year' else 'monthly'}"
    period_start, period_end = _periods(start, interval, ended if ended is not None else now)
    plan_obj = {
        "id": price_id,
        "object": "plan",
        "active": True,
        "aggregate_usage": None,
        "amount": amount,
        "amount_decimal": str(amount),
        "billing_scheme": "per_unit",
        "created": PRICE_CREATED,
        "currency": "usd",
        "interval": interval,
        "interval_count": 1,
        "livemode": False,
        "metadata": {},
        "nickname": nickname,
        "product": product,
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }
    price = {
        "id": price_id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": PRICE_CREATED,
        "currency": "usd",
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": nickname,
        "product": product,
        "recurring": {
            "aggregate_usage": None,
            "interval": interval,
            "interval_count": 1,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "exclusive",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": amount,
        "unit_amount_decimal": str(amount),
    }
    item: dict[str, Any] = {
        "id": f"si_{next(tokens)}",
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": start + 1,
        "metadata": {},
        "plan": plan_obj,
        "price": price,
        "quantity": quantity,
        "subscription": sub_id,
        "tax_rates": [],
    }
    return {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"enabled": False},
        "billing_cycle_anchor": start,
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": ended,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": start,
        "currency": "usd",
        "current_period_end": period_end,
        "current_period_start": period_start,
        "customer": customer,
        "days_until_due": None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discount": None,
        "ended_at": ended,
        "items": {
            "object": "list",
            "data": [item],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": f"in_{next(tokens)}",
        "livemode": False,
        "metadata": {},
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "plan": plan_obj,
        "quantity": quantity,
        "schedule": None,
        "start_date": start,
        "status": "canceled" if ended is not None else "active",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }
