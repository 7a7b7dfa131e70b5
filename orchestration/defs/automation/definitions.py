"""Schedules and sensors: daily for everything, hourly for the APIs, events as files land.

The daily build is two jobs, `load_sources` then `build_marts`, so that a source that fails
(bad credentials, vendor down) does not stop the marts: they build from what the other sources
loaded, and the failed source's load and freshness checks fail (docs/architecture.md).
"""

import os

import dagster as dg

from ingestion.sources import API_SOURCES, BY_NAME
from orchestration.lib.automation import (
    BUILD_JOB,
    EVENTS_FOLDER_ENV,
    SOURCES_JOB,
    build_selection,
    failure_message,
    initial_events_cursor,
    newer_event_files,
    notify_failure,
    sources_selection,
)
from orchestration.lib.dlt_assets import load_manifest, source_asset_keys
from orchestration.lib.project import dbt_project, warehouse_settings
from orchestration.lib.recovery import reap_dead_runs

WEBSERVER_URL_ENV, DEFAULT_WEBSERVER_URL = "DAGSTER_WEBSERVER_URL", "http://127.0.0.1:3000"


@dg.definitions
def defs() -> dg.Definitions:
    """The whole graph daily at 05:00 UTC; API sources hourly; new event files on arrival."""
    manifest = load_manifest(dbt_project(warehouse_settings()).manifest_path)
    events_selection = dg.AssetSelection.assets(
        *source_asset_keys(BY_NAME["segment"], manifest)
    ).downstream()
    api_selection = dg.AssetSelection.assets(
        *(key for system in API_SOURCES for key in source_asset_keys(system, manifest))
    )

    load_sources = dg.define_asset_job(
        SOURCES_JOB,
        selection=sources_selection(manifest),
        description="Every source loaded; each source is its own step, failing on its own.",
    )
    build_marts = dg.define_asset_job(
        BUILD_JOB,
        selection=build_selection(manifest),
        description="Raw-table checks, dbt, publishing: from whatever the sources last loaded.",
    )
    daily = dg.ScheduleDefinition(
        name="daily_load_sources",
        cron_schedule="0 5 * * *",
        execution_timezone="UTC",
        job=load_sources,
        description="Every source once a day; build_marts follows at 05:10.",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    # One run at a time (dagster.yaml): if the loads take longer, this run queues behind them.
    daily_marts = dg.ScheduleDefinition(
        name="daily_build_marts",
        cron_schedule="10 5 * * *",
        execution_timezone="UTC",
        job=build_marts,
        description="Checks, every model and the published file, whether or not a source failed.",
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
        cursor = context.cursor or initial_events_cursor(_last_events_load(context))
        files, newest = newer_event_files(bucket_url, cursor)
        if not files:
            if newest != context.cursor:  # remember the initial cursor
                return dg.SensorResult(
                    skip_reason=f"no new event files under {bucket_url}", cursor=newest
                )
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
        webserver = os.environ.get(WEBSERVER_URL_ENV, DEFAULT_WEBSERVER_URL)  # the daemon's
        payload = failure_message(
            context.dagster_run.job_name, context.dagster_run.run_id, error, webserver
        )
        notify_failure(payload, context.log)

    @dg.sensor(
        name="reap_dead_runs",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Marks runs whose process died (kill -9, OOM, reboot) as failed and frees their "
            "warehouse pool slot, so later runs do not wait forever."
        ),
    )
    def reap_dead_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        reaped = reap_dead_runs(context.instance, context.log.warning)
        return dg.SkipReason(f"{len(reaped)} dead runs marked failed" if reaped else "no dead runs")

    def _last_events_load(context: dg.SensorEvaluationContext) -> float | None:
        """Start time of the run that last loaded the events (files before it are loaded)."""
        try:
            instance = context.instance
        except dg.DagsterInvariantViolationError:  # a sensor context built without instance
            return None
        event = instance.get_latest_materialization_event(dg.AssetKey(["raw_segment", "events"]))
        if event is None:
            return None
        record = instance.get_run_record_by_id(event.run_id)
        return (record.start_time if record else None) or event.timestamp

    return dg.Definitions(
        jobs=[load_sources, build_marts],
        schedules=[daily, daily_marts, hourly_apis],
        sensors=[new_event_files, notify_run_failure, reap_dead_runs_sensor],
    )
