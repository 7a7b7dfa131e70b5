"""Turn one ingestion source system into one Dagster multi-asset, keyed as its dbt sources.

Not dagster-dlt's `@dlt_assets`: it runs one `pipeline.run(source)` built when the definitions
load, while a source package here runs several loads (events in bounded chunks), checks its
settings first, picks the destination from the warehouse settings at run time, and reports
the records it set aside (docs/architecture.md, "Why not dagster-dlt").
"""

import functools
import json
import os
from collections.abc import Iterator
from typing import Any

import dagster as dg

from ingestion.api import CredentialRejectedError
from ingestion.rejects import REJECTS_TABLE
from ingestion.settings import WarehouseSettings, not_used_note
from ingestion.sources import SourceSystem
from orchestration.lib.project import OWNERS, WAREHOUSE_POOL

API_RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL)


def dbt_source_tables(manifest: dict[str, Any], dataset: str) -> dict[str, str]:
    """Tables the dbt project declares for a dataset, with their descriptions.

    Using the dbt sources as the list of outputs is what makes the keys line up: dagster-dbt
    keys a source `[source_name, table]`, and the dlt asset produces exactly those keys.
    """
    return {
        source["name"]: source.get("description") or ""
        for source in manifest.get("sources", {}).values()
        if source["source_name"] == dataset
    }


def source_tables(system: SourceSystem, manifest: dict[str, Any]) -> dict[str, str]:
    """Every table one load of the source writes: its dbt sources, its own tables, rejects."""
    tables = dbt_source_tables(manifest, system.dataset)
    for table in system.tables:
        tables.setdefault(table, "")
    tables.setdefault(REJECTS_TABLE, "Records set aside by the loader, with the reason and where.")
    return tables


def source_asset_keys(system: SourceSystem, manifest: dict[str, Any]) -> list[dg.AssetKey]:
    """The keys of a source's multi-asset; it is not subsettable, so selections need them all."""
    return [
        dg.AssetKey([system.dataset, table]) for table in sorted(source_tables(system, manifest))
    ]


def build_source_assets(
    system: SourceSystem, manifest: dict[str, Any], settings: WarehouseSettings
) -> dg.AssetsDefinition:
    """One multi-asset per source system: one dlt load writes all of its tables at once.

    Its group is the source's name, as is the folder of its staging models (`staging/zendesk/`),
    so a source's raw tables and staging models read together in the UI.
    """
    tables = source_tables(system, manifest)
    specs = [
        dg.AssetSpec(
            key=[system.dataset, table],
            description=description or f"{table} loaded by dlt from {system.name}.",
            group_name=system.name,
            kinds={"dlt", settings.engine, system.kind},
            owners=OWNERS,
            tags={"layer": "raw"},
            metadata={"dataset": system.dataset, "source_system": system.name},
        )
        for table, description in sorted(tables.items())
    ]

    @dg.multi_asset(
        name=f"{system.name}_raw",
        specs=specs,
        description=system.description,
        retry_policy=API_RETRY_POLICY if system.api else None,
        pool=WAREHOUSE_POOL,
    )
    def _load(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
        try:
            result = system.load()
        except CredentialRejectedError as error:
            # A refused credential cannot succeed on retry: fail now, naming the setting.
            raise dg.Failure(description=str(error), allow_retries=False) from error
        if result.enabled:
            context.log.info(
                f"{system.name}: {sum(result.rows.values()):,} rows loaded, "
                f"{result.rejected:,} set aside in {system.dataset}.{REJECTS_TABLE}, "
                f"{result.seconds:.1f}s"
            )
        else:
            context.log.info(f"{not_used_note(system.name)}; its tables exist empty")
        for spec in specs:
            table = spec.key.path[-1]
            metadata: dict[str, Any] = {
                "dagster/duration_seconds": round(result.seconds, 2),
                "source_used": result.enabled,
            }
            if table == REJECTS_TABLE:
                metadata["rows_rejected"] = result.rejected
            elif not table.startswith("_dlt"):
                metadata["rows_loaded"] = result.rows.get(table, 0)
                metadata["rows_rejected_in_load"] = result.rejected
            yield dg.MaterializeResult(asset_key=spec.key, metadata=metadata)

    return _load


def load_manifest(path: Any) -> dict[str, Any]:
    """Read dbt's manifest.json (parsed beforehand by `project.dbt_project`); do not modify it.

    Four definitions pieces read it while the definitions load (2 MB: 0.15-0.2 s each): one
    read per version of the file serves them all.
    """
    status = os.stat(path)
    return _read_manifest(os.fspath(path), status.st_mtime_ns, status.st_size)


@functools.lru_cache(maxsize=2)
def _read_manifest(path: str, _mtime_ns: int, _size: int) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        manifest: dict[str, Any] = json.load(handle)
    return manifest
