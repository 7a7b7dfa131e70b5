"""dbt seeds and models as assets; dbt tests become asset checks that block what follows."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from pydantic import Field

from orchestration.lib.dbt_translator import ProductOpsDbtTranslator
from orchestration.lib.project import (
    DBT_EXECUTABLE,
    WAREHOUSE_POOL,
    dbt_process_env,
    dbt_project,
    prune_dbt_targets,
    warehouse_settings,
)


class DbtBuildConfig(dg.Config):
    """Run config of the dbt step.

    In the Launchpad: `ops: {productops_dbt: {config: {full_refresh: true}}}`.
    """

    full_refresh: bool = Field(
        default=False,
        description=(
            "Rebuild the incremental models from all history (dbt build --full-refresh): after "
            "a changed model or seed, or anything else docs/metrics.md lists under "
            "'Incremental builds'."
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """`dbt build` runs models and tests in order, so a failed test stops the models after it.

    The dbt project and its target come from the warehouse settings; the dbt process gets
    their environment (`dbt_process_env`), this process keeps its own.
    """
    settings = warehouse_settings()
    project = dbt_project(settings)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=ProductOpsDbtTranslator(),
        pool=WAREHOUSE_POOL,
    )
    def productops_dbt(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig
    ) -> Iterator[Any]:
        # No fetch_row_counts(): it opens the warehouse from this process while dbt, another
        # process, holds DuckDB's single write lock.
        args = ["build", "--full-refresh"] if config.full_refresh else ["build"]
        try:
            with dbt_process_env(settings):  # dbt starts here; the environment is restored
                invocation = dbt.cli(args, context=context)
            yield from invocation.stream()
        finally:  # each build leaves an 11-13 MB target folder: keep the newest few
            pruned = prune_dbt_targets()
            if pruned:
                context.log.info(f"removed {len(pruned)} old dbt target folders")

    return dg.Definitions(
        assets=[productops_dbt],
        resources={
            # Project, profiles folder and target (the engine's output in
            # dbt_project/profiles.yml) come from the DbtProject.
            "dbt": DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
        },
    )
