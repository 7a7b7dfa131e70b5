"""Reusable automation pieces: the landing-folder sensor's scan and the failure notifier."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from ingestion.common import list_new_files
from ingestion.segment.settings import EVENT_FILE_SUFFIXES

SLACK_WEBHOOK_ENV = "SLACK_WEBHOOK_URL"
EVENTS_FOLDER_ENV = "SOURCES__SEGMENT__BUCKET_URL"


def newer_event_files(bucket_url: str, cursor: str | None) -> tuple[list[str], str | None]:
    """Event files modified after the cursor (the newest modification time seen so far).

    A newest-mtime cursor stays small however many files land. A file that arrives with an
    older mtime is not noticed here, but the loader's own per-file state still reads it on the
    next scheduled run, so nothing is lost, only later.
    """
    files = list_new_files(bucket_url, EVENT_FILE_SUFFIXES, {})
    fresh = [(url, mtime) for url, mtime, _ in files if cursor is None or mtime > cursor]
    newest = max((mtime for _, mtime in fresh), default=cursor)
    return [url for url, _ in fresh], newest


def failure_message(job_name: str, run_id: str, error: str, webserver: str) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook body (`text` plus one section block)."""
    text = f":red_circle: Dagster run failed: *{job_name}* (`{run_id[:8]}`)\n{error[:1500]}"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"<{webserver}/runs/{run_id}|Open the run>"}
                ],
            },
        ],
    }


def notify_failure(payload: dict[str, Any], log: logging.Logger | Any) -> bool:
    """POST to the webhook when SLACK_WEBHOOK_URL is set; otherwise say so in the log."""
    url = os.environ.get(SLACK_WEBHOOK_ENV)
    if not url:
        log.warning(
            f"{SLACK_WEBHOOK_ENV} is not set: run failure not posted anywhere. "
            f"Message was: {json.dumps(payload)[:500]}"
        )
        return False
    import requests

    response = requests.post(url, json=payload, timeout=10)
    response.raise_for_status()
    log.info(f"run failure posted to the webhook (HTTP {response.status_code})")
    return True
