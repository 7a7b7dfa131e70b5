"""dbt seeds and models as assets; dbt tests become asset checks that block what follows."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from ingestion.common import warehouse_engine
from orchestration.lib.dbt_translator import ProductOpsDbtTranslator
from orchestration.lib.project import (
    DBT_EXECUTABLE,
    DBT_PROJECT_DIR,
    WAREHOUSE_POOL,
    ensure_dbt_manifest,
)


@dg.definitions
def defs() -> dg.Definitions:
    """`dbt build` runs models and tests in order, so a failed test stops the models after it."""

    @dbt_assets(
        manifest=ensure_dbt_manifest(),
        dagster_dbt_translator=ProductOpsDbtTranslator(),
        pool=WAREHOUSE_POOL,
    )
    def productops_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        # No fetch_row_counts(): it opens the warehouse from this process while dbt, another
        # process, holds DuckDB's single write lock.
        yield from dbt.cli(["build"], context=context).stream()

    return dg.Definitions(
        assets=[productops_dbt],
        resources={
            "dbt": DbtCliResource(
                project_dir=str(DBT_PROJECT_DIR),
                profiles_dir=str(DBT_PROJECT_DIR),
                dbt_executable=DBT_EXECUTABLE,
                # The profile's output of the engine WAREHOUSE selects (dbt_project/profiles.yml).
                target=warehouse_engine(),
            )
        },
    )
