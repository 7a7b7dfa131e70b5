"""Freshness policy for the whole graph, applied once by the composition root."""

from __future__ import annotations

import warnings
from datetime import timedelta

import dagster as dg

from ingestion.settings import switched_off
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
        if not system.enabled():  # a source the team does not use is never stale
            continue
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


def not_used_checks() -> list[dg.AssetChecksDefinition]:
    """In place of the freshness check of each raw table of a source the team does not use.

    Same check name, so the UI and the summary show the table's freshness as "not used"
    instead of stale or missing; it always passes and names the setting that switched it off.
    """
    checks: list[dg.AssetChecksDefinition] = []
    for system in SOURCE_SYSTEMS:
        if system.enabled():
            continue
        setting = switched_off(system.name)
        for table in system.tables:
            checks.append(_not_used_check(dg.AssetKey([system.dataset, table]), setting))
    return checks


def _not_used_check(key: dg.AssetKey, setting: str) -> dg.AssetChecksDefinition:
    """One passing `freshness_check` on `key` saying the source is not used."""
    description = f"Not used ({setting}): no freshness expected."

    @dg.asset_check(asset=key, name="freshness_check", description=description)
    def _check() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            passed=True, description=description, metadata={"source_used": False}
        )

    return _check


def with_freshness(defs: dg.Definitions) -> dg.Definitions:
    """Add the freshness checks and the sensor that evaluates them between runs."""
    checks = freshness_checks(list(defs.resolve_all_asset_keys()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        sensor = dg.build_sensor_for_freshness_checks(
            freshness_checks=checks, default_status=dg.DefaultSensorStatus.RUNNING
        )
    extra = dg.Definitions(asset_checks=[*checks, *not_used_checks()], sensors=[sensor])
    return dg.Definitions.merge(defs, extra)
