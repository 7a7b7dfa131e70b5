"""The people behind the sample world: accounts, users and their commercial story.

Everything every writer needs to agree on (who belongs where, when an account upgraded or
churned, which accounts are declining) is decided here once, as numpy arrays, so that the
events, tickets, surveys and licenses tell one consistent story.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from demo.common import DAY, epoch

PLANS = ("free", "starter", "growth", "enterprise")
PLAN_SHARE = (0.30, 0.32, 0.26, 0.12)
PLAN_USERS = (3.0, 6.0, 12.0, 30.0)  # relative users per account
PLAN_EMPLOYEES = ((5, 40), (15, 150), (60, 900), (800, 12_000))
INDUSTRIES = (
    "Software",
    "Financial Services",
    "Healthcare",
    "Retail",
    "Manufacturing",
    "Education",
    "Media",
    "Logistics",
    "Energy",
    "Public Sector",
)
# UTC offsets in minutes of the accounts' offices, with how common each is.
TZ_OFFSETS = (-480, -300, 0, 60, 120, 330, 480, 600)
TZ_SHARE = (0.12, 0.30, 0.12, 0.16, 0.12, 0.06, 0.07, 0.05)

_ADJ = (
    "Blue", "Bright", "Cedar", "Copper", "Crimson", "Delta", "Echo", "Granite", "Harbor",
    "Iron", "Juniper", "Kite", "Lumen", "Maple", "Nova", "Oak", "Orbit", "Pine", "Quartz",
    "River", "Sable", "Silver", "Summit", "Tidal", "Urban", "Vector", "Willow", "Zephyr",
)  # fmt: skip
_NOUN = (
    "Analytics", "Bank", "Bio", "Labs", "Logistics", "Media", "Foods", "Health", "Systems",
    "Works", "Capital", "Energy", "Motors", "Retail", "Studio", "Learning", "Cloud", "Data",
    "Freight", "Pharma", "Robotics", "Security", "Textiles", "Travel",
)  # fmt: skip
_SUFFIX = ("Inc", "Ltd", "GmbH", "LLC", "Co", "Group", "SA", "BV")
FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ana", "Arjun", "Ben", "Bo", "Carla", "Chen", "Chloe", "Dara",
    "David", "Elena", "Emeka", "Eva", "Farah", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan",
    "Jae", "Jonas", "Kai", "Kofi", "Lara", "Leo", "Lina", "Luis", "Maya", "Mei", "Mia", "Noah",
    "Nora", "Omar", "Priya", "Rafael", "Rosa", "Sam", "Sara", "Sofia", "Tariq", "Theo", "Uma",
    "Vera", "Wei", "Yara", "Yusuf", "Zoe", "Zoë", "José", "Björn", "Siobhán",
)  # fmt: skip
LAST_NAMES = (
    "Abe", "Adeyemi", "Alvarez", "Berg", "Brown", "Chen", "Costa", "Dubois", "Eriksen",
    "Fischer", "Garcia", "Gupta", "Haddad", "Ito", "Jansen", "Kim", "Kowalski", "Larsen",
    "Lopez", "Martin", "Meyer", "Moreau", "Nakamura", "Novak", "Okafor", "Olsen", "Patel",
    "Petrov", "Quinn", "Rossi", "Santos", "Schmidt", "Silva", "Singh", "Tanaka", "Thompson",
    "Nguyen", "Walsh", "Weber", "Yilmaz", "Zhang", "O'Brien", "Müller",
)  # fmt: skip


@dataclass
class Model:
    """Accounts, users and dates of one sample world (arrays indexed by account / user)."""

    start: date
    end: date
    days: int
    launch_day: int
    # accounts
    acc_ids: list[str]
    acc_names: list[str]
    acc_slugs: list[str]
    acc_plan: np.ndarray  # index into PLANS: the plan at the start of the window
    acc_final_plan: np.ndarray  # after an upgrade
    acc_industry: list[str]
    acc_employees: np.ndarray
    acc_tz: np.ndarray  # minutes east of UTC
    acc_start_day: np.ndarray  # day index the account signed up (negative: before the window)
    acc_end_day: np.ndarray  # first day the account no longer exists (days: still a customer)
    acc_upgrade_day: np.ndarray  # day index of a starter->growth upgrade, -1 when none
    acc_declining: np.ndarray  # bool
    acc_has_org: np.ndarray  # bool: has a Zendesk organization
    # users
    user_ids: list[str]
    user_names: list[str]
    user_emails: list[str]
    user_acc: np.ndarray
    user_acc2: np.ndarray  # second account of consultants, -1 otherwise
    user_start: np.ndarray  # first day index the user can be active
    user_end: np.ndarray  # first day index the user is gone (days: never churned)
    user_rate: np.ndarray  # weekday probability of being active
    user_intensity: np.ndarray  # relative events per active day
    user_adopt: np.ndarray  # day index the user starts using ai_insights (large: never)
    scale: float = 1.0
    notes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def t0(self) -> int:
        """Unix seconds of the window's first midnight."""
        return epoch(self.start)

    @property
    def now(self) -> int:
        """Unix seconds of the end of the window (exclusive): "now" for vendor states."""
        return self.t0 + self.days * DAY - 1

    def day(self, index: int) -> date:
        """Return the date of a day index (which may lie outside the window)."""
        return self.start + timedelta(days=int(index))

    def plan_on(self, account: int, day_index: int) -> str:
        """Return an account's plan name on a day (upgrades switch it)."""
        upgrade = int(self.acc_upgrade_day[account])
        if upgrade >= 0 and day_index >= upgrade:
            return PLANS[int(self.acc_final_plan[account])]
        return PLANS[int(self.acc_plan[account])]

    def weekday_factor(self) -> np.ndarray:
        """Activity multiplier per day index: weekends are ~30% of a weekday."""
        weekdays = np.array([self.day(d).weekday() for d in range(self.days)])
        return np.where(weekdays >= 5, 0.3, 1.0)

    def decline_factor(self) -> np.ndarray:
        """(accounts, days) usage multiplier: declining accounts fade over the last 6 weeks."""
        ramp = np.clip((np.arange(self.days) - (self.days - 42)) / 42.0, 0.0, 1.0)
        factor = np.ones((len(self.acc_ids), self.days))
        factor[self.acc_declining] = 1.0 - 0.8 * ramp
        return factor

    def account_alive(self) -> np.ndarray:
        """(accounts, days) bool: the account exists and has not churned."""
        d = np.arange(self.days)[None, :]
        return (d >= self.acc_start_day[:, None]) & (d < self.acc_end_day[:, None])


def _account_names(rng: np.random.Generator, n: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        a, b, c = rng.integers(0, len(_ADJ)), rng.integers(0, len(_NOUN)), rng.integers(0, 8)
        name = f"{_ADJ[a]} {_NOUN[b]} {_SUFFIX[c]}"
        if name in seen:
            name = f"{_ADJ[a]} {_NOUN[b]} {len(names) + 1} {_SUFFIX[c]}"
        seen.add(name)
        names.append(name)
    return names


def _slug(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def build_model(rng: np.random.Generator, scale: float, end: date, days: int) -> Model:
    """Decide every account's and user's story for a world of the given scale."""
    start = end - timedelta(days=days - 1)
    n_acc = max(12, round(150 * scale))
    n_users = max(60, round(1500 * scale))
    width = max(4, len(str(n_acc + 2)))

    # --- accounts -----------------------------------------------------------------------
    plan = rng.choice(len(PLANS), size=n_acc, p=PLAN_SHARE)
    plan[:4] = [0, 1, 2, 3]  # every plan exists even in a tiny world
    lo = np.array([PLAN_EMPLOYEES[p][0] for p in plan])
    hi = np.array([PLAN_EMPLOYEES[p][1] for p in plan])
    employees = np.round(np.exp(rng.uniform(np.log(lo), np.log(hi)))).astype(int)
    tz = np.array(TZ_OFFSETS)[rng.choice(len(TZ_OFFSETS), size=n_acc, p=TZ_SHARE)]
    new_account = rng.random(n_acc) < 0.12
    new_account[:4] = False
    start_day = np.where(
        new_account, rng.integers(3, max(4, days - 20), n_acc), -rng.integers(30, 900, n_acc)
    )
    paying = plan > 0
    # Churn (subscription ended inside the window) and starter->growth upgrades.
    end_day = np.full(n_acc, days)
    churn = paying & ~new_account & (rng.random(n_acc) < 0.06)
    end_day[churn] = rng.integers(days // 4, days - 5, churn.sum())
    upgrade_day = np.full(n_acc, -1)
    upgrade = (plan == 1) & ~churn & ~new_account & (rng.random(n_acc) < 0.12)
    if not upgrade.any():
        upgrade[np.flatnonzero((plan == 1) & ~churn & ~new_account)[:1]] = True
    upgrade_day[upgrade] = rng.integers(10, days - 10, upgrade.sum())
    final_plan = np.where(upgrade, 2, plan)
    # Declining accounts: 3-5% of the paying accounts that stay customers.
    candidates = np.flatnonzero(paying & ~churn & ~new_account & ~upgrade)
    n_declining = max(1, round(0.04 * n_acc))
    declining = np.zeros(n_acc, dtype=bool)
    declining[rng.choice(candidates, size=min(n_declining, len(candidates)), replace=False)] = True
    has_org = paying | (rng.random(n_acc) < 0.5)
    has_org[:4] = True

    names = _account_names(rng, n_acc)
    industries = [INDUSTRIES[i] for i in rng.integers(0, len(INDUSTRIES), n_acc)]

    # --- users --------------------------------------------------------------------------
    weight = np.array([PLAN_USERS[p] for p in plan]) * rng.lognormal(0.0, 0.45, n_acc)
    # At least one user per account, the rest spread by weight.
    per_acc = 1 + rng.multinomial(n_users - n_acc, weight / weight.sum())
    user_acc = np.repeat(np.arange(n_acc), per_acc)
    user_acc = user_acc[rng.permutation(n_users)]
    first = rng.integers(0, len(FIRST_NAMES), n_users)
    last = rng.integers(0, len(LAST_NAMES), n_users)
    user_names = [f"{FIRST_NAMES[a]} {LAST_NAMES[b]}" for a, b in zip(first, last, strict=True)]
    user_ids = [f"usr_{i + 1:06d}" for i in range(n_users)]
    user_emails = [
        f"{_slug(FIRST_NAMES[a])}.{_slug(LAST_NAMES[b])}.{i + 1}@example.com"
        for i, (a, b) in enumerate(zip(first, last, strict=True))
    ]

    acc_start = start_day[user_acc]
    arrives = rng.random(n_users) < 0.18
    user_start = np.where(arrives, rng.integers(1, days - 3, n_users), 0)
    # Users of accounts that sign up inside the window arrive on or after the sign-up day.
    user_start = np.maximum(user_start, acc_start)
    later = acc_start >= 0
    user_start[later] = acc_start[later] + (
        rng.integers(0, 15, later.sum()) * (rng.random(later.sum()) < 0.7)
    )
    user_start = np.minimum(user_start, days - 1)
    user_end = np.full(n_users, days)
    leaves = rng.random(n_users) < 0.10
    user_end[leaves] = rng.integers(15, days, leaves.sum())
    user_end = np.minimum(user_end, end_day[user_acc] + rng.integers(0, 3, n_users))
    user_end = np.maximum(user_end, user_start + 1)

    # Power users and occasional users: a skewed weekday activity probability.
    user_rate = np.clip(rng.beta(1.1, 1.6, n_users) * 0.95 + 0.03, 0.03, 0.95)
    user_intensity = rng.lognormal(0.0, 0.6, n_users) * (0.5 + user_rate)

    # Consultants: ~1% of users also act in a second, long-standing account.
    stable = np.flatnonzero((start_day < 0) & (end_day >= days))
    user_acc2 = np.full(n_users, -1)
    consultants = rng.choice(n_users, size=max(2, round(0.01 * n_users)), replace=False)
    for u in consultants:
        options = stable[stable != user_acc[u]]
        user_acc2[u] = int(rng.choice(options))
        user_end[u] = days
        user_start[u] = 0
        user_rate[u] = max(user_rate[u], 0.6)

    launch_day = days // 2
    adopters = rng.random(n_users) < 0.65
    delay = np.abs(rng.logistic(14.0, 4.0, n_users))
    user_adopt = np.where(adopters, launch_day + np.floor(delay).astype(int), 10 * days)

    width_ids = [f"acc_{i + 1:0{width}d}" for i in range(n_acc)]
    return Model(
        start=start,
        end=end,
        days=days,
        launch_day=launch_day,
        acc_ids=width_ids,
        acc_names=names,
        acc_slugs=[_slug(n) for n in names],
        acc_plan=plan,
        acc_final_plan=final_plan,
        acc_industry=industries,
        acc_employees=employees,
        acc_tz=tz,
        acc_start_day=start_day,
        acc_end_day=end_day,
        acc_upgrade_day=upgrade_day,
        acc_declining=declining,
        acc_has_org=has_org,
        user_ids=user_ids,
        user_names=user_names,
        user_emails=user_emails,
        user_acc=user_acc,
        user_acc2=user_acc2,
        user_start=user_start,
        user_end=user_end,
        user_rate=user_rate,
        user_intensity=user_intensity,
        user_adopt=user_adopt,
        scale=scale,
    )


def orphan_account_ids(model: Model, n: int) -> list[str]:
    """Account ids no event, ticket or survey names: for license-only records."""
    width = len(model.acc_ids[0]) - 4
    first = len(model.acc_ids) + 1
    return [f"acc_{first + i:0{width}d}" for i in range(n)]
