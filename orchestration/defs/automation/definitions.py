"""Schedules and sensors: daily for everything, hourly for the APIs, events as files land."""

import os

import dagster as dg

from ingestion.sources import BY_NAME
from orchestration.lib.automation import (
    EVENTS_FOLDER_ENV,
    failure_message,
    newer_event_files,
    notify_failure,
)
from orchestration.lib.dlt_assets import load_manifest, source_asset_keys
from orchestration.lib.project import ensure_dbt_manifest

API_SOURCES = ("zendesk", "typeform", "stripe")
WEBSERVER_URL = os.environ.get("DAGSTER_WEBSERVER_URL", "http://127.0.0.1:3000")


@dg.definitions
def defs() -> dg.Definitions:
    """The whole graph daily at 05:00 UTC; API sources hourly; new event files on arrival."""
    manifest = load_manifest(ensure_dbt_manifest())
    events_selection = dg.AssetSelection.assets(
        *source_asset_keys(BY_NAME["segment"], manifest)
    ).downstream()
    api_selection = dg.AssetSelection.assets(
        *(key for name in API_SOURCES for key in source_asset_keys(BY_NAME[name], manifest))
    )

    daily = dg.ScheduleDefinition(
        name="daily_all_assets",
        cron_schedule="0 5 * * *",
        execution_timezone="UTC",
        target=dg.AssetSelection.all(),
        description="Every source, every model, every check, once a day.",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    hourly_apis = dg.ScheduleDefinition(
        name="hourly_api_sources",
        cron_schedule="15 * * * *",
        execution_timezone="UTC",
        target=api_selection,
        description="Zendesk, Typeform and Stripe raw tables, hourly (marts follow daily).",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )

    @dg.sensor(
        name="new_event_files",
        target=events_selection,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Loads events and rebuilds what depends on them when new files land.",
    )
    def new_event_files(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        bucket_url = os.environ.get(EVENTS_FOLDER_ENV)
        if not bucket_url:
            return dg.SkipReason(f"{EVENTS_FOLDER_ENV} is not set: no landing folder to watch")
        files, newest = newer_event_files(bucket_url, context.cursor)
        if not files:
            return dg.SkipReason(f"no new event files under {bucket_url}")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"events-{newest}",
                    tags={"trigger": "new_event_files", "new_files": str(len(files))},
                )
            ],
            cursor=newest,
        )

    @dg.run_failure_sensor(
        name="notify_run_failure",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Posts failed runs to SLACK_WEBHOOK_URL (any Slack-compatible webhook).",
    )
    def notify_run_failure(context: dg.RunFailureSensorContext) -> None:
        error = context.failure_event.message or "no error message"
        payload = failure_message(
            context.dagster_run.job_name, context.dagster_run.run_id, error, WEBSERVER_URL
        )
        notify_failure(payload, context.log)

    return dg.Definitions(
        schedules=[daily, hourly_apis], sensors=[new_event_files, notify_run_failure]
    )
