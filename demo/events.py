"""Segment Spec messages of the sample world, written per receivedAt day as gzip JSON Lines.

All messages are first drawn as numpy columns (who, when, what), then serialised in one pass
per day folder. Compression runs in a worker thread (zlib releases the GIL) while the next
day is being serialised, which is what keeps scale 10 well under a minute.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from demo.common import DAY, dumps, uuid_strings, write_gzip
from demo.model import PLANS, Model

TRACK, PAGE, IDENTIFY, GROUP = 0, 1, 2, 3
TYPE_NAMES = ("track", "page", "identify", "group")

TRACK_EVENTS = (
    "Signed In",
    "Report Created",
    "Report Shared",
    "Dashboard Created",
    "Dashboard Viewed",
    "Alert Configured",
    "Export Downloaded",
    "Search Performed",
    "Settings Updated",
    "Invite Sent",
    "AI Insight Generated",
    "AI Insight Saved",
)
TRACK_WEIGHTS = (0.0, 0.14, 0.05, 0.05, 0.30, 0.04, 0.08, 0.22, 0.05, 0.02, 0.0, 0.0)
SIGNED_IN, AI_GENERATED, AI_SAVED = 0, 10, 11
PAGES = ("Home", "Reports", "Dashboards", "Settings", "Billing")
PAGE_WEIGHTS = (0.40, 0.25, 0.25, 0.07, 0.03)
PAGE_PATHS = ("/", "/reports", "/dashboards", "/settings", "/settings/billing")
APP_URL = "https://app.productops.example.com"

USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Safari/537.36",
)
LIBRARY = {"name": "analytics.js", "version": "2.11.1"}
SERVER_LIBRARY = {"name": "analytics-python", "version": "2.3.1"}

_TEMPLATES = ("blank", "funnel", "cohort", "kpi", "revenue")
_SHARE = ("link", "email", "slack")
_ALERTS = ("threshold", "anomaly", "schedule")
_CHANNELS = ("email", "slack", "webhook")
_FORMATS = ("csv", "xlsx", "pdf")
_SETTINGS = ("timezone", "notifications", "theme", "language", "two_factor")
_ROLES = ("member", "admin", "viewer")
_SIGNIN = ("password", "sso", "google")

PropsFn = Callable[[int], dict[str, Any]]
PROPERTIES: tuple[PropsFn, ...] = (
    lambda r: {"method": _SIGNIN[r % 3]},
    lambda r: {"report_id": f"rpt_{r % 99991:05d}", "template": _TEMPLATES[r % 5]},
    lambda r: {"report_id": f"rpt_{r % 99991:05d}", "share_method": _SHARE[r % 3]},
    lambda r: {"dashboard_id": f"dsh_{r % 99991:05d}", "widgets": 1 + r % 12},
    lambda r: {"dashboard_id": f"dsh_{r % 99991:05d}"},
    lambda r: {"alert_type": _ALERTS[r % 3], "channel": _CHANNELS[(r >> 3) % 3]},
    lambda r: {"format": _FORMATS[r % 3], "rows": r % 50_000},
    lambda r: {"query_length": 1 + r % 40, "results": (r >> 5) % 200},
    lambda r: {"setting": _SETTINGS[r % 5]},
    lambda r: {"invitee_role": _ROLES[r % 3]},
    lambda r: {"insight_id": f"ins_{r % 999983:06d}", "model": "insight-v2",
               "latency_ms": 300 + r % 4000},
    lambda r: {"insight_id": f"ins_{r % 999983:06d}"},
)  # fmt: skip
PAGE_PROPERTIES = tuple(
    {"path": path, "referrer": "", "title": f"{name} | ProductOps", "url": APP_URL + path}
    for name, path in zip(PAGES, PAGE_PATHS, strict=True)
)
OFFSETS = {-480: "-08:00", -300: "-05:00", 0: "+00:00", 60: "+01:00", 120: "+02:00"}
OFFSETS |= {330: "+05:30", 480: "+08:00", 600: "+10:00"}


class Messages:
    """Column store of drawn messages (one row per message, before faults and duplicates)."""

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {}

    def add(self, **columns: np.ndarray) -> None:
        """Append a block of rows; every block has the same column names."""
        n = len(next(iter(columns.values())))
        for key, values in columns.items():
            assert len(values) == n, key
            self.parts.setdefault(key, []).append(np.asarray(values))

    def frame(self) -> dict[str, np.ndarray]:
        """All blocks concatenated."""
        return {key: np.concatenate(values) for key, values in self.parts.items()}


def _segment_ids(start: np.ndarray) -> np.ndarray:
    """For rows grouped in runs, the index of each row's run start (run starts flagged)."""
    return np.maximum.accumulate(np.where(start, np.arange(len(start)), 0))


def draw_messages(model: Model, rng: np.random.Generator, target: int) -> dict[str, np.ndarray]:
    """Draw every valid message as columns; `target` is the total message count wanted."""
    days, n_users = model.days, len(model.user_ids)
    d = np.arange(days)
    alive = (d[None, :] >= model.user_start[:, None]) & (d[None, :] < model.user_end[:, None])
    prob = (
        model.user_rate[:, None]
        * model.weekday_factor()[None, :]
        * model.decline_factor()[model.user_acc]
        * alive
    )
    arrivals = np.flatnonzero(model.user_start > 0)
    prob[arrivals, model.user_start[arrivals]] = 1.0  # a new user shows up on their first day
    # Usage-depth stories draw from their own stream, so the draws above and below stay put.
    story_rng = rng.spawn(1)[0]
    _resurrection_wave(model, story_rng, prob)
    active = rng.random((n_users, days), dtype=np.float32) < prob
    pu, pd = np.nonzero(active)  # user-days, sorted by user then day
    n_pairs = len(pu)

    # The account of each user-day: consultants spend ~40% of their days at the other client.
    acc = model.user_acc[pu].copy()
    second = model.user_acc2[pu]
    at_client = (second >= 0) & (rng.random(n_pairs) < 0.4)
    acc[at_client] = second[at_client]

    tz = model.acc_tz[acc]
    local = np.clip(rng.normal(10.5 * 3600, 2.3 * 3600, n_pairs), 7 * 3600, 19.5 * 3600)
    base_ms = (model.t0 + pd.astype(np.int64) * DAY + local.astype(np.int64) - tz * 60) * 1000

    n_calls = n_users * 2.3
    n_anon = round(0.02 * target)
    activity = max(target - n_calls - n_anon, n_pairs)
    k = (activity - n_pairs) / model.user_intensity[pu].sum()
    per_pair = 1 + rng.poisson(k * model.user_intensity[pu])
    n_events = int(per_pair.sum())

    pair = np.repeat(np.arange(n_pairs), per_pair)
    first_in_pair = np.ones(n_events, dtype=bool)
    first_in_pair[1:] = pair[1:] != pair[:-1]
    gaps = rng.exponential(70_000.0, n_events) + rng.integers(300, 4000, n_events)
    gaps[first_in_pair] = 0.0
    cum = np.cumsum(gaps)
    offset = cum - cum[_segment_ids(first_in_pair)]
    ts = base_ms[pair] + offset.astype(np.int64)

    user = pu[pair]
    day = pd[pair]
    is_page = rng.random(n_events) < 0.28
    name = np.where(
        is_page,
        rng.choice(len(PAGES), n_events, p=PAGE_WEIGHTS),
        rng.choice(len(TRACK_EVENTS), n_events, p=np.divide(TRACK_WEIGHTS, sum(TRACK_WEIGHTS))),
    )
    signin = first_in_pair & (rng.random(n_events) < 0.85)
    is_page[signin] = False
    name[signin] = SIGNED_IN
    adopted = (~is_page) & ~signin & (day >= model.user_adopt[user])
    ai = adopted & (rng.random(n_events) < 0.16)
    name[ai] = np.where(rng.random(ai.sum()) < 0.7, AI_GENERATED, AI_SAVED)
    e_acc = acc[pair]
    # ~10% of a user's events lack context.groupId; consultants always send it.
    has_ctx = (rng.random(n_events) >= 0.10) | (model.user_acc2[user] >= 0)

    msgs = Messages()
    msgs.add(
        kind=np.where(is_page, PAGE, TRACK),
        ts=ts,
        user=user,
        anon=np.full(n_events, -1),
        acc=np.where(has_ctx, e_acc, -1),
        name=name,
        day=day,
    )

    # identify + group at each user's first active day, just before the first event.
    first_pair = np.ones(n_pairs, dtype=bool)
    first_pair[1:] = pu[1:] != pu[:-1]
    starts = np.flatnonzero(first_pair)
    first_user = pu[starts]
    # A user whose first day was spent at the client still joins their own account first.
    for kind, lead, accounts in (
        (IDENTIFY, 6_000, np.full(len(starts), -1)),
        (GROUP, 4_000, model.user_acc[first_user]),
    ):
        msgs.add(
            kind=np.full(len(starts), kind),
            ts=base_ms[starts] - lead,
            user=first_user,
            anon=np.full(len(starts), -1),
            acc=accounts,
            name=np.zeros(len(starts), dtype=int),
            day=pd[starts],
        )
    # Consultants' group call for their client, on their first day there.
    client_pairs = np.flatnonzero(at_client)
    seen: set[int] = set()
    first_client = []
    for i in client_pairs:
        if int(pu[i]) not in seen:
            seen.add(int(pu[i]))
            first_client.append(i)
    fc = np.array(first_client, dtype=int)
    # Refresh calls (the app calls group/identify on some logins), and a group call on the
    # first active day after an upgrade so the new plan shows in the traits.
    refresh_group = np.flatnonzero((rng.random(n_pairs) < 0.05) & ~first_pair)
    refresh_identify = np.flatnonzero((rng.random(n_pairs) < 0.02) & ~first_pair)
    upgrade_calls = []
    for a in np.flatnonzero(model.acc_upgrade_day >= 0):
        after = np.flatnonzero((acc == a) & (pd >= model.acc_upgrade_day[a]))
        if len(after):
            upgrade_calls.append(after[0])
    group_pairs = np.concatenate([fc, refresh_group, np.array(upgrade_calls, dtype=int)])
    msgs.add(
        kind=np.full(len(group_pairs), GROUP),
        ts=base_ms[group_pairs] - 2_000,
        user=pu[group_pairs],
        anon=np.full(len(group_pairs), -1),
        acc=acc[group_pairs],
        name=np.zeros(len(group_pairs), dtype=int),
        day=pd[group_pairs],
    )
    msgs.add(
        kind=np.full(len(refresh_identify), IDENTIFY),
        ts=base_ms[refresh_identify] - 3_000,
        user=pu[refresh_identify],
        anon=np.full(len(refresh_identify), -1),
        acc=np.full(len(refresh_identify), -1),
        name=np.zeros(len(refresh_identify), dtype=int),
        day=pd[refresh_identify],
    )

    # Anonymous visitors: pages (mostly Home), some while an account is known (context.groupId).
    wk = model.weekday_factor()
    a_day = rng.choice(days, n_anon, p=wk / wk.sum())
    a_ts = (
        model.t0 + a_day.astype(np.int64) * DAY + rng.integers(6 * 3600, 21 * 3600, n_anon)
    ) * 1000
    n_visitors = max(1, n_anon // 3)
    n_acc = len(model.acc_ids)
    a_acc = np.where(rng.random(n_anon) < 0.10, rng.integers(0, n_acc, n_anon), -1)
    msgs.add(
        kind=np.full(n_anon, PAGE),
        ts=a_ts + rng.integers(0, 1000, n_anon),
        user=np.full(n_anon, -1),
        anon=rng.integers(0, n_visitors, n_anon),
        acc=a_acc,
        name=rng.choice(len(PAGES), n_anon, p=(0.7, 0.1, 0.1, 0.05, 0.05)),
        day=a_day,
    )
    # A few group calls that carry only an anonymousId (they attribute nobody).
    n_ag = max(1, n_anon // 150)
    ag_day = rng.integers(0, days, n_ag)
    msgs.add(
        kind=np.full(n_ag, GROUP),
        ts=(model.t0 + ag_day.astype(np.int64) * DAY + rng.integers(8 * 3600, 18 * 3600, n_ag))
        * 1000,
        user=np.full(n_ag, -1),
        anon=rng.integers(0, n_visitors, n_ag),
        acc=rng.integers(0, n_acc, n_ag),
        name=np.zeros(n_ag, dtype=int),
        day=ag_day,
    )

    story_props, story_dup = _experiment_messages(model, story_rng, msgs, pu, pd, base_ms, acc)
    frame = msgs.frame()
    n_plain = len(frame["ts"]) - len(story_props)
    frame["story"] = np.concatenate([np.full(n_plain, None, dtype=object), story_props])
    frame["story_dup"] = np.concatenate([np.zeros(n_plain, dtype=bool), story_dup])
    # Keep what happened inside the window (time-zone shifts can push a session out of it).
    end_ms = (model.t0 + model.days * DAY) * 1000
    keep = (frame["ts"] >= model.t0 * 1000) & (frame["ts"] < end_ms - 10_000)
    frame = {k: v[keep] for k, v in frame.items()}
    order = np.argsort(frame["ts"], kind="stable")
    frame = {k: v[order] for k, v in frame.items()}
    n = len(frame["ts"])
    frame["rand"] = rng.integers(0, 2**31 - 1, n)
    frame["sent"] = frame["ts"] + rng.integers(5, 900, n)
    frame["received"] = frame["sent"] + rng.integers(20, 2500, n)
    frame["server"] = (frame["kind"] == TRACK) & (rng.random(n) < 0.15)
    # Most libraries send UTC ("Z"); some send the office's local offset for the same instant.
    acc_for_tz = np.where(frame["acc"] >= 0, frame["acc"], 0)
    frame["tz"] = np.where(rng.random(n) < 0.12, model.acc_tz[acc_for_tz], -1)
    return frame


def _iso_ms(ms: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms", timezone="UTC")


def _timestamps(ts: np.ndarray, tz: np.ndarray) -> list[str]:
    out = _iso_ms(ts).astype(object)
    for minutes, suffix in OFFSETS.items():
        sel = np.flatnonzero(tz == minutes)
        if len(sel):
            local = np.datetime_as_string(
                (ts[sel] + minutes * 60_000).astype("datetime64[ms]"), unit="ms"
            )
            out[sel] = np.char.add(local, suffix).astype(object)
    return list(out)


RUDDER_INTEGRATIONS = {"All": True}


def segment_shape(rng: np.random.Generator) -> dict[str, bool]:
    """Which library variants the events of this world use, chosen by the world's seed.

    Teams send Segment's layout or RudderStack's (extra `channel`, `rudderId`,
    `originalTimestamp`, `integrations`), and some libraries send numeric `messageId`s; the
    loader must take them all (the Segment Spec). The seed is read from the generator's
    seed sequence, so no draw changes; seed 42, the demo's, keeps Segment's plain shape.
    """
    seed = rng.bit_generator.seed_seq.entropy  # type: ignore[attr-defined]
    bits = 0 if seed == 42 or not isinstance(seed, int) else seed % 4
    return {"rudderstack": bool(bits & 1), "numeric_message_ids": bool(bits & 2)}


def write_events(
    model: Model, rng: np.random.Generator, out: Path, target: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Draw, fault and write all events; returns (counts, planted) for world.json."""
    frame = draw_messages(model, rng, target)
    n = len(frame["ts"])
    kind = frame["kind"]
    day_ms = DAY * 1000
    end_ms = (model.t0 + model.days * DAY) * 1000

    # Planted faults: late arrivals (received 1-5 days later, so in a later day folder) and
    # re-deliveries (the identical line again, in a later file of the same folder).
    behavioural = np.flatnonzero((kind <= PAGE) & (frame["user"] >= 0))
    delay = rng.integers(1, 6, n) * day_ms + rng.integers(0, 6 * 3600_000, n)
    can_be_late = behavioural[frame["received"][behavioural] + delay[behavioural] < end_ms]
    n_late = max(1, round(0.005 * n))
    late = rng.choice(can_be_late, size=min(n_late, len(can_be_late)), replace=False)
    frame["received"][late] += delay[late]
    mid = model.days // 2
    singles_pool = behavioural[(frame["day"][behavioural] == mid) & ~np.isin(behavioural, late)]
    no_id, bad_ts = (int(i) for i in rng.choice(singles_pool, 2, replace=False))
    eligible = np.setdiff1d(behavioural, np.concatenate([late, [no_id, bad_ts]]))
    redelivered = rng.choice(
        eligible, size=min(max(1, round(0.003 * n)), len(eligible)), replace=False
    )
    # Some experiment exposures are re-delivered too (the read-out must count each once).
    story_dups = np.setdiff1d(np.flatnonzero(frame["story_dup"]), [*late, no_id, bad_ts])
    redelivered = np.union1d(redelivered, story_dups)
    is_dup = np.zeros(n, dtype=bool)
    is_dup[redelivered] = True

    message_ids: list[Any] = uuid_strings(rng, n)
    visitor_ids = uuid_strings(rng, int(frame["anon"].max()) + 1)
    user_anon_ids = uuid_strings(rng, len(model.user_ids))
    shape = segment_shape(rng)
    if shape["numeric_message_ids"]:  # every third message, 52 random bits as a number
        message_ids = [
            int(m[:8] + m[9:13] + m[15], 16) if x % 3 == 0 else m for x, m in enumerate(message_ids)
        ]
    ts_str = _timestamps(frame["ts"], frame["tz"])
    sent_str = list(_iso_ms(frame["sent"]))
    recv_str = list(_iso_ms(frame["received"]))

    # Shared, immutable context objects: one per (user agent, account or none, library).
    contexts: dict[tuple[int, int, bool, int], dict[str, Any]] = {}

    def context(agent: int, account: int, server: bool, ip: int) -> dict[str, Any]:
        key = (agent, account, server, ip)
        ctx = contexts.get(key)
        if ctx is None:
            ctx = {"library": SERVER_LIBRARY if server else LIBRARY}
            if not server:
                ctx["ip"] = f"203.0.{ip // 250}.{ip % 250 + 1}"
                ctx["userAgent"] = USER_AGENTS[agent]
            if account >= 0:
                ctx["groupId"] = model.acc_ids[account]
            contexts[key] = ctx
        return ctx

    traits_cache: dict[tuple[int, str], dict[str, Any]] = {}

    def group_traits(account: int, day: int) -> dict[str, Any]:
        plan = model.plan_on(account, day)
        key = (account, plan)
        if key not in traits_cache:
            traits_cache[key] = {
                "name": model.acc_names[account],
                "plan": plan,
                "industry": model.acc_industry[account],
                "employees": int(model.acc_employees[account]),
            }
        return traits_cache[key]

    order = np.argsort(frame["received"], kind="stable")
    recv_day = (frame["received"][order] - model.t0 * 1000) // day_ms
    cols = {k: frame[k][order].tolist() for k in ("kind", "user", "anon", "acc", "name", "rand")}
    cols |= {k: frame[k][order].tolist() for k in ("server", "day", "story")}
    dup_sorted = is_dup[order].tolist()
    idx_sorted = order.tolist()
    bounds = np.searchsorted(recv_day, np.arange(recv_day.min(), recv_day.max() + 2))

    shutil.rmtree(out / "events", ignore_errors=True)
    planted_at: dict[str, Any] = {}
    files = 0
    lines_total = 0
    by_type = [0, 0, 0, 0]
    anonymous = 0
    pool = ThreadPoolExecutor(max_workers=1)
    pending = []
    for b in range(len(bounds) - 1):
        lo, hi = int(bounds[b]), int(bounds[b + 1])
        if lo == hi:
            continue
        folder_day = model.day(int(recv_day[lo]))
        folder = out / "events" / f"{folder_day:%Y/%m/%d}"
        lines: list[bytes] = []
        dups: list[bytes] = []
        for j in range(lo, hi):
            i = idx_sorted[j]
            k = cols["kind"][j]
            u = cols["user"][j]
            msg: dict[str, Any] = {"type": TYPE_NAMES[k], "messageId": message_ids[i]}
            if u >= 0:
                msg["userId"] = model.user_ids[u]
            if u < 0 or k == IDENTIFY:
                a = cols["anon"][j]
                msg["anonymousId"] = visitor_ids[a] if a >= 0 else user_anon_ids[u]
            acc = cols["acc"][j]
            if k == TRACK and cols["story"][j] is not None:
                msg["event"], msg["properties"] = cols["story"][j]
            elif k == TRACK:
                msg["event"] = TRACK_EVENTS[cols["name"][j]]
                msg["properties"] = PROPERTIES[cols["name"][j]](cols["rand"][j])
            elif k == PAGE:
                msg["name"] = PAGES[cols["name"][j]]
                msg["properties"] = PAGE_PROPERTIES[cols["name"][j]]
            elif k == IDENTIFY:
                msg["traits"] = {"email": model.user_emails[u], "name": model.user_names[u]}
            else:
                msg["groupId"] = model.acc_ids[acc]
                msg["traits"] = group_traits(acc, cols["day"][j])
            ctx_acc = acc if k <= PAGE else -1
            user_key = u if u >= 0 else cols["anon"][j]
            msg["context"] = context(
                user_key % len(USER_AGENTS), ctx_acc, cols["server"][j], user_key % 60_000
            )
            msg["timestamp"] = ts_str[i]
            msg["sentAt"] = sent_str[i]
            msg["receivedAt"] = recv_str[i]
            if shape["rudderstack"]:  # RudderStack's storage layout: extra top-level fields
                msg["channel"] = "server" if cols["server"][j] else "web"
                msg["rudderId"] = msg.get("anonymousId") or user_anon_ids[u]
                msg["originalTimestamp"] = ts_str[i]
                msg["integrations"] = RUDDER_INTEGRATIONS
            if i == no_id:
                del msg["messageId"]
                planted_at["event_without_message_id"] = _where(out, folder, lines)
            elif i == bad_ts:
                stamp = ts_str[i]
                msg["timestamp"] = f"{stamp[8:10]}/{stamp[5:7]}/{stamp[:4]} {stamp[11:19]}"
                planted_at["event_with_bad_timestamp"] = _where(out, folder, lines)
            else:
                by_type[k] += 1
                anonymous += u < 0
            line = dumps(msg)
            lines.append(line)
            if dup_sorted[j]:
                dups.append(line)
            if i == no_id:
                # The malformed line sits right after it: a message cut off mid-write.
                planted_at["malformed_json_line"] = _where(out, folder, lines)
                lines.append(line[: len(line) // 2] + b"\n")
        pending.append(pool.submit(write_gzip, folder / "part-0000.jsonl.gz", lines))
        files += 1
        lines_total += len(lines)
        if dups:
            pending.append(pool.submit(write_gzip, folder / "part-0001.jsonl.gz", dups))
            files += 1
            lines_total += len(dups)
        if len(pending) > 4:
            pending.pop(0).result()
    for job in pending:
        job.result()
    pool.shutdown()

    counts = {
        "events": sum(by_type),
        "events_by_type": dict(zip(TYPE_NAMES, by_type, strict=True)),
        "anonymous_events": anonymous,
        "event_lines": lines_total,
        "event_files": files,
        "users_with_events": int(len(np.unique(frame["user"][frame["user"] >= 0]))),
    }
    planted = {
        "late_events": len(late),
        "redelivered_events": len(redelivered),
        "malformed_json_lines": 1,
        "events_without_message_id": 1,
        "events_with_bad_timestamp": 1,
    }
    return counts, {"counts": planted, "where": planted_at}


# Usage-depth stories (docs/metrics.md): experiments read out in fct_experiment_results, as
# seeded in dbt_project/seeds/experiments.csv and experiment_variations.csv. Each: exposure
# days (from, to) as fractions of the world, the variations with the share of traffic they
# actually get and their conversion rate on the goal event, the goal, the window in days.
EXPERIMENT_VIEWED = "Experiment Viewed"
EXPERIMENT_STORIES: tuple[dict[str, Any], ...] = (
    # A real lift on the goal event: 25% -> 38%.
    {"id": "onboarding_checklist", "days": (0.08, 0.45), "goal": "Onboarding Completed",
     "window": 7, "arms": (("control", 0.5, 0.25), ("checklist", 0.5, 0.38))},
    # Configured 1:1, but 57% of the traffic lands in control: a sample ratio mismatch.
    {"id": "share_dialog_redesign", "days": (0.33, 0.78), "goal": "Share Link Copied",
     "window": 14, "arms": (("control", 0.57, 0.30), ("redesign", 0.43, 0.31))},
    # Three arms weighted 2:1:1, after the AI insights launch.
    {"id": "insight_prompt_style", "days": (0.5, 0.85), "goal": "Insight Rated",
     "window": 7, "arms": (("control", 0.5, 0.20), ("concise", 0.25, 0.24),
                           ("detailed", 0.25, 0.30))},
)  # fmt: skip


def _resurrection_wave(model: Model, rng: np.random.Generator, prob: np.ndarray) -> None:
    """Lapsed users come back in the AI launch week: a resurrection wave in the lifecycle.

    One in ten long-standing users goes quiet for the three weeks before the launch and is
    active on most days of the launch week (prob is edited in place).
    """
    launch = model.launch_day
    if launch < 28:
        return
    steady = np.flatnonzero((model.user_start == 0) & (model.user_end >= model.days))
    lapsed = steady[rng.random(len(steady)) < 0.10]
    week = slice(launch, min(launch + 7, model.days))
    prob[lapsed, launch - 21 : launch] = 0.0
    wk = model.weekday_factor()[week]
    prob[lapsed, week] = np.maximum(prob[lapsed, week], 0.9 * wk / wk.max())


def _experiment_messages(
    model: Model,
    rng: np.random.Generator,
    msgs: Messages,
    pu: np.ndarray,
    pd: np.ndarray,
    base_ms: np.ndarray,
    acc: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Add the experiments' `Experiment Viewed` and goal events to `msgs` (one block, last).

    Returns, for that block's rows, the (event, properties) of each message and whether it is
    re-delivered. Every exposed user is exposed on their first active day in the
    experiment's span, some again later (repeat exposures), a few to a second variation
    (crossovers); a few exposures name an unseeded variation or experiment; some goal events
    fall after the window.
    """
    day_ms = DAY * 1000
    ts: list[int] = []
    users: list[int] = []
    accounts: list[int] = []
    props: list[tuple[str, dict[str, Any]]] = []
    dup: list[bool] = []

    def add(at: int, user: int, account: int, event: str, properties: dict[str, Any]) -> None:
        ts.append(at)
        users.append(user)
        accounts.append(account)
        props.append((event, properties))
        dup.append(event == EXPERIMENT_VIEWED and rng.random() < 0.02)

    for story in EXPERIMENT_STORIES:
        lo, hi = (round(f * model.days) for f in story["days"])
        in_span = np.flatnonzero((pd >= lo) & (pd < hi))
        _, first = np.unique(pu[in_span], return_index=True)
        pairs = in_span[first]
        names = [arm[0] for arm in story["arms"]]
        shares = np.array([arm[1] for arm in story["arms"]])
        arm_of = rng.choice(len(names), len(pairs), p=shares / shares.sum())
        window_ms = story["window"] * day_ms
        first_exposure = len(ts)
        for i, (pair, arm) in enumerate(zip(pairs.tolist(), arm_of.tolist(), strict=True)):
            who = (int(pu[pair]), int(acc[pair]))
            seen = int(base_ms[pair]) + int(rng.integers(1_000, 600_000))
            viewed = {"experiment_id": story["id"], "experiment_name": story["id"]}
            add(seen, *who, EXPERIMENT_VIEWED, {**viewed, "variation_id": names[arm]})
            for _ in range(int(rng.integers(0, 3))):  # repeat exposures, same variation
                again = seen + int(rng.integers(1, 10)) * day_ms + int(rng.integers(0, 3600_000))
                add(again, *who, EXPERIMENT_VIEWED, {**viewed, "variation_id": names[arm]})
            # The first three users of each experiment tell the rare stories even in a tiny world.
            draw = (0.0, 0.015, 0.021)[i] if i < 3 else rng.random()
            if draw < 0.012:  # a crossover: later shown another variation
                other = {**viewed, "variation_id": names[(arm + 1) % len(names)]}
                add(seen + day_ms, *who, EXPERIMENT_VIEWED, other)
            elif draw < 0.02:  # a variation the seeds do not know (left out)
                add(seen + day_ms, *who, EXPERIMENT_VIEWED, {**viewed, "variation_id": "holdout"})
            elif draw < 0.025:  # an experiment the seeds do not know, with numeric ids
                add(seen, *who, EXPERIMENT_VIEWED, {"experiment_id": 1042, "variation_id": 1})
            if rng.random() < story["arms"][arm][2]:
                add(seen + int(rng.integers(0, window_ms)), *who, story["goal"], {})
            elif rng.random() < 0.1:  # converted too late to count
                late = seen + window_ms + int(rng.integers(0, 3 * day_ms))
                add(late, *who, story["goal"], {})
        if len(ts) > first_exposure:  # at least one re-delivered exposure per experiment
            dup[first_exposure] = True
    n = len(ts)
    at = np.array(ts, dtype=np.int64)
    msgs.add(
        kind=np.full(n, TRACK),
        ts=at,
        user=np.array(users, dtype=int),
        anon=np.full(n, -1),
        acc=np.array(accounts, dtype=int),
        name=np.zeros(n, dtype=int),
        day=(at // 1000 - model.t0) // DAY,
    )
    story = np.empty(n, dtype=object)
    story[:] = props
    return story, np.array(dup, dtype=bool)


def _where(out: Path, folder: Path, lines: list[bytes]) -> dict[str, Any]:
    """Location of the line about to be appended (1-based line number)."""
    path = (folder / "part-0000.jsonl.gz").relative_to(out).as_posix()
    return {"file": path, "line": len(lines) + 1}


__all__ = ["PLANS", "TRACK_EVENTS", "PAGES", "write_events"]
