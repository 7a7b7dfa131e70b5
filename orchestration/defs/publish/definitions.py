"""The published marts file: what analysts and BI tools open, never the warehouse itself."""

import dagster as dg

from ingestion.settings import WarehouseSettings
from orchestration.lib.dlt_assets import load_manifest
from orchestration.lib.project import OWNERS, WAREHOUSE_POOL, dbt_project, warehouse_settings
from orchestration.lib.publish import publish_marts, published_path
from orchestration.lib.report import (
    build_report,
    build_target_of,
    publish_dbt_docs_if_changed,
    read_marts,
    reports_dir,
    write_report,
)

# Marts built by a Python step rather than dbt (orchestration/defs/experiments): not in the
# manifest, but published and reported like the others, after they are rebuilt.
PYTHON_MARTS = ("fct_experiment_results",)
# What leaves the warehouse for people: the report, the dbt docs, the published marts file.
GROUP = "publish"


def report_asset(marts: list[str], settings: WarehouseSettings) -> dg.AssetsDefinition:
    """The weekly product-ops report (docs/report.md), after every mart, on either engine."""

    @dg.asset(
        key=["report", "product_ops"],
        deps=[dg.AssetKey(["marts", name]) for name in marts],
        group_name=GROUP,
        kinds={"html", "plotly"},
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        description=(
            "The product-ops report for the latest week: one self-contained HTML page "
            "(REPORTS_DIR, default data/reports/<week>.html and latest.html) of charts and "
            "tables read from the marts. Opens offline."
        ),
    )
    def product_ops_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        context.log.info("report: reading the marts ...")
        report = build_report(read_marts(settings=settings))
        context.log.info(
            f"report: {len(report.charts)} charts, {len(report.tables)} tables for the week of "
            f"{report.week_start}; writing ..."
        )
        page = write_report(report, reports_dir(settings))
        context.log.info(f"report: written to {page}")
        if report.missing:
            context.log.warning(f"report: marts not built yet, charts left out: {report.missing}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(page)),
                "latest": dg.MetadataValue.path(str(page.with_name("latest.html"))),
                "week_start": report.week_start.isoformat(),
                "as_of": report.as_of.isoformat(),
                "charts": len(report.charts),
                "missing_marts": ", ".join(report.missing) or "none",
            }
        )

    return product_ops_report


def docs_asset(marts: list[str], settings: WarehouseSettings) -> dg.AssetsDefinition:
    """The dbt docs site (`dbt docs generate --static`), beside the report, after every mart."""

    @dg.asset(
        key=["report", "dbt_docs"],
        deps=[dg.AssetKey(["marts", name]) for name in marts],
        group_name=GROUP,
        kinds={"dbt", "html"},
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        description=(
            "The dbt documentation (models, columns, tests, lineage, the semantic layer's "
            "metrics) as one static HTML file beside the report: dbt-docs.html."
        ),
    )
    def dbt_docs(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        context.log.info(
            "dbt docs generate --static (unless the project and tables are unchanged) ..."
        )
        # The catalog only, on the manifest this run's `dbt build` compiled (when it did).
        built_in = build_target_of(context.run_id)
        page, generated = publish_dbt_docs_if_changed(settings=settings, built_in=built_in)
        if generated:
            context.log.info(f"dbt docs: written to {page}")
        else:
            context.log.info(f"dbt docs: project, tables and columns unchanged, {page} kept")
        return dg.MaterializeResult(
            metadata={"path": dg.MetadataValue.path(str(page)), "regenerated": generated}
        )

    return dbt_docs


@dg.definitions
def defs() -> dg.Definitions:
    """One asset after every mart: copy them to `analytics.duckdb` and swap it in atomically.

    Only on DuckDB, whose writer locks the file against every reader. On PostgreSQL analysts
    and BI query schema `marts` on the server itself: dbt swaps each rebuilt table in within
    one transaction, so readers see the old table or the new one and never block the run.
    The report is built on both engines.
    """
    settings = warehouse_settings()
    manifest = load_manifest(dbt_project(settings).manifest_path)
    marts = sorted(
        {
            node["name"]
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model" and node["config"].get("schema") == "marts"
        }
        | set(PYTHON_MARTS)
    )
    report, docs = report_asset(marts, settings), docs_asset(marts, settings)
    if settings.engine == "postgres":
        return dg.Definitions(assets=[report, docs])

    @dg.asset(
        key=["published", "marts"],
        deps=[dg.AssetKey(["marts", name]) for name in marts],
        group_name=GROUP,
        kinds={"duckdb"},
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        description=(
            "Every mart copied to its own DuckDB file (MARTS_PATH, default data/analytics.duckdb). "
            "Analysts and BI read this file, so their connections never block the pipeline."
        ),
    )
    def published_marts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        counts = publish_marts(settings=settings)
        target = published_path(settings)
        context.log.info(f"published {len(counts)} marts to {target}")
        return dg.MaterializeResult(
            metadata={
                "path": str(target),
                "tables": len(counts),
                **{f"rows/{table}": rows for table, rows in counts.items()},
            }
        )

    return dg.Definitions(assets=[published_marts, report, docs])
