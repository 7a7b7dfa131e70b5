"""Raw-layer assets: one dlt multi-asset per source system."""

import dagster as dg

from ingestion.sources import SOURCE_SYSTEMS
from orchestration.lib.dlt_assets import build_source_assets, load_manifest
from orchestration.lib.project import dbt_project, warehouse_settings


@dg.definitions
def defs() -> dg.Definitions:
    """Keys come from the dbt sources so raw tables and staging models connect."""
    settings = warehouse_settings()
    manifest = load_manifest(dbt_project(settings).manifest_path)
    return dg.Definitions(
        assets=[build_source_assets(system, manifest, settings) for system in SOURCE_SYSTEMS]
    )
