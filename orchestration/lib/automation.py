"""Reusable automation pieces: the landing-folder sensor's scan and the failure notifier."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from ingestion.files import list_new_files
from ingestion.segment.settings import EVENT_FILE_SUFFIXES
from ingestion.sources import SOURCE_SYSTEMS
from orchestration.lib.dlt_assets import source_asset_keys

SLACK_WEBHOOK_ENV = "SLACK_WEBHOOK_URL"
EVENTS_FOLDER_ENV = "SOURCES__SEGMENT__BUCKET_URL"
SOURCES_JOB = "load_sources"
BUILD_JOB = "build_marts"


def sources_selection(manifest: dict[str, Any]) -> dg.AssetSelection:
    """Every source's raw tables, without their checks (those run with the build)."""
    keys = [key for system in SOURCE_SYSTEMS for key in source_asset_keys(system, manifest)]
    return dg.AssetSelection.assets(*keys).without_checks()


def build_selection(manifest: dict[str, Any]) -> dg.AssetSelection:
    """Everything but the loads: raw-table checks, dbt models and tests, publishing, freshness.

    A separate run from the loads, so a failed load does not abandon the marts: they build
    from what every source last loaded, and the raw-table checks still gate them.
    """
    return dg.AssetSelection.all(include_sources=False) - sources_selection(manifest)


def _parse_mtime(value: str | None) -> datetime | None:
    """An mtime or cursor as a datetime; None for an unreadable entry's marker."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def newer_event_files(bucket_url: str, cursor: str | None) -> tuple[list[str], str | None]:
    """Event files modified after the cursor (the newest modification time seen so far).

    A newest-mtime cursor stays small however many files land. A file that arrives with an
    older mtime is not noticed here, but the loader's own per-file state still reads it on the
    next scheduled run, so nothing is lost, only later. Entries that cannot be examined (their
    mtime is a marker, not a time) never trigger a run: the next load sets them aside anyway.
    Times are compared as times, so a cursor written in another ISO format still works.
    """
    files = list_new_files(bucket_url, EVENT_FILE_SUFFIXES, {})
    since = _parse_mtime(cursor)
    fresh: list[tuple[str, str, datetime]] = []
    for url, mtime, _ in files:
        when = _parse_mtime(mtime)
        if when is not None and (since is None or when > since):
            fresh.append((url, mtime, when))
    if not fresh:
        return [], cursor
    newest = max(fresh, key=lambda entry: entry[2])[1]
    return [url for url, _, _ in fresh], newest


def initial_events_cursor(last_load_timestamp: float | None) -> str | None:
    """The sensor's first cursor: files older than the last events load are already loaded.

    Without it the sensor's first tick (`make ui` right after `make run`) would see every file
    as new and start a full rebuild of everything downstream of the events.
    """
    if last_load_timestamp is None:
        return None
    return datetime.fromtimestamp(last_load_timestamp, UTC).isoformat()


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
