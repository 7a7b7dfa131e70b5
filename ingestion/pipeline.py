"""dlt pipelines into the configured warehouse, merge resources and per-table row counts."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import dlt
from dlt.common.schema.typing import TColumnSchema, TDataType

from ingestion.plausibility import settings_read_once
from ingestion.rejects import REJECT_HINTS
from ingestion.settings import (
    pipelines_dir,
    postgres_credentials,
    spark_bucket_url,
    warehouse_engine,
    warehouse_path,
)

log = logging.getLogger(__name__)


def duckdb_destination(global_config: dict[str, Any] | None = None) -> Any:
    """A dlt duckdb destination bound to the one warehouse file.

    `global_config` sets DuckDB options on each connection dlt opens, e.g. a `memory_limit`
    so that a large merge spills to disk instead of growing without bound.

    Rows reach DuckDB as Parquet files, not as dlt's default for DuckDB (`insert_values`: SQL
    text that DuckDB parses statement by statement, a quarter of a Zendesk load). The tables,
    column types and values are the same, except that a NUL character in a string is kept,
    where `insert_values` drops it (docs/architecture.md, "How rows reach DuckDB").
    """
    path = warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    credentials: Any = str(path)
    if global_config:
        from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

        credentials = DuckDbCredentials(str(path), global_config=global_config)
    return dlt.destinations.duckdb(credentials, preferred_loader_file_format="parquet")


def destination(duckdb_config: dict[str, Any] | None = None) -> Any:
    """The dlt destination `WAREHOUSE` selects; `duckdb_config` applies to DuckDB only."""
    engine = warehouse_engine()
    if engine == "postgres":
        return dlt.destinations.postgres(credentials=postgres_credentials())
    if engine == "spark":
        # Plain Parquet files, one per table and load (docs/spark.md): merge falls back to
        # append there, and the Spark views apply dlt's merge (macros/spark_sources.sql).
        return dlt.destinations.filesystem(
            spark_bucket_url(), preferred_loader_file_format="parquet"
        )
    return duckdb_destination(duckdb_config)


def make_pipeline(
    pipeline_name: str, dataset_name: str, duckdb_config: dict[str, Any] | None = None
) -> dlt.Pipeline:
    """A dlt pipeline into the warehouse `WAREHOUSE` selects, its state kept beside the file."""
    # Arrow batches skip dlt's row normaliser; without these they would carry no load id, and
    # staging could not tell rows of completed loads from rows a crashed load left behind.
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    dlt.config["normalize.parquet_normalizer.add_dlt_id"] = True
    # Once a load is committed its job files are dead weight (about 90-340 MB per million
    # events, kept forever by default); the package's state and schema stay for dlt.
    dlt.config["load.delete_completed_jobs"] = True
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=destination(duckdb_config),
        dataset_name=dataset_name,
        pipelines_dir=str(pipelines_dir()),
    )


def merge_resource(
    data: Any,
    *,
    name: str,
    primary_key: str,
    columns: Any = None,
    nested_hints: Any = None,
) -> Any:
    """Build a merge resource that may `mark_reject` rows without leaking its hints to them.

    dlt builds a table variant from the resource's hints at the moment it first sees it, so
    registering the rejects variant before the resource's own key and columns keeps
    `rejected_records` free of, e.g., a NOT NULL `id` column that reject rows never have.
    """
    resource = dlt.resource(data, name=name)
    resource.apply_hints(create_table_variant=True, **REJECT_HINTS)
    resource.apply_hints(
        write_disposition="merge",
        primary_key=primary_key,
        columns=columns,
        nested_hints=nested_hints,
    )
    return resource


def with_table(rows: Iterable[Any]) -> Iterator[Any]:
    """`rows`, then dlt's marker that creates the resource's table even when there were none.

    dlt creates a table only once it has seen a row: a form with no responses yet or Zendesk
    without CSAT would leave staging without its raw table. The marker makes dlt create it
    with the hinted columns (and dlt's own `_dlt_load_id`, `_dlt_id`); on later runs it only
    confirms a table that exists.
    """
    yield from rows
    yield dlt.mark.materialize_table_schema()


def table_only() -> Iterator[Any]:
    """A resource's data when its source is not used: no rows, only the empty table."""
    yield dlt.mark.materialize_table_schema()


def column(data_type: TDataType, nullable: bool = True) -> TColumnSchema:
    """Return a fresh column hint: dlt writes into hint dicts, so they must never be shared."""
    hint: TColumnSchema = {"data_type": data_type}
    if not nullable:
        hint["nullable"] = False
    return hint


@functools.cache
def _naming() -> Any:
    """The default dlt naming convention (snake_case), made once."""
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    return NamingConvention()


def extra_column_name(field: str, taken: set[str] | dict[str, Any]) -> str:
    """The column dlt's naming convention makes of `field`, kept clear of `taken` names.

    `_extra` is appended while the name is `taken` (a column the loader fills itself) or
    dlt's own (`_dlt...`).
    """
    column: str = _naming().normalize_identifier(field)
    while column in taken or column.startswith("_dlt"):
        column += "_extra"
    return column


def add_row_counts(pipeline: dlt.Pipeline, row_counts: dict[str, int] | None) -> None:
    """Add the rows per table of the pipeline's last run to `row_counts` (when given)."""
    trace = pipeline.last_trace
    if row_counts is None or trace is None or trace.last_normalize_info is None:
        return
    for table, rows in trace.last_normalize_info.row_counts.items():
        row_counts[table] = row_counts.get(table, 0) + rows


def run_counted(pipeline: dlt.Pipeline, source: Any, row_counts: dict[str, int] | None) -> Any:
    """Run one load and add its rows per table to `row_counts`; return dlt's LoadInfo.

    A package a crashed run left behind is loaded first (`finish_pending_load`), then
    `source` is extracted and loaded as usual.
    """
    finish_pending_load(pipeline, row_counts)
    with settings_read_once():  # the plausibility settings, once for the load's records
        info = pipeline.run(source)
    add_row_counts(pipeline, row_counts)
    return info


def finish_pending_load(pipeline: dlt.Pipeline, row_counts: dict[str, int] | None) -> None:
    """Load the package a crashed run extracted but did not load, and take up its state.

    dlt's `run(source)` with a package pending loads that package and returns without
    extracting `source`: this run's new data would wait for the next run. And a crash
    between dlt committing the package and saving the local state leaves a local state
    older than the package's: the cursors (files read, pages fetched) of that package would
    be read again. After the package is loaded the destination holds its state, which
    `sync_destination` restores when it is newer than the local one.
    """
    drop_committed_extracts(pipeline)
    if not pipeline.has_pending_data:
        return
    pipeline.run()
    add_row_counts(pipeline, row_counts)
    pipeline.sync_destination()


def drop_committed_extracts(pipeline: dlt.Pipeline) -> list[str]:
    """Delete what a killed normalize left of the extracted packages it had already committed.

    dlt's normalize commits a package by moving the normalized copy into the load storage and
    then deleting the extracted one ("Committing storage, do not kill this process"). A kill
    during that delete leaves part of the extracted copy (its `new_jobs` or its schema gone),
    and dlt would normalize it again on every later run and fail (FileNotFoundError): the
    source would be stuck until someone deleted the folder (the same leftover as
    dlt-hub/dlt#4446, from another cause). The package is whole in the load storage, so the
    leftover is only deleted and its rows load once, from there. Returns the load ids of the
    leftovers deleted.
    """
    extracted = pipeline.list_extracted_load_packages()
    if not extracted:  # the usual case: the load storage is not listed
        return []
    committed = {
        *pipeline.list_normalized_load_packages(),
        *pipeline.list_completed_load_packages(),
    }
    leftovers = [load_id for load_id in extracted if load_id in committed]
    if leftovers:
        packages = pipeline._get_normalize_storage().extracted_packages
        for load_id in leftovers:
            packages.delete_package(load_id)
            log.warning(
                "%s: deleted the rest of extracted package %s, which a killed run was"
                " deleting; the run had committed the package, whose rows load once",
                pipeline.pipeline_name,
                load_id,
            )
    return leftovers
