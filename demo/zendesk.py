"""Zendesk Support objects of the sample world: organizations, tickets, metrics, CSAT ratings.

Shapes follow real Zendesk API records. Each ticket's lifecycle is
drawn first (created -> first reply -> solved -> closed), and the ticket's status, its
metric record and its rating are all read from that one timeline, so nothing is solved
before it was created and `solved_at` agrees with the status.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from demo.common import DAY, iso_z, write_jsonl
from demo.model import Model

BASE = "https://productops-sample.zendesk.com/api/v2"
PRIORITIES = ("urgent", "high", "normal", "low", None)
PRIORITY_P = (0.05, 0.15, 0.45, 0.15, 0.20)
DECLINING_PRIORITY_P = (0.22, 0.36, 0.28, 0.06, 0.08)
REPLY_MEDIAN_BUSINESS = (35.0, 150.0, 330.0, 800.0, 330.0)
CHANNELS = ("email", "web", "chat", "api", "voice")
CHANNEL_P = (0.45, 0.25, 0.15, 0.05, 0.10)
TYPES = ("question", "incident", "problem", "task", None)
TYPE_P = (0.45, 0.30, 0.08, 0.07, 0.10)
TOPICS = (
    ("dashboards", "Dashboard does not load for some widgets"),
    ("reports", "Scheduled report was not delivered"),
    ("billing", "Question about our last invoice"),
    ("sso", "SSO login fails for new team members"),
    ("exports", "CSV export times out on large reports"),
    ("alerts", "Alert fired twice for the same threshold"),
    ("api", "API returns 429 more often than expected"),
    ("seats", "How do we add more seats?"),
    ("ai_insights", "AI insight summary looks wrong"),
    ("permissions", "Viewer role can see billing page"),
)
AGENTS = tuple(391_000_000_000 + 17 * i for i in range(1, 13))
GROUPS = (360_001_000_001, 360_001_000_002, 360_001_000_003)
ORG_BASE = 360_100_000_000
USER_BASE = 380_000_000_000
GOOD_COMMENTS = ("Quick and helpful, thanks!", "Solved on the first reply.", None, None)
BAD_COMMENTS = ("Took far too long.", "Still not fixed.", "Nobody answered for days.", None)


def shape_rng(rng: np.random.Generator) -> np.random.Generator:
    """A generator for record shapes, spawned from the domain's seed without drawing from it.

    Shapes (versions, id types, optional fields) vary by seed, but the story's own draws, and
    so every number the marts compute, stay those of the seed.
    """
    return np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0])  # type: ignore[attr-defined]


def org_id(account: int) -> int:
    """Zendesk organization id of an account (stable across seeds)."""
    return ORG_BASE + (account + 1) * 37


def write_zendesk(model: Model, rng: np.random.Generator, out: Path) -> tuple[dict, dict]:
    """Write the four Zendesk JSON Lines files; returns (counts, planted)."""
    folder = out / "zendesk"
    shutil.rmtree(folder, ignore_errors=True)
    now = model.now
    n_acc, days = len(model.acc_ids), model.days

    # --- organizations --------------------------------------------------------------------
    orgs = []
    for org_account in np.flatnonzero(model.acc_has_org).tolist():
        created = (
            model.t0
            + int(model.acc_start_day[org_account]) * DAY
            + 9 * 3600
            + int(rng.integers(0, 28_800))
        )
        created = min(created, now - 3600)
        updated = min(created + int(rng.integers(0, 400)) * DAY, now)
        orgs.append(_organization(model, org_account, created, updated))
    # One internal organization without an external id (it has no tickets).
    internal_created = model.t0 - 1000 * DAY + 3600
    orgs.append(
        {
            **_organization(model, -1, internal_created, internal_created),
            "name": "ProductOps Internal",
            "external_id": None,
            "domain_names": ["productops.example.com"],
        }
    )

    # --- tickets: who and when --------------------------------------------------------------
    n_tickets = max(40, round(2000 * model.scale))
    users_per_acc = np.bincount(model.user_acc, minlength=n_acc)
    plan_factor = np.array([0.4, 1.0, 1.2, 1.5])[model.acc_plan]
    ramp = np.clip((np.arange(days) - (days - 42)) / 42.0, 0.0, 1.0)
    weight = (
        model.account_alive()
        * model.acc_has_org[:, None]
        * (users_per_acc**0.8 * plan_factor)[:, None]
        * model.weekday_factor()[None, :]
    )
    weight[model.acc_declining] *= 1.0 + 3.0 * ramp
    flat = rng.choice(weight.size, size=n_tickets, p=(weight / weight.sum()).ravel())
    t_acc, t_day = np.divmod(flat, days)
    local = np.where(
        rng.random(n_tickets) < 0.9,
        rng.uniform(8 * 3600, 18 * 3600, n_tickets),
        rng.uniform(0, DAY, n_tickets),
    )
    created = model.t0 + t_day * DAY + local.astype(np.int64) - model.acc_tz[t_acc] * 60
    created = np.clip(created, model.t0 + 60, now - 1800)
    order = np.argsort(created, kind="stable")
    t_acc, t_day, created = t_acc[order], t_day[order], created[order]
    late_decline = model.acc_declining[t_acc] & (t_day >= days - 42)
    priority = np.where(
        late_decline,
        rng.choice(5, n_tickets, p=DECLINING_PRIORITY_P),
        rng.choice(5, n_tickets, p=PRIORITY_P),
    )
    channel = rng.choice(5, n_tickets, p=CHANNEL_P)
    ttype = rng.choice(5, n_tickets, p=TYPE_P)
    topic = rng.integers(0, len(TOPICS), n_tickets)

    # --- the timeline -------------------------------------------------------------------------
    median = np.array(REPLY_MEDIAN_BUSINESS)[priority] * np.where(channel == 2, 0.2, 1.0)
    reply_bus = np.maximum(1, np.round(median * rng.lognormal(0.0, 1.0, n_tickets)))
    reply_cal = np.round(reply_bus * rng.uniform(1.0, 3.5, n_tickets)).astype(np.int64)
    reply_bus = reply_bus.astype(np.int64)
    full_cal = reply_cal + np.round(
        np.array([0.4, 0.8, 1.6, 3.0, 1.6])[priority] * DAY / 60 * rng.lognormal(0, 0.9, n_tickets)
    ).astype(np.int64)
    full_bus = np.maximum(reply_bus, np.round(full_cal * rng.uniform(0.22, 0.4, n_tickets))).astype(
        np.int64
    )
    reopened = rng.random(n_tickets) < 0.08
    reopens = np.where(reopened, rng.choice([1, 1, 1, 2], n_tickets), 0)
    first_frac = np.where(reopened, rng.uniform(0.3, 0.8, n_tickets), 1.0)
    replied = created + reply_cal * 60 <= now
    solved_at = created + full_cal * 60
    solved = solved_at <= now
    closed = solved & (solved_at + 4 * DAY <= now) & (rng.random(n_tickets) < 0.9)
    deleted = np.zeros(n_tickets, dtype=bool)
    deleted[rng.choice(n_tickets, max(1, round(0.005 * n_tickets)), replace=False)] = True

    requesters = _requesters(model, rng, t_acc)
    float_ids = set(rng.choice(n_tickets, max(1, round(0.005 * n_tickets)), replace=False).tolist())

    tickets, metrics, ratings = [], [], []
    rating_seq = 7_235_633_000_000
    for i in range(n_tickets):
        tid = 1001 + i
        a = int(t_acc[i])
        c = int(created[i])
        status: str
        if deleted[i]:
            status = "deleted"
        elif closed[i]:
            status = "closed"
        elif solved[i]:
            status = "solved"
        elif not replied[i]:
            status = "new"
        else:
            status = str(rng.choice(["open", "pending", "hold"], p=[0.55, 0.35, 0.10]))
        s_at = int(solved_at[i]) if solved[i] else None
        r_at = c + int(reply_cal[i]) * 60 if replied[i] else None
        updated = c
        if r_at is not None:
            updated = r_at
        if s_at is not None:
            updated = s_at
        if status in ("open", "pending", "hold") and r_at is not None:
            updated = min(now, r_at + int(rng.integers(0, 3 * DAY)))
        if status == "closed" and s_at is not None:
            updated = s_at + 4 * DAY + int(rng.integers(0, 3600))
        if status == "deleted":
            updated = min(now, updated + int(rng.integers(60, DAY)))

        # Satisfaction: offered after solving, answered good/bad by about half.
        rating: dict[str, Any] = {"score": "unoffered"}
        if s_at is not None and s_at + 2 * 3600 < now and status != "deleted":
            roll = rng.random()
            offered_at = min(now, s_at + int(rng.integers(3600, 2 * DAY)))
            if roll < 0.55:
                rating_seq += int(rng.integers(1, 5000))
                answered = rng.random() < 0.55
                score = "offered"
                comment = None
                if answered:
                    p_bad = 0.10 + 0.35 * late_decline[i] + 0.15 * (reply_bus[i] > 480)
                    score = "bad" if rng.random() < p_bad else "good"
                    pool = BAD_COMMENTS if score == "bad" else GOOD_COMMENTS
                    comment = pool[int(rng.integers(0, len(pool)))]
                ratings.append(
                    _rating(rating_seq, tid, a, requesters[i], score, offered_at, comment)
                )
                rating = {"id": rating_seq, "score": score, "comment": comment}
                updated = max(updated, offered_at)
                if answered and rng.random() < 0.05:
                    # A second survey, offered after a follow-up, never answered.
                    rating_seq += int(rng.integers(1, 5000))
                    again = min(now, offered_at + int(rng.integers(DAY, 5 * DAY)))
                    ratings.append(
                        _rating(rating_seq, tid, a, requesters[i], "offered", again, None)
                    )
            elif roll < 0.62:
                rating_seq += int(rng.integers(1, 5000))
                ratings.append(
                    _rating(rating_seq, tid, a, requesters[i], "unoffered", offered_at, None)
                )
        updated = min(updated, now)

        assignee = (
            None if status == "new" and rng.random() < 0.6 else AGENTS[int(rng.integers(0, 12))]
        )
        org: int | float | None = org_id(a)
        requester: int | float = requesters[i]
        if i in float_ids and org is not None:
            org, requester = float(org), float(requester)
        if rng.random() < 0.01:
            org = None  # a requester Zendesk could not match to an organization
        tickets.append(
            _ticket(model, tid, a, c, updated, int(priority[i]), status, int(channel[i]),
                    int(ttype[i]), int(topic[i]), requester, assignee, org, rating)
        )  # fmt: skip
        metric_id: int | float = 9_861_847_000_000 + tid * 3
        if i in float_ids:
            metric_id = float(metric_id)
        full = (int(full_cal[i]), int(full_bus[i])) if s_at is not None else (None, None)
        first = (
            (int(full_cal[i] * first_frac[i]), int(full_bus[i] * first_frac[i]))
            if s_at is not None
            else (None, None)
        )
        metrics.append(
            {
                "url": f"{BASE}/ticket_metrics/{int(metric_id)}.json",
                "id": metric_id,
                "ticket_id": tid,
                "created_at": iso_z(c),
                "updated_at": iso_z(updated),
                "group_stations": 1 if assignee else 0,
                "assignee_stations": 1 if assignee else 0,
                "reopens": int(reopens[i]) if s_at is not None else 0,
                "replies": (1 + int(rng.poisson(1.5))) if r_at is not None else 0,
                "assignee_updated_at": iso_z(r_at) if r_at is not None else None,
                "requester_updated_at": iso_z(c),
                "status_updated_at": iso_z(updated),
                "initially_assigned_at": iso_z(c + 60) if assignee else None,
                "assigned_at": iso_z(c + 60) if assignee else None,
                "solved_at": iso_z(s_at) if s_at is not None else None,
                "latest_comment_added_at": iso_z(r_at if s_at is None else s_at)
                if r_at
                else iso_z(c),
                "reply_time_in_minutes": _pair(
                    (int(reply_cal[i]), int(reply_bus[i])) if r_at is not None else (None, None)
                ),
                "first_resolution_time_in_minutes": _pair(first),
                "full_resolution_time_in_minutes": _pair(full),
                "agent_wait_time_in_minutes": _pair(
                    (int(reply_cal[i]), int(reply_bus[i])) if r_at is not None else (None, None)
                ),
                "requester_wait_time_in_minutes": _pair(full),
                "on_hold_time_in_minutes": {"calendar": 0, "business": 0},
                "custom_status_updated_at": iso_z(updated),
            }
        )

    ratings.sort(key=lambda r: (r["created_at"], r["id"]))
    versions, shape_counts = _vary_ticket_shapes(tickets, shape_rng(rng))
    write_jsonl(folder / "tickets.jsonl", versions)
    counts = {
        "zendesk_organizations": write_jsonl(folder / "organizations.jsonl", orgs),
        "zendesk_tickets": len(tickets),
        "zendesk_ticket_versions": len(versions),
        "zendesk_ticket_metrics": write_jsonl(folder / "ticket_metrics.jsonl", metrics),
        "zendesk_satisfaction_ratings": write_jsonl(folder / "satisfaction_ratings.jsonl", ratings),
    }
    planted = {
        "zendesk_deleted_tickets": int(deleted.sum()),
        "zendesk_float_id_tickets": len(float_ids),
        **shape_counts,
    }
    return counts, planted


EARLIER_STATUS = {"open": "new", "pending": "open", "hold": "open", "solved": "open"}


def _vary_ticket_shapes(
    tickets: list[dict[str, Any]], shapes: np.random.Generator
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The export's view of the tickets, in shapes that vary by seed (Zendesk's API reference).

    The incremental export returns a ticket once per change, so some tickets come with
    earlier versions before their final one: one at creation (status `new`), and sometimes
    one sharing the final `updated_at` with an earlier status (later in the stream wins).
    Some seeds send `organization_id`/`requester_id` as numeric text. The final version of
    every ticket is the one the story drew, so the marts do not change.
    """
    p_versions = float(shapes.choice([0.0, 0.05, 0.15, 0.3]))
    p_tie = float(shapes.choice([0.0, 0.5, 1.0]))
    p_text = float(shapes.choice([0.0, 0.05, 0.2]))
    out: list[dict[str, Any]] = []
    extra = ties = texts = 0
    for ticket in tickets:
        if shapes.random() < p_text and all(
            isinstance(ticket[k], int) for k in ("organization_id", "requester_id")
        ):
            ticket["organization_id"] = str(ticket["organization_id"])
            ticket["requester_id"] = str(ticket["requester_id"])
            texts += 1
        if ticket["status"] != "new" and shapes.random() < p_versions:
            first = {**ticket, "status": "new", "updated_at": ticket["created_at"]}
            first["generated_timestamp"] = ticket["generated_timestamp"] - 1
            if first["updated_at"] != ticket["updated_at"]:
                out.append(first)
                extra += 1
            earlier = EARLIER_STATUS.get(ticket["status"])
            if earlier and shapes.random() < p_tie:
                out.append({**ticket, "status": earlier})
                extra += 1
                ties += 1
        out.append(ticket)
    return out, {
        "zendesk_earlier_ticket_versions": extra,
        "zendesk_equal_updated_at_versions": ties,
        "zendesk_text_id_tickets": texts,
    }


def _pair(values: tuple[int | None, int | None]) -> dict[str, int | None]:
    return {"calendar": values[0], "business": values[1]}


def _requesters(model: Model, rng: np.random.Generator, t_acc: np.ndarray) -> list[int]:
    """Pick a Zendesk requester per ticket: an account user, now and then an outsider."""
    members: dict[int, np.ndarray] = {}
    order = np.argsort(model.user_acc, kind="stable")
    bounds = np.searchsorted(model.user_acc[order], np.arange(len(model.acc_ids) + 1))
    for a in range(len(model.acc_ids)):
        members[a] = order[bounds[a] : bounds[a + 1]]
    out = []
    for a in t_acc.tolist():
        if rng.random() < 0.05 or len(members[a]) == 0:
            out.append(USER_BASE + 5_000_000 + int(rng.integers(0, 1_000_000)))
        else:
            out.append(USER_BASE + int(members[a][int(rng.integers(0, len(members[a])))]))
    return out


def _organization(model: Model, a: int, created: int, updated: int) -> dict[str, Any]:
    oid = org_id(a) if a >= 0 else ORG_BASE
    plan = model.plan_on(a, model.days - 1) if a >= 0 else "internal"
    return {
        "url": f"{BASE}/organizations/{oid}.json",
        "id": oid,
        "name": model.acc_names[a] if a >= 0 else "",
        "shared_tickets": False,
        "shared_comments": False,
        "external_id": model.acc_ids[a] if a >= 0 else None,
        "created_at": iso_z(created),
        "updated_at": iso_z(updated),
        "domain_names": [f"{model.acc_slugs[a]}.example.com"] if a >= 0 else [],
        "details": None,
        "notes": None,
        "group_id": None,
        "tags": [plan],
        "organization_fields": {"plan": plan},
        "deleted_at": None,
    }


def _rating(
    rid: int, tid: int, a: int, requester: int, score: str, at: int, comment: str | None
) -> dict[str, Any]:
    return {
        "url": f"{BASE}/satisfaction_ratings/{rid}.json",
        "id": rid,
        "assignee_id": AGENTS[tid % len(AGENTS)],
        "group_id": GROUPS[tid % len(GROUPS)],
        "requester_id": requester,
        "ticket_id": tid,
        "score": score,
        "created_at": iso_z(at),
        "updated_at": iso_z(at),
        "comment": comment,
    }


def _ticket(
    model: Model,
    tid: int,
    a: int,
    created: int,
    updated: int,
    priority: int,
    status: str,
    channel: int,
    ttype: int,
    topic: int,
    requester: int | float,
    assignee: int | None,
    org: int | float | None,
    rating: dict[str, Any],
) -> dict[str, Any]:
    tag, subject = TOPICS[topic]
    via_channel = CHANNELS[channel]
    source: dict[str, Any] = {"from": {}, "to": {}, "rel": None}
    if via_channel == "email":
        source = {
            "from": {"address": f"support-requests@{model.acc_slugs[a]}.example.com", "name": None},
            "to": {"name": "ProductOps Support", "address": "support@productops.example.com"},
            "rel": None,
        }
    elif via_channel == "voice":
        source = {"from": {"phone": "+15550100"}, "to": {"phone": "+15550199"}, "rel": "voicemail"}
    tags = [tag, model.plan_on(a, model.days - 1)]
    if PRIORITIES[priority] == "urgent":
        tags.append("escalated")
    return {
        "url": f"{BASE}/tickets/{tid}.json",
        "id": tid,
        "external_id": None,
        "via": {"channel": via_channel, "source": source},
        "created_at": iso_z(created),
        "updated_at": iso_z(updated),
        "generated_timestamp": int(updated),
        "type": TYPES[ttype],
        "subject": subject,
        "raw_subject": subject,
        "description": f"{subject}.\\nAccount: {model.acc_names[a]}",
        "priority": PRIORITIES[priority],
        "status": status,
        "recipient": "support@productops.example.com" if via_channel == "email" else None,
        "requester_id": requester,
        "submitter_id": requester,
        "assignee_id": assignee,
        "organization_id": org,
        "group_id": GROUPS[tid % len(GROUPS)] if assignee else None,
        "collaborator_ids": [],
        "follower_ids": [],
        "email_cc_ids": [],
        "forum_topic_id": None,
        "problem_id": None,
        "has_incidents": False,
        "is_public": True,
        "due_at": None,
        "tags": sorted(tags),
        "custom_fields": [],
        "satisfaction_rating": rating,
        "sharing_agreement_ids": [],
        "custom_status_id": 4_044_356,
        "fields": [],
        "followup_ids": [],
        "ticket_form_id": 360_000_084_116,
        "brand_id": 360_000_358_316,
        "allow_channelback": False,
        "allow_attachments": True,
        "from_messaging_channel": via_channel == "chat",
    }
