"""dbt seeds and models as assets; dbt tests become asset checks that block what follows."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from pydantic import Field

from orchestration.lib.dbt_translator import ProductOpsDbtTranslator
from orchestration.lib.dlt_assets import load_manifest
from orchestration.lib.project import (
    WAREHOUSE_POOL,
    ProductOpsDbtCliResource,
    dbt_inputs_fingerprint,
    dbt_process_env,
    dbt_project,
    dbt_relations,
    prune_dbt_targets,
    warehouse_settings,
)
from orchestration.lib.startup import dbt_executable

# Dagster's key-value store (run storage) keeps the digest (`dbt_inputs_fingerprint`) taken
# after the last whole `dbt build` that passed: its unit tests passed on those inputs.
UNIT_TESTS_PASSED = "productops/dbt_unit_tests_passed"


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
    relations = dbt_relations(load_manifest(project.manifest_path))

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
        storage = context.instance.run_storage
        whole = not context.is_subset  # unit tests of every model run: their result is known
        passed = storage.get_cursor_values({UNIT_TESTS_PASSED}).get(UNIT_TESTS_PASSED)
        before = dbt_inputs_fingerprint(settings, relations) if whole and passed else None
        if before is not None and before == passed:
            # Unit tests run SQL on fixtures, not on the warehouse's rows: with the same
            # project, dbt and tables as when they last passed, they pass again.
            args += ["--exclude-resource-type", "unit_test"]
            context.log.info(
                "dbt unit tests: not run, the project and the warehouse's tables are what they "
                "were when they last passed (any change to either runs them again)"
            )
        invocation = None
        try:
            with dbt_process_env(settings):  # dbt starts here; the environment is restored
                invocation = dbt.cli(args, context=context)
            yield from invocation.stream()
            if whole and invocation.is_successful():
                after = dbt_inputs_fingerprint(settings, relations)
                if after is not None:
                    storage.set_cursor_values({UNIT_TESTS_PASSED: after})
        finally:
            # A step that failed while streaming stops reading dbt's output: end dbt, or it
            # would block on a full pipe, holding DuckDB's lock, and the run's summary with it.
            if invocation is not None and invocation.process.poll() is None:
                invocation.process.terminate()
                invocation.process.wait(timeout=60)
            # each build leaves an 11-13 MB target folder: keep the newest few
            pruned = prune_dbt_targets()
            if pruned:
                context.log.info(f"removed {len(pruned)} old dbt target folders")

    return dg.Definitions(
        assets=[productops_dbt],
        resources={
            # Project, profiles folder and target (the engine's output in
            # dbt_project/profiles.yml) come from the DbtProject.
            # (DbtCliResource.__init__ takes the DbtProject; mypy sees the subclass's field.)
            "dbt": ProductOpsDbtCliResource(
                project_dir=project,  # type: ignore[arg-type]
                dbt_executable=dbt_executable(),  # through the run's dbt worker, if any
            )
        },
    )
