"""A small vendor world for the sandbox (demo/sandbox.py), and the settings that reach it.

`write_world` writes a few Zendesk, Typeform and Stripe records with the edge cases real
payloads have; the `sandbox` fixture (tests/conftest.py) serves it with two records a page.
Loaders are called with `source_kwargs(sandbox, vendor)`; a whole run reads `demo_settings`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from demo.run import source_settings
from demo.sandbox import Sandbox

CREDS = {
    "zendesk": {"email": "agent@example.com", "api_token": "zd-token"},
    "typeform": {"access_token": "tfp_token", "form_id": "NPSFORM1"},
    "stripe": {"api_key": "sk_test_123"},
}


def ticket(ticket_id: Any, updated_at: str, **fields: Any) -> dict[str, Any]:
    """A Zendesk ticket as the incremental export returns it (`fields` override)."""
    return {
        "id": ticket_id,
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": updated_at,
        "status": "open",
        "priority": "normal",
        "type": "question",
        "subject": f"ticket {ticket_id}",
        "requester_id": 100 + int(ticket_id) if isinstance(ticket_id, int) else None,
        "organization_id": 900,
        "via": {"channel": "email", "source": {"rel": None}},
        "tags": ["billing", "urgent"],
        **fields,
    }


def response(token: str, submitted_at: str, score: Any = 9, **fields: Any) -> dict[str, Any]:
    """A Typeform response with an NPS answer (none when `score` is None) and a comment."""
    answers: list[dict[str, Any]] = [
        {
            "field": {"id": "c1", "ref": "nps_comment", "type": "long_text"},
            "type": "text",
            "text": f"comment {token}",
        }
    ]
    if score is not None:
        answers.insert(
            0,
            {
                "field": {"id": "s1", "ref": "nps_score", "type": "nps"},
                "type": "number",
                "number": score,
            },
        )
    return {
        "landing_id": token,
        "token": token,
        "response_id": token,
        "landed_at": submitted_at,
        "submitted_at": submitted_at,
        "hidden": {"user_id": f"u_{token}", "account_id": "acct_1"},
        "answers": answers,
        **fields,
    }


def subscription(sub_id: str, created: int, status: str = "active") -> dict[str, Any]:
    """A Stripe subscription with one expanded item, as the list endpoint returns it."""
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": "cus_1",
        "status": status,
        "created": created,
        "start_date": float(created),
        "current_period_start": created,
        "current_period_end": created + 2_592_000,
        "canceled_at": created + 100 if status == "canceled" else None,
        "ended_at": created + 100 if status == "canceled" else None,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{sub_id}",
                    "quantity": 5,
                    "price": {
                        "id": "price_1",
                        "product": "prod_1",
                        "unit_amount": 1200,
                        "currency": "usd",
                        "recurring": {"interval": "month"},
                    },
                }
            ],
            "has_more": False,
        },
    }


def write_jsonl(path: Path, records: list[Any]) -> None:
    """One JSON record a line: the files the sandbox serves from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def write_world(root: Path) -> Path:
    """A small world in the docs/architecture.md layout, with edge cases a real one has."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "world.json").write_text(json.dumps({"seed": 1, "sandbox": CREDS}))
    write_jsonl(
        root / "zendesk" / "tickets.jsonl",
        [
            ticket(1, "2024-03-01T10:00:00Z"),
            ticket(2, "2024-03-01T10:00:00Z"),  # same second as 1: order by id
            ticket(3, "2024-02-01T10:00:00Z", status="deleted"),
            ticket(4.0, "2024-03-05T10:00:00Z"),  # float id as real payloads have
            ticket(5, "2024-03-02T10:00:00Z", organization_id=""),
        ],
    )
    write_jsonl(
        root / "zendesk" / "ticket_metrics.jsonl",
        [
            {
                "id": 10 + i,
                "ticket_id": i,
                "reopens": 0,
                "replies": 1,
                "reply_time_in_minutes": {"calendar": 30 * i, "business": None},
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-02T00:00:00Z",
            }
            for i in range(1, 6)
        ],
    )
    write_jsonl(
        root / "zendesk" / "satisfaction_ratings.jsonl",
        [
            {"id": 20 + i, "ticket_id": i, "score": "good", "created_at": "2024-03-01T00:00:00Z"}
            for i in range(1, 4)
        ],
    )
    write_jsonl(
        root / "zendesk" / "organizations.jsonl",
        [{"id": 900 + i, "name": f"Org {i}", "external_id": f"acct_{i}"} for i in range(3)],
    )
    form = {
        "id": CREDS["typeform"]["form_id"],
        "title": "NPS",
        "fields": [
            {"id": "s1", "ref": "nps_score", "type": "nps", "title": "How likely..."},
            {"id": "c1", "ref": "nps_comment", "type": "long_text", "title": "Why?"},
        ],
    }
    (root / "typeform").mkdir(parents=True, exist_ok=True)
    (root / "typeform" / "form.json").write_text(json.dumps(form))
    write_jsonl(
        root / "typeform" / "responses.jsonl",
        [
            response("r1", "2024-03-01T10:00:00Z", 10),
            response("r2", "2024-03-02T10:00:00Z", 0),
            response("r3", "2024-03-03T10:00:00Z", 7),
            response("r4", "2024-03-04T10:00:00Z", None),  # skipped the score question
            response("r5", "2024-03-05T10:00:00Z", 6),
        ],
    )
    write_jsonl(
        root / "stripe" / "subscriptions.jsonl",
        [
            subscription("sub_a", 1_700_000_000),
            subscription("sub_b", 1_700_000_300, "canceled"),
            subscription("sub_c", 1_700_000_200),
            subscription("sub_d", 1_700_000_100, "past_due"),
            subscription("sub_e", 1_700_000_400),
        ],
    )
    write_jsonl(
        root / "stripe" / "customers.jsonl",
        [
            {
                "id": f"cus_{i}",
                "object": "customer",
                "created": 1_600_000_000 + i,
                "metadata": {"account_id": f"acct_{i}"},
            }
            for i in range(1, 4)
        ],
    )
    return root


def source_kwargs(sandbox: Sandbox, vendor: str) -> dict[str, Any]:
    """Keyword arguments of a vendor's `load()`: the sandbox's URL and the world's credential."""
    return {"base_url": sandbox.base_urls[vendor], **CREDS[vendor]}


def demo_settings(world: Path, manifest: dict[str, Any], sandbox: Sandbox) -> dict[str, str]:
    """Every source's settings (env vars) for a generated world served by `sandbox`."""
    return source_settings(world, manifest, sandbox.base_urls)
