"""The published marts file: what analysts and BI tools open, never the warehouse itself."""

import dagster as dg

from ingestion.common import warehouse_engine
from orchestration.lib.dlt_assets import load_manifest
from orchestration.lib.project import OWNERS, WAREHOUSE_POOL, ensure_dbt_manifest
from orchestration.lib.publish import publish_marts, published_path


@dg.definitions
def defs() -> dg.Definitions:
    """One asset after every mart: copy them to `analytics.duckdb` and swap it in atomically.

    Only on DuckDB, whose writer locks the file against every reader. On PostgreSQL analysts
    and BI query schema `marts` on the server itself: dbt swaps each rebuilt table in within
    one transaction, so readers see the old table or the new one and never block the run.
    """
    if warehouse_engine() == "postgres":
        return dg.Definitions()
    manifest = load_manifest(ensure_dbt_manifest())
    marts = sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"].get("schema") == "marts"
    )

    @dg.asset(
        key=["published", "marts"],
        deps=[dg.AssetKey(["marts", name]) for name in marts],
        group_name="accounts",
        kinds={"duckdb"},
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        description=(
            "Every mart copied to its own DuckDB file (MARTS_PATH, default data/analytics.duckdb). "
            "Analysts and BI read this file, so their connections never block the pipeline."
        ),
    )
    def published_marts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        counts = publish_marts()
        context.log.info(f"published {len(counts)} marts to {published_path()}")
        return dg.MaterializeResult(
            metadata={
                "path": str(published_path()),
                "tables": len(counts),
                **{f"rows/{table}": rows for table, rows in counts.items()},
            }
        )

    return dg.Definitions(assets=[published_marts])
