"""Schedules, the landing-folder sensor, freshness checks and the failure notifier."""

from __future__ import annotations

import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from orchestration.lib.automation import failure_message, notify_failure


def test_schedules_and_sensors_exist(defs: dg.Definitions) -> None:
    schedules = {s.name: s for s in defs.schedules}
    assert schedules["daily_load_sources"].cron_schedule == "0 5 * * *"
    assert schedules["daily_build_marts"].cron_schedule == "10 5 * * *"
    assert schedules["hourly_api_sources"].cron_schedule == "15 * * * *"
    sensors = {s.name for s in defs.sensors}
    assert {"new_event_files", "notify_run_failure", "freshness_checks_sensor"} <= sensors
    assert "reap_dead_runs" in sensors


def test_every_raw_source_table_and_mart_has_a_freshness_check(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    fresh = {c.asset_key.to_user_string() for c in graph.asset_check_keys if "fresh" in c.name}
    assert {"raw_segment/events", "raw_zendesk/tickets", "raw_stripe/subscriptions"} <= fresh
    assert "marts/fct_active_users_daily" in fresh and "marts/metrics_daily" in fresh


def test_new_event_files_sensor_requests_events_and_downstream_only(
    defs: dg.Definitions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sensor = defs.resolve_sensor_def("new_event_files")
    monkeypatch.delenv("SOURCES__SEGMENT__BUCKET_URL", raising=False)
    with dg.build_sensor_context() as context:
        assert isinstance(sensor(context), dg.SkipReason)

    landing = tmp_path / "events" / "2026" / "03" / "01"
    landing.mkdir(parents=True)
    first = landing / "part-0000.jsonl"
    first.write_text('{"type": "track"}\n')
    monkeypatch.setenv("SOURCES__SEGMENT__BUCKET_URL", str(tmp_path / "events"))
    with dg.build_sensor_context(definitions=defs) as context:
        result = sensor.evaluate_tick(context)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.tags["new_files"] == "1"
    cursor = result.cursor
    assert cursor is not None

    graph = defs.resolve_asset_graph()
    selected = {k.to_user_string() for k in sensor.job.selection.resolve(graph)}
    assert {"raw_segment/events", "staging/stg_segment__events"} <= selected
    assert "marts/fct_active_users_daily" in selected
    assert "raw_zendesk/tickets" not in selected and "marts/fct_tickets" not in selected

    # Nothing new: skip. A new file: one more request, with a new run key.
    with dg.build_sensor_context(cursor=cursor, definitions=defs) as context:
        assert not sensor.evaluate_tick(context).run_requests
    second = landing / "part-0001.jsonl.gz"
    second.write_bytes(b"")
    os.utime(second, (first.stat().st_mtime + 5, first.stat().st_mtime + 5))
    with dg.build_sensor_context(cursor=cursor, definitions=defs) as context:
        again = sensor.evaluate_tick(context)
    assert len(again.run_requests) == 1
    assert again.run_requests[0].run_key != request.run_key


def test_failure_notice_is_posted_as_slack_json(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
        payload = failure_message(
            "__ASSET_JOB", "0123456789abcdef", "boom: check failed", "http://ui"
        )
        assert notify_failure(payload, logging.getLogger("test")) is True
    finally:
        server.shutdown()
        server.server_close()
    assert received and received[0]["text"].startswith(":red_circle: Dagster run failed")
    assert "boom: check failed" in received[0]["text"]
    assert "http://ui/runs/0123456789abcdef" in json.dumps(received[0]["blocks"])


def test_failure_notice_without_webhook_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    with caplog.at_level(logging.WARNING):
        assert notify_failure({"text": "x"}, logging.getLogger("test")) is False
    assert "SLACK_WEBHOOK_URL is not set" in caplog.text
