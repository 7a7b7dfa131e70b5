"""Raw-layer assets: one dlt multi-asset per source system."""

import dagster as dg

from ingestion.sources import SOURCE_SYSTEMS
from orchestration.lib.dlt_assets import build_source_assets, load_manifest
from orchestration.lib.project import ensure_dbt_manifest


@dg.definitions
def defs() -> dg.Definitions:
    """Keys come from the dbt sources so raw tables and staging models connect."""
    manifest = load_manifest(ensure_dbt_manifest())
    return dg.Definitions(assets=[build_source_assets(s, manifest) for s in SOURCE_SYSTEMS])
