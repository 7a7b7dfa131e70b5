"""Freshness policy for the whole graph, applied once by the composition root."""

from __future__ import annotations

import warnings
from datetime import timedelta

import dagster as dg

from ingestion.sources import SOURCE_SYSTEMS

# How old each layer may be before its freshness check fails: API sources load hourly, files
# and marts daily (26 h leaves the daily schedule two hours of slack).
API_MAX_AGE = timedelta(hours=2)
DAILY_MAX_AGE = timedelta(hours=26)


def freshness_checks(all_keys: list[dg.AssetKey]) -> list[dg.AssetChecksDefinition]:
    """Last-update freshness checks on each raw source table and each mart.

    Dagster 1.13 marks these builders superseded by `FreshnessPolicy`, but a policy shows as a
    status, not as an asset check that ops people can see fail beside the data checks; the
    checks are what we want, so the notice is silenced here. A stale source is an ERROR (its
    loads fail or stopped, and the runner's exit code says so); a stale mart only warns: the
    source checks name the cause.
    """
    hourly: list[dg.AssetKey] = []
    daily_sources: list[dg.AssetKey] = []
    for system in SOURCE_SYSTEMS:
        keys = [dg.AssetKey([system.dataset, table]) for table in system.tables]
        (hourly if system.api else daily_sources).extend(keys)
    marts = [key for key in all_keys if key.path[0] == "marts"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return [
            *dg.build_last_update_freshness_checks(
                assets=hourly, lower_bound_delta=API_MAX_AGE, severity=dg.AssetCheckSeverity.ERROR
            ),
            *dg.build_last_update_freshness_checks(
                assets=daily_sources,
                lower_bound_delta=DAILY_MAX_AGE,
                severity=dg.AssetCheckSeverity.ERROR,
            ),
            *dg.build_last_update_freshness_checks(assets=marts, lower_bound_delta=DAILY_MAX_AGE),
        ]


def with_freshness(defs: dg.Definitions) -> dg.Definitions:
    """Add the freshness checks and the sensor that evaluates them between runs."""
    checks = freshness_checks(list(defs.resolve_all_asset_keys()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        sensor = dg.build_sensor_for_freshness_checks(
            freshness_checks=checks, default_status=dg.DefaultSensorStatus.RUNNING
        )
    return dg.Definitions.merge(defs, dg.Definitions(asset_checks=checks, sensors=[sensor]))
