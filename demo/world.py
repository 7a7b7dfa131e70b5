"""The deterministic sample world: one seeded story written as every source's files.

`generate_world(out, scale, seed)` decides accounts and users once (`model.py`) and then
writes events, Zendesk, surveys and licenses from that one story, each domain from its own
child of the seed so that changing one writer does not reshuffle the others. The same
arguments give byte-identical files; only the default end date (yesterday, UTC) depends on
the clock, and it is written into world.json.
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from demo.common import write_json
from demo.events import write_events
from demo.licenses import write_licenses
from demo.model import PLANS, build_model
from demo.surveys import FORM_ID, write_surveys
from demo.zendesk import write_zendesk

SANDBOX_CREDENTIALS = {
    "zendesk": {"email": "sandbox@example.com", "api_token": "sandbox-zendesk-token"},
    "typeform": {"access_token": "sandbox-typeform-token", "form_id": FORM_ID},
    "stripe": {"api_key": "sk_test_sandbox"},
}
OWNED = ("events", "zendesk", "typeform", "stripe", "file_drop/surveys", "file_drop/licenses")
EVENTS_PER_SCALE = 150_000


def default_end_date() -> date:
    """Yesterday in UTC: the last complete day."""
    return datetime.now(UTC).date() - timedelta(days=1)


def generate_world(
    out: Path,
    scale: float = 1.0,
    seed: int = 42,
    end_date: date | None = None,
    days: int = 90,
) -> dict[str, Any]:
    """Write the sample world into `out` and return its manifest (the content of world.json)."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    if days < 56:
        raise ValueError("days must be at least 56 (the declining story spans the last 6 weeks)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in OWNED:
        shutil.rmtree(out / name, ignore_errors=True)
    end = end_date or default_end_date()

    children = np.random.SeedSequence(seed).spawn(5)
    rng_model, rng_events, rng_zendesk, rng_surveys, rng_licenses = (
        np.random.default_rng(c) for c in children
    )
    model = build_model(rng_model, scale, end, days)
    # Licenses first: nothing else depends on them, but their story lives in the model.
    license_counts, license_planted, scenario = write_licenses(model, rng_licenses, out)
    event_counts, event_planted = write_events(
        model, rng_events, out, round(EVENTS_PER_SCALE * scale)
    )
    zendesk_counts, zendesk_planted = write_zendesk(model, rng_zendesk, out)
    survey_counts, survey_planted = write_surveys(model, rng_surveys, out)

    plans = {p: int((model.acc_final_plan == i).sum()) for i, p in enumerate(PLANS)}
    manifest: dict[str, Any] = {
        "generator": "demo",
        "seed": seed,
        "scale": scale,
        "days": days,
        "start_date": model.start.isoformat(),
        "end_date": model.end.isoformat(),
        "counts": {
            "accounts": len(model.acc_ids),
            "accounts_by_plan": plans,
            "users": len(model.user_ids),
            **event_counts,
            **zendesk_counts,
            **survey_counts,
            **license_counts,
        },
        "planted": {
            **event_planted["counts"],
            **survey_planted["counts"],
            **license_planted["counts"],
            **zendesk_planted,
        },
        "planted_where": {
            **event_planted["where"],
            **survey_planted["where"],
            **license_planted["where"],
        },
        "launches": {"ai_insights": model.day(model.launch_day).isoformat()},
        "scenario": {
            "declining_accounts": [
                model.acc_ids[a] for a in np.flatnonzero(model.acc_declining).tolist()
            ],
            "declining_from": model.day(days - 42).isoformat(),
            "churned_accounts": {
                model.acc_ids[a]: model.day(int(model.acc_end_day[a])).isoformat()
                for a in np.flatnonzero(model.acc_end_day < days).tolist()
            },
            "upgraded_accounts": {
                model.acc_ids[a]: model.day(int(model.acc_upgrade_day[a])).isoformat()
                for a in np.flatnonzero(model.acc_upgrade_day >= 0).tolist()
            },
            "new_accounts": [
                model.acc_ids[a] for a in np.flatnonzero(model.acc_start_day >= 0).tolist()
            ],
            "consultant_users": {
                model.user_ids[u]: [
                    model.acc_ids[model.user_acc[u]],
                    model.acc_ids[model.user_acc2[u]],
                ]
                for u in np.flatnonzero(model.user_acc2 >= 0).tolist()
            },
            "accounts_without_zendesk_org": [
                model.acc_ids[a] for a in np.flatnonzero(~model.acc_has_org).tolist()
            ],
            **scenario,
        },
        "typeform_form_id": FORM_ID,
        "sandbox": SANDBOX_CREDENTIALS,
    }
    write_json(out / "world.json", manifest)
    return manifest


def timed_generate(**kwargs: Any) -> tuple[dict[str, Any], float]:
    """`generate_world` and the seconds it took (for the CLI summary)."""
    began = time.perf_counter()
    manifest = generate_world(**kwargs)
    return manifest, time.perf_counter() - began
