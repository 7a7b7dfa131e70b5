"""Great Expectations suites (`expectations/*.json`) validated against the warehouse.

Why not GX's SQL datasource: on DuckDB every expectation fails inside GX's SQLAlchemy metrics
(GX issues #10738, #11579). So on DuckDB (`engine="duckdb"`, the default) a table is read into
pandas *in chunks* and each chunk is validated by GX's pandas engine; on PostgreSQL
(`engine="postgres"`) the same suite runs through GX's SQL datasource on the whole table.

How chunking stays correct (bounded memory: one chunk of `chunk_rows` rows, only the columns
the suite names, is in memory at a time):

- The table is split into P = ceil(rows / chunk_rows) partitions by `hash(key) % P`, where key
  is the column(s) of the suite's first uniqueness expectation (the table's grain). Every
  copy of a duplicated key lands in the same partition, so a uniqueness expectation validated
  per partition is exact for the whole table. A further uniqueness expectation on other columns
  gets its own pass, partitioned by its own key, reading only those columns.
- Row-level expectations (not null, in set, between, pair comparisons, ...) are summed over
  chunks: element, missing and unexpected counts add up, `mostly` is re-applied to the totals.
- Table-level ones are recombined: the row count is the sum of the chunks' counts, a column's
  max (min) is the max (min) of the chunks', then the bounds are checked once on the total.
- A type expectation passes when it passes on every chunk (the dtype comes from the table's
  declared type, so it is the same in every chunk).

Timestamps "not in the future" are `expect_column_max_to_be_between` with
`max_value: {"$PARAMETER": ...}`: GX's own suite parameters, filled in at validation time with
now + `ingestion.plausibility.max_future_skew()` (the loaders' own bound, dlt config
`plausibility.max_future_skew_hours`; see `runtime_parameters`), on both engines.

Severity (docs/checks.md): every expectation carries `meta.severity`, `error` (the data would
make a number wrong: blocks the marts) or `warn` (the vendor contract allows it: reported with
counts). A suite's `meta.required_columns` are the columns whose absence is blocking; any other
column a suite names may be absent (dlt creates a column only once a value arrives): its
expectations are skipped and the column is reported absent as a warning. The check's result is
ERROR when a blocking expectation fails, WARN when only warn-level ones do.

Raw tables that grow with history (`BUILT_BY`: the Segment events) are validated by load: only
the rows of completed dlt loads that staging has not built yet (`new_loads_query`). A
stateless rule: the check runs before dbt in `build_marts`, and an ERROR result stops staging,
so a load that failed stays "not built" and is validated again next run until it passes. (A
load whose rows were all re-deliveries keeps no staging row, so it is read again each run: a
few rows.) Uniqueness
is still exact over all history: each uniqueness expectation reads the new rows plus the rows
of older completed loads that share their key (a messageId new in this load that an older
load already has is a duplicate). The row count stays a whole-table figure (cheap). Before
staging exists (first run) the whole table is validated, as every other suite is.

Results are rendered with GX's Data Docs renderer into `data/gx_docs/` (override with
GX_DOCS_DIR): `index.html` plus `validations/<suite>.html`; `data/` is git-ignored.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import html
import json
import math
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg

from ingestion.dlt_loads import completed_loads
from ingestion.plausibility import max_future_skew
from ingestion.settings import (
    PROJECT_ROOT,
    WarehouseSettings,
    postgres_url,
    switched_off,
    warehouse_engine,
    warehouse_path,
)
from orchestration.lib.project import WAREHOUSE_POOL
from orchestration.lib.warehouse import connect_when_free

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from great_expectations.core import ExpectationSuite, ExpectationSuiteValidationResult

SUITES_DIR = PROJECT_ROOT / "expectations"
DEFAULT_DOCS_DIR = PROJECT_ROOT / "data" / "gx_docs"
DEFAULT_CHUNK_ROWS = 200_000
# How long a check waits for a writer (dlt, dbt) to release DuckDB's lock before giving up.
LOCK_TIMEOUT_SECONDS = 300.0

Engine = Literal["duckdb", "postgres", "spark"]
Severity = Literal["error", "warn"]
SEVERITIES: tuple[Severity, ...] = ("error", "warn")

_UNIQUE = {"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"}
_MAX = {"expect_column_max_to_be_between"}
_MIN = {"expect_column_min_to_be_between"}
_ROW_COUNT = {"expect_table_row_count_to_be_between"}
_MAX_PARTIAL = 20
_TYPES = {"expect_column_values_to_be_in_type_list", "expect_column_values_to_be_of_type"}

# Raw tables validated by load, and the staging table whose `dlt_load_id` column lists the dlt
# loads it has built (docs/metrics.md, "Incremental builds"). Only tables that grow with history
# need it; the other raw tables are small and validated whole.
BUILT_BY: Mapping[str, str] = {"raw_segment.events": "staging.stg_segment__events"}


@dataclass(frozen=True)
class Suite:
    """One suite file: its GX JSON and the warehouse table it guards."""

    name: str
    table: str  # "schema.table"
    layer: str  # "raw" or "mart"
    path: Path
    spec: Mapping[str, Any]

    @property
    def asset_key(self) -> dg.AssetKey:
        """The table's Dagster key: raw tables are [dataset, table], marts are [marts, model]."""
        return dg.AssetKey(self.table.split("."))

    @property
    def expectations(self) -> list[dict[str, Any]]:
        """The suite's expectations as GX JSON dicts (type, kwargs, meta)."""
        return list(self.spec["expectations"])

    @property
    def required_columns(self) -> list[str]:
        """Columns whose absence makes a number wrong (keys, required timestamps, domains)."""
        return list(self.spec.get("meta", {}).get("required_columns", []))


def severity_of(expectation: Mapping[str, Any]) -> Severity:
    """An expectation's `meta.severity`; a suite without one is a mistake, named with its fix."""
    value = (expectation.get("meta") or {}).get("severity")
    if value not in SEVERITIES:
        raise ValueError(
            f"expectation {expectation['type']}({_columns(expectation)}) has meta.severity "
            f"{value!r}: set it to 'error' (blocks the marts) or 'warn' (docs/checks.md)"
        )
    return value


@dataclass
class Outcome:
    """What a validation found, flattened for Dagster metadata and tests."""

    suite: str
    table: str
    success: bool
    rows: int
    chunks: int
    evaluated: int
    failed: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    docs_path: Path | None = None
    result: ExpectationSuiteValidationResult | None = None
    absent_columns: list[str] = field(default_factory=list)
    # The dlt loads validated (`new_loads_query`); None when the whole table was.
    loads: list[str] | None = None

    @property
    def blocking_failures(self) -> list[dict[str, Any]]:
        """Failures of `error` expectations (or absent required columns): numbers would be wrong."""
        return [f for f in self.failures if f["severity"] == "error"]

    @property
    def warnings(self) -> list[dict[str, Any]]:
        """Failures the vendor contracts allow: reported with counts, never blocking."""
        return [f for f in self.failures if f["severity"] == "warn"]

    @property
    def severity(self) -> Literal["passed", "warn", "error"]:
        """`error` when any blocking expectation failed, `warn` when only warn-level ones did."""
        if self.blocking_failures:
            return "error"
        return "warn" if self.failures else "passed"

    @property
    def scope(self) -> str:
        """`120 rows`, or `120 rows of 1 new load(s)` when only new loads were validated."""
        if self.loads is None:
            return f"{self.rows} rows"
        return f"{self.rows} rows of {len(self.loads)} new load(s)"

    def describe(self) -> str:
        """One line per failing expectation, naming it, its column, severity and what was seen."""
        if self.success:
            return f"{self.suite}: all {self.evaluated} expectations passed on {self.scope}"
        blocking, warned = len(self.blocking_failures), len(self.warnings)
        head = (
            f"{self.suite}: {blocking} blocking failure(s), {warned} warning(s)"
            if blocking
            else f"{self.suite}: {warned} warning(s), nothing blocking"
        )
        lines = [f"{head} ({self.evaluated} expectations on {self.scope})"]
        for failure in self.blocking_failures + self.warnings:
            level = "ERROR" if failure["severity"] == "error" else "WARN"
            observed = failure["observed"]
            if failure["expectation"] == "expect_column_values_to_not_be_null" and isinstance(
                observed, dict
            ):
                observed = {**observed, "sample": None}  # the unexpected values are all nulls
            lines.append(
                f"- {level} {failure['expectation']}({failure['column']}): "
                f"{_observed_text(observed)}"
            )
        return "\n".join(lines)


def _observed_text(observed: Any) -> str:
    """`3 of 120 rows, e.g. [...]` for row-level results; the observed value otherwise."""
    if isinstance(observed, dict) and "unexpected_count" in observed:
        sample = [v for v in observed.get("sample") or [] if v is not None]  # not-null: all None
        text = f"{observed['unexpected_count']} of {observed.get('element_count')} rows"
        return f"{text}, e.g. {sample}" if sample else text
    if isinstance(observed, str):
        return observed
    return f"observed {observed}"


def load_suites(folder: Path = SUITES_DIR) -> list[Suite]:
    """Every `expectations/*.json`, sorted by name."""
    suites = []
    for path in sorted(folder.glob("*.json")):
        spec = json.loads(path.read_text())
        meta = spec.get("meta", {})
        suites.append(Suite(spec["name"], meta["table"], meta.get("layer", "raw"), path, spec))
    return suites


def runtime_parameters(now: datetime | None = None) -> dict[str, Any]:
    """Suite parameters computed at run time: the latest instant that is not in the future.

    The bound is now + `max_future_skew()`, the same one the loaders set records aside with.

    Timestamps reach pandas as naive UTC (see `_normalise`), so the bound is naive UTC too.
    """
    import pandas as pd

    limit = (now or datetime.now(UTC)).astimezone(UTC) + max_future_skew()
    naive = pd.Timestamp(limit.replace(tzinfo=None))
    return {
        "max_timestamp": naive,
        "max_date": pd.Timestamp(limit.date()),
        "max_epoch_seconds": int(limit.timestamp()),
    }


def docs_dir() -> Path:
    """Where Data Docs go: GX_DOCS_DIR, else data/gx_docs/ (git-ignored with data/)."""
    return Path(os.environ.get("GX_DOCS_DIR", str(DEFAULT_DOCS_DIR)))


def validate_table(
    suite: Suite,
    *,
    engine: Engine | None = None,
    warehouse: Path | None = None,
    connection_string: str | None = None,
    chunk_rows: int | None = None,
    now: datetime | None = None,
    render_to: Path | None = None,
    by_load: bool = True,
) -> Outcome:
    """Validate one suite against its table and render the result as Data Docs.

    `by_load=False` validates a `BUILT_BY` table whole (bench/marts.py compares the two).

    `engine` defaults to the one `WAREHOUSE` selects. On PostgreSQL the suite runs through GX's
    SQL datasource (on the table, or its new loads), connected to `connection_string`
    (default: dlt's `DESTINATION__POSTGRES__CREDENTIALS`, the server everything else uses).
    """
    params = runtime_parameters(now)
    engine = engine or warehouse_engine()  # type: ignore[assignment]
    schema, table = suite.table.split(".")
    if engine == "postgres":
        url = connection_string or postgres_url()
        declared = _postgres_table_facts(url, schema, table, count=False)[0]
    else:
        path = warehouse or warehouse_path()
        with _connect(engine, path) as con:
            declared = _duckdb_columns(con, schema, table)
    if not declared:
        return _table_absent(suite)
    runnable, absent = split_absent(suite, set(declared))
    present = replace(suite, spec={**suite.spec, "expectations": runnable})
    if engine == "postgres":
        result, rows, loads = _validate_sql(present, url, params, by_load)
        chunks = 1
    else:
        size = chunk_rows or int(os.environ.get("GX_CHUNK_ROWS", DEFAULT_CHUNK_ROWS))
        result, rows, chunks, loads = _validate_duckdb(present, path, size, params, engine, by_load)
    result = _empty_bounds_pass(result)
    outcome = _outcome(suite, result, rows, chunks, absent)
    outcome.loads = loads
    outcome.docs_path = render_docs(result, suite, render_to or docs_dir(), outcome.severity)
    return outcome


def split_absent(
    suite: Suite, columns: set[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The expectations whose columns the table has, and one failure per absent column.

    dlt creates a column only once some record has a value for it (a Stripe account whose
    subscriptions all have several items has no top-level `quantity`), so a column a suite
    names may be absent: its expectations are skipped and the absence is reported, blocking
    only for the suite's `required_columns`.
    """
    lowered = {c.lower() for c in columns}
    runnable: list[dict[str, Any]] = []
    skipped: dict[str, list[str]] = {}
    for expectation in suite.expectations:
        missing = [c for c in _columns(expectation) if c.lower() not in lowered]
        if not missing:
            runnable.append(expectation)
        for column in missing:
            skipped.setdefault(column, []).append(expectation["type"])
    failures = [
        {
            "expectation": "expect_column_to_exist",
            "column": column,
            "severity": "error" if column in suite.required_columns else "warn",
            "unexpected_count": None,
            "observed": f"column absent from {suite.table}; skipped {', '.join(kinds)}",
        }
        for column, kinds in skipped.items()
    ]
    required = [c for c in suite.required_columns if c.lower() not in lowered]
    failures += [
        {
            "expectation": "expect_column_to_exist",
            "column": column,
            "severity": "error",
            "unexpected_count": None,
            "observed": f"required column absent from {suite.table}",
        }
        for column in required
        if column not in skipped
    ]
    return runnable, failures


def _empty_bounds_pass(result: Any) -> Any:
    """A max/min bound on a column without any value passes: nothing is in the future.

    GX fails `expect_column_max_to_be_between` when the max is null (an empty table, tickets
    none of which is solved yet); no number can be wrong from a value that is not there.
    """
    import pandas as pd

    changed = False
    for evr in result.results:
        config = evr.expectation_config
        if evr.success or config is None or config.type not in _MAX | _MIN:
            continue
        if (evr.exception_info or {}).get("raised_exception"):
            continue
        observed = (evr.result or {}).get("observed_value")
        if observed is None or bool(pd.isna(observed)):
            evr.success = True
            changed = True
    if changed:
        result = _suite_result(result, list(result.results))
    return result


def _table_absent(suite: Suite) -> Outcome:
    """A table not created yet: the source delivered no record, so nothing can be wrong yet."""
    failure = {
        "expectation": "expect_table_to_exist",
        "column": None,
        "severity": "warn",
        "unexpected_count": None,
        "observed": f"table {suite.table} is absent: its source has delivered no record yet",
    }
    return Outcome(
        suite=suite.name,
        table=suite.table,
        success=False,
        rows=0,
        chunks=0,
        evaluated=0,
        failed=1,
        failures=[failure],
    )


# --- Validated by load ----------------------------------------------------------------------


def new_loads_query(suite: Suite) -> str | None:
    """SQL for the completed dlt loads of the suite's table that staging has not built yet.

    None when the table is validated whole (not in `BUILT_BY`). The same query runs on DuckDB,
    PostgreSQL and the Spark warehouse's Parquet files (DuckDB views over them).
    """
    built = BUILT_BY.get(suite.table)
    if built is None:
        return None
    dataset = suite.table.split(".")[0]
    built_schema, built_table = built.split(".")
    return (
        f"{completed_loads(dataset)} and load_id not in (select distinct dlt_load_id"
        f" from {_quote(built_schema)}.{_quote(built_table)} where dlt_load_id is not null)"
        " order by load_id"
    )


def _built_by_exists(suite: Suite, columns_of: Any) -> bool:
    """Staging has been built (it has a `dlt_load_id` column): else the table is validated whole.

    `columns_of(schema, table)` returns the declared columns of a table (empty when absent).
    """
    built = BUILT_BY.get(suite.table)
    if built is None:
        return False
    return "dlt_load_id" in columns_of(*built.split("."))


def _in_loads(load_ids: list[str]) -> str:
    """The rows of these loads, load ids as literals (DuckDB skips older row groups by them)."""
    if not load_ids:
        return "1 = 0"
    literals = ", ".join("'" + load_id.replace("'", "''") + "'" for load_id in load_ids)
    return f"_dlt_load_id in ({literals})"


def _completed(suite: Suite) -> str:
    """Rows of completed loads only (a crashed load's rows count nowhere)."""
    return f"_dlt_load_id in ({completed_loads(suite.table.split('.')[0])})"


def _key_rows(suite: Suite, table: str, key: list[str], new_rows: str) -> str:
    """New rows, plus rows of older completed loads with a key value some new row has."""
    match = " and ".join(f"new_rows.{_quote(c)} = every_row.{_quote(c)}" for c in key)
    return (
        f"select * from {table} as every_row where ({new_rows}) or ({_completed(suite)}"
        f" and exists (select 1 from {table} as new_rows where ({new_rows}) and {match}))"
    )


def _whole_row_count(result: Any, total: int, params: Mapping[str, Any]) -> Any:
    """Row-count expectations judged on the whole table's count, the rest left as they are."""
    for evr in result.results:
        config = evr.expectation_config
        if config is None or config.type not in _ROW_COUNT:
            continue
        evr.result["observed_value"] = total
        evr.success = _within(total, config.kwargs, params)
    return _suite_result(result, list(result.results))


# --- GX plumbing -------------------------------------------------------------------------


def _gx_suite(suite: Suite, expectations: list[dict[str, Any]]) -> ExpectationSuite:
    from great_expectations.core import ExpectationSuite
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    gx_suite = ExpectationSuite(name=suite.name, meta=dict(suite.spec.get("meta", {})))
    for expectation in expectations:
        gx_suite.add_expectation_configuration(
            ExpectationConfiguration(
                # An id of our own: chunk results are matched back to expectations by it.
                id=str(uuid.uuid4()),
                type=expectation["type"],
                kwargs=copy.deepcopy(expectation["kwargs"]),
                meta=expectation.get("meta") or {},
            )
        )
    return gx_suite


def _quiet_context() -> Any:
    """An ephemeral GX context without progress bars.

    GX draws a "Calculating Metrics" tqdm bar per validation, hundreds of fragments in a run's
    output; the data context's `progress_bars` setting turns them off.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


class _PandasValidator:
    """An ephemeral GX context with one pandas dataframe asset, reused for every chunk."""

    def __init__(self) -> None:
        self.context = _quiet_context()
        source = self.context.data_sources.add_pandas("warehouse")
        self.batch_definition = source.add_dataframe_asset(
            "chunk"
        ).add_batch_definition_whole_dataframe("whole_chunk")

    def validate(
        self, frame: pd.DataFrame, suite: ExpectationSuite, params: Mapping[str, Any]
    ) -> ExpectationSuiteValidationResult:
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        return batch.validate(suite, expectation_parameters=dict(params))


def _validate_sql(
    suite: Suite, connection_string: str, params: Mapping[str, Any], by_load: bool = True
) -> tuple[ExpectationSuiteValidationResult, int, list[str] | None]:
    """The same suite through GX's SQL datasource (PostgreSQL): result, rows, loads validated.

    By load (`new_loads_query`): the type and row-count expectations run on the table asset (column
    types are read from the catalogue, the count is whole), the other expectations on a query
    asset of the new rows, each uniqueness expectation on a query asset of the new rows plus
    the older rows sharing its key.
    """
    import pandas as pd

    context = _quiet_context()
    schema, table = suite.table.split(".")
    source = context.data_sources.add_postgres("warehouse", connection_string=connection_string)
    # A column may be `timestamptz` (dlt's, or a contract's) or `timestamp`: Python cannot
    # compare a naive bound with an aware value, so timestamptz columns get an aware bound.
    loads = _postgres_new_loads(suite, connection_string) if by_load else None
    types, rows = _postgres_table_facts(connection_string, schema, table, count=loads is None)
    aware = {name for name, data_type in types.items() if data_type == "timestamp with time zone"}
    expectations = copy.deepcopy(suite.expectations)
    for expectation in expectations:
        kwargs = expectation["kwargs"]
        if (
            kwargs.get("max_value") == {"$PARAMETER": "max_timestamp"}
            and kwargs.get("column") in aware
        ):
            kwargs["max_value"] = {"$PARAMETER": "max_timestamptz"}
    parameters = dict(params)
    parameters["max_timestamptz"] = pd.Timestamp(params["max_timestamp"]).tz_localize(UTC)
    asset = source.add_table_asset(suite.name, table_name=table, schema_name=schema)
    if loads is None:
        batch = asset.add_batch_definition_whole_table("whole_table").get_batch()
        result = batch.validate(_gx_suite(suite, expectations), expectation_parameters=parameters)
        return result, rows, None
    quoted = f"{_quote(schema)}.{_quote(table)}"
    new_rows = _in_loads(loads)
    groups: list[tuple[Any, list[dict[str, Any]]]] = [
        (asset, [e for e in expectations if e["type"] in _TYPES | _ROW_COUNT]),
        (
            source.add_query_asset(
                f"{suite.name}__new_rows", query=f"select * from {quoted} where {new_rows}"
            ),
            [e for e in expectations if e["type"] not in _TYPES | _ROW_COUNT | _UNIQUE],
        ),
    ]
    for index, expectation in enumerate(e for e in expectations if e["type"] in _UNIQUE):
        query = _key_rows(suite, quoted, _columns(expectation), new_rows)
        groups.append(
            (source.add_query_asset(f"{suite.name}__key_rows_{index}", query=query), [expectation])
        )
    by_expectation: dict[int, Any] = {}
    first = None
    for group_asset, group in groups:
        if not group:
            continue
        batch = group_asset.add_batch_definition_whole_table("rows").get_batch()
        gx_suite = _gx_suite(suite, group)
        result = batch.validate(gx_suite, expectation_parameters=parameters)
        first = first or result
        for expectation, evr in zip(group, _in_order(result, gx_suite), strict=True):
            by_expectation[id(expectation)] = evr
    assert first is not None
    merged = _suite_result(first, [by_expectation[id(e)] for e in expectations])
    with _postgres(connection_string) as cursor:
        cursor.execute(f"select count(*) from {quoted} where {new_rows}")
        new_count = int(cursor.fetchone()[0])
    return merged, new_count, loads


@contextlib.contextmanager
def _postgres(connection_string: str) -> Iterator[Any]:
    """A cursor on a new connection, closed (with the connection) when the block ends."""
    import psycopg2

    con = psycopg2.connect(connection_string)
    try:
        with con.cursor() as cursor:
            yield cursor
    finally:
        con.close()


def _postgres_new_loads(suite: Suite, connection_string: str) -> list[str] | None:
    """`new_loads_query` on PostgreSQL; None when the table is validated whole."""
    query = new_loads_query(suite)
    if query is None:
        return None

    def columns_of(schema: str, table: str) -> dict[str, str]:
        return _postgres_table_facts(connection_string, schema, table, count=False)[0]

    if not _built_by_exists(suite, columns_of):
        return None
    with _postgres(connection_string) as cursor:
        cursor.execute(query)
        return [str(row[0]) for row in cursor.fetchall()]


def _postgres_table_facts(
    connection_string: str, schema: str, table: str, *, count: bool = True
) -> tuple[dict[str, str], int]:
    """A table's column types and (with `count`) its row count, over one connection."""
    import psycopg2
    from psycopg2 import sql

    with psycopg2.connect(connection_string) as con, con.cursor() as cursor:
        cursor.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s",
            (schema, table),
        )
        types = {name: data_type for name, data_type in cursor.fetchall()}
        if not count or not types:
            return types, 0
        cursor.execute(
            sql.SQL("select count(*) from {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
        )
        return types, int(cursor.fetchone()[0])


# --- DuckDB: bounded-memory reads -----------------------------------------------------------


def _duckdb_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    """A table's columns and their declared types; empty when the table does not exist."""
    return dict(
        con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    )


def _columns(expectation: Mapping[str, Any]) -> list[str]:
    kwargs = expectation["kwargs"]
    cols = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
    return cols + list(kwargs.get("column_list", []))


def _passes(suite: Suite) -> list[tuple[list[str], list[dict[str, Any]]]]:
    """Split the suite into passes: (partition key, expectations validated in that pass)."""
    uniques = [e for e in suite.expectations if e["type"] in _UNIQUE]
    key = _columns(uniques[0]) if uniques else []
    main = [e for e in suite.expectations if e["type"] not in _UNIQUE or _columns(e) == key]
    extra = [e for e in uniques if _columns(e) != key]
    return [(key, main)] + [(_columns(e), [e]) for e in extra]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _normalise(frame: pd.DataFrame, types: Mapping[str, str]) -> pd.DataFrame:
    """Give each column the pandas dtype of its declared DuckDB type, the same in every chunk.

    Without this an integer column with a null becomes float64 in one chunk and int64 in the
    next, and pandas 3's `str` dtype is unknown to GX 1.24's type check. Timestamps with time
    zone become naive UTC, which GX's type check and `$PARAMETER` bounds both handle.
    """
    import pandas as pd

    for column in frame.columns:
        declared = types[column].upper()
        if declared in {
            "BIGINT",
            "INTEGER",
            "SMALLINT",
            "TINYINT",
            "UBIGINT",
            "UINTEGER",
            "HUGEINT",
        }:
            frame[column] = frame[column].astype("Int64")
        elif declared == "BOOLEAN":
            frame[column] = frame[column].astype("boolean")
        elif declared in {"VARCHAR", "JSON", "UUID"}:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
        elif declared.startswith("TIMESTAMP WITH TIME ZONE"):
            frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
        elif declared == "DATE":
            frame[column] = pd.to_datetime(frame[column])
        elif declared.startswith("DECIMAL"):
            frame[column] = frame[column].astype("float64")
    return frame


def _chunks(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: list[str],
    key: list[str],
    rows: int,
    chunk_rows: int,
    types: Mapping[str, str],
) -> Iterator[pd.DataFrame]:
    """Partitions of at most about chunk_rows rows; by hash of the key when there is one.

    `table` is a table name or a parenthesised query with an alias (the rows to validate).
    """
    select = ", ".join(_quote(c) for c in columns)
    parts = max(1, math.ceil(rows / chunk_rows))
    if parts == 1:
        yield _normalise(con.execute(f"select {select} from {table}").fetch_df(), types)
    elif key:
        hashed = f"hash({', '.join(_quote(c) for c in key)}) % {parts}"
        for part in range(parts):
            frame = con.execute(
                f"select {select} from {table} where {hashed} = ?", [part]
            ).fetch_df()
            yield _normalise(frame, types)
    else:
        cursor = con.execute(f"select {select} from {table}")
        vectors = max(1, chunk_rows // 2048)  # fetch_df_chunk counts DuckDB vectors of 2048 rows
        while len(frame := cursor.fetch_df_chunk(vectors)):
            yield _normalise(frame, types)


def _connect(engine: str | None, path: Path) -> duckdb.DuckDBPyConnection:
    """The DuckDB file; on Spark an in-memory DuckDB over its Parquet files (docs/spark.md)."""
    if engine == "spark":
        from ingestion.parquet_files import duckdb_over_parquet

        return duckdb_over_parquet(spark_home=path.parent / "spark")
    return connect_when_free(path, read_only=True, timeout=LOCK_TIMEOUT_SECONDS)


def _validate_duckdb(
    suite: Suite,
    warehouse: Path,
    chunk_rows: int,
    params: Mapping[str, Any],
    engine: str | None = "duckdb",
    by_load: bool = True,
) -> tuple[ExpectationSuiteValidationResult, int, int, list[str] | None]:
    """The suite on the table's rows (or its new loads'), in chunks: result, rows, chunks, loads."""
    validator = _PandasValidator()
    schema, name = suite.table.split(".")
    table = f"{_quote(schema)}.{_quote(name)}"
    partials: dict[int, list[Any]] = {}  # expectation index -> its result in each chunk
    first_result = None
    chunks = 0
    with _connect(engine, warehouse) as con:
        declared = _duckdb_columns(con, schema, name)
        if not declared:
            raise LookupError(f"table {suite.table} is not in {warehouse}")
        total = con.execute(f"select count(*) from {table}").fetchone()[0]  # type: ignore[index]
        loads: list[str] | None = None
        query = new_loads_query(suite) if by_load else None
        if query and _built_by_exists(suite, lambda s, t: _duckdb_columns(con, s, t)):
            loads = [str(row[0]) for row in con.execute(query).fetchall()]
        order = {id(e): i for i, e in enumerate(suite.expectations)}
        rows = total
        for key, expectations, source in _sources(suite, table, loads):
            needed = list(dict.fromkeys(c for e in expectations for c in _columns(e)))
            # Absent columns were split off before (`split_absent`); a pass without columns
            # (the row count) still reads one column.
            present = [c for c in needed if c in declared] or [next(iter(declared))]
            gx_suite = _gx_suite(suite, expectations)
            count = con.execute(f"select count(*) from {source}").fetchone()[0]  # type: ignore[index]
            if source == table or not key:
                rows = count  # the rows the suite was validated on (not the extra key rows)
            for frame in _chunks(con, source, present, key, count, chunk_rows, declared):
                chunks += 1
                result = validator.validate(frame, gx_suite, params)
                first_result = first_result or result
                for expectation, evr in zip(expectations, _in_order(result, gx_suite), strict=True):
                    partials.setdefault(order[id(expectation)], []).append(evr)
    assert first_result is not None
    merged = [_merge(suite.expectations[i], partials[i], params) for i in sorted(partials)]
    result = _suite_result(first_result, merged)
    if loads is not None:
        result = _whole_row_count(result, total, params)
    return result, rows, chunks, loads


def _sources(
    suite: Suite, table: str, loads: list[str] | None
) -> list[tuple[list[str], list[dict[str, Any]], str]]:
    """The passes (partition key, expectations, rows to read) over the table or its new loads.

    Whole table: `_passes`. By load: one pass of every expectation but uniqueness on the new
    rows, and one per uniqueness expectation on the new rows plus the older rows sharing a key.
    """
    if loads is None:
        return [(key, expectations, table) for key, expectations in _passes(suite)]
    new_rows = _in_loads(loads)
    plain = [e for e in suite.expectations if e["type"] not in _UNIQUE]
    sources: list[tuple[list[str], list[dict[str, Any]], str]] = [
        ([], plain, f"(select * from {table} where {new_rows}) as new_rows")
    ]
    for expectation in suite.expectations:
        if expectation["type"] in _UNIQUE:
            key = _columns(expectation)
            rows = _key_rows(suite, table, key, new_rows)
            sources.append((key, [expectation], f"({rows}) as key_rows"))
    return [source for source in sources if source[1]]


def _in_order(result: ExpectationSuiteValidationResult, gx_suite: ExpectationSuite) -> list[Any]:
    """Results in the suite's order (GX may reorder them), matched by expectation id."""
    by_id = {r.expectation_config.id: r for r in result.results if r.expectation_config}
    return [by_id[e.id] for e in gx_suite.expectations]


# --- Recombining chunk results ------------------------------------------------------------


def _merge(expectation: Mapping[str, Any], parts: list[Any], params: Mapping[str, Any]) -> Any:
    """One expectation's result for the whole table from its per-chunk results."""
    merged = copy.deepcopy(parts[0])
    if len(parts) == 1:
        return merged
    kind = expectation["type"]
    raised = [p for p in parts if (p.exception_info or {}).get("raised_exception")]
    if raised:
        return copy.deepcopy(raised[0])
    results = [p.result or {} for p in parts]
    if kind in _ROW_COUNT | _MAX | _MIN:
        observed_values: list[Any] = [
            v for v in (r.get("observed_value") for r in results) if v is not None and v == v
        ]
        if kind in _ROW_COUNT:
            observed = sum(observed_values)
        elif not observed_values:
            observed = None
        else:
            observed = max(observed_values) if kind in _MAX else min(observed_values)
        merged.result["observed_value"] = observed
        merged.success = _within(observed, expectation["kwargs"], params)
    elif "element_count" in results[0] and "unexpected_count" in results[0]:
        totals = {
            k: sum(int(r.get(k) or 0) for r in results)
            for k in ("element_count", "missing_count", "unexpected_count")
        }
        merged.result.update(totals)
        present = totals["element_count"] - totals["missing_count"]
        share = totals["unexpected_count"] / present if present else 0.0
        merged.result["unexpected_percent"] = 100.0 * share
        merged.result["unexpected_percent_nonmissing"] = 100.0 * share
        if totals["element_count"]:
            merged.result["missing_percent"] = (
                100.0 * totals["missing_count"] / totals["element_count"]
            )
        merged.result["partial_unexpected_list"] = [
            v for r in results for v in r.get("partial_unexpected_list", [])
        ][:_MAX_PARTIAL]
        merged.result.pop("partial_unexpected_counts", None)
        merged.result.pop("partial_unexpected_index_list", None)
        mostly = expectation["kwargs"].get("mostly", 1.0)
        merged.success = (1.0 - share) >= mostly if present else True
    else:
        merged.success = all(p.success for p in parts)
        failing = next((p for p in parts if not p.success), None)
        if failing is not None:
            merged.result = copy.deepcopy(failing.result)
    return merged


def _within(observed: Any, kwargs: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    def resolve(bound: Any) -> Any:
        return params[bound["$PARAMETER"]] if isinstance(bound, dict) else bound

    low, high = resolve(kwargs.get("min_value")), resolve(kwargs.get("max_value"))
    if observed is None:
        return False
    if low is not None and (observed < low if not kwargs.get("strict_min") else observed <= low):
        return False
    return not (
        high is not None and (observed > high if not kwargs.get("strict_max") else observed >= high)
    )


def _suite_result(template: Any, results: list[Any]) -> Any:
    merged = copy.deepcopy(template)
    merged.results = results
    evaluated = len(results)
    passed = sum(1 for r in results if r.success)
    merged.success = passed == evaluated
    merged.statistics = {
        "evaluated_expectations": evaluated,
        "successful_expectations": passed,
        "unsuccessful_expectations": evaluated - passed,
        "success_percent": 100.0 * passed / evaluated if evaluated else None,
    }
    return merged


def _outcome(
    suite: Suite, result: Any, rows: int, chunks: int, absent: list[dict[str, Any]]
) -> Outcome:
    failures = []
    for evr in result.results:
        if evr.success:
            continue
        config = evr.expectation_config
        kwargs = config.kwargs
        info = evr.exception_info or {}
        observed: Any
        if info.get("raised_exception"):
            observed = f"error: {str(info.get('exception_message'))[:200]}"
        elif "observed_value" in (evr.result or {}):
            observed = evr.result["observed_value"]
        else:
            observed = {
                "unexpected_count": evr.result.get("unexpected_count"),
                "element_count": evr.result.get("element_count"),
                "sample": evr.result.get("partial_unexpected_list", [])[:5],
            }
        unexpected = (evr.result or {}).get("unexpected_count")
        meta = {"meta": config.meta}
        failures.append(
            {
                "expectation": config.type,
                "column": kwargs.get("column")
                or kwargs.get("column_list")
                or ([kwargs["column_A"], kwargs.get("column_B")] if "column_A" in kwargs else None),
                "severity": severity_of({"type": config.type, "kwargs": kwargs, **meta}),
                "unexpected_count": None if unexpected is None else int(unexpected),
                "observed": _plain(observed),
            }
        )
    failures += absent
    stats = result.statistics
    return Outcome(
        suite=suite.name,
        table=suite.table,
        success=bool(result.success) and not absent,
        rows=rows,
        chunks=chunks,
        evaluated=int(stats["evaluated_expectations"]),
        failed=len(failures),
        failures=failures,
        result=result,
        absent_columns=[str(f["column"]) for f in absent],
    )


def _plain(value: Any) -> Any:
    """JSON-friendly observed values for Dagster metadata."""
    import numpy as np

    def default(item: Any) -> Any:
        return item.item() if isinstance(item, np.generic) else str(item)

    return json.loads(json.dumps(value, default=default))


# --- Data Docs ----------------------------------------------------------------------------


def render_docs(result: Any, suite: Suite, folder: Path, severity: str | None = None) -> Path:
    """Write GX's Data Docs validation page for this suite and refresh the index.

    `severity` (`passed`, `warn`, `error`) is the check's verdict, which also counts absent
    columns; without it the GX result's success decides.
    """
    from great_expectations.render.renderer import ValidationResultsPageRenderer

    page = folder / "validations" / f"{suite.name}.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    _missing_as_none(result)
    page.write_text(_page_view().render(ValidationResultsPageRenderer().render(result)))
    status = folder / "validations" / f"{suite.name}.status.json"
    status.write_text(
        json.dumps(
            {
                "suite": suite.name,
                "table": suite.table,
                "success": bool(result.success),
                "severity": severity or ("passed" if result.success else "error"),
                "statistics": result.statistics,
                "validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
    )
    _render_index(folder)
    return page


@functools.cache
def _page_view() -> Any:
    """One GX page view for every Data Docs page this process renders.

    Each view has its own Jinja environment, which compiles the page's 17 templates on first
    use: a new view per page spent about a quarter of each check's time compiling them again.
    """
    from great_expectations.render.view import DefaultJinjaPageView

    return DefaultJinjaPageView()


# Sample values GX keeps per expectation result; pandas batches put pd.NA/NaN/NaT in them.
_SAMPLE_KEYS = ("partial_unexpected_list", "partial_unexpected_counts", "unexpected_list")


def _missing_as_none(result: Any) -> None:
    """Replace pandas' missing markers in `result`'s sample values with None, in place.

    GX's page renderer compares each sample value with "" and pd.NA refuses a truth value
    ("boolean value of NA is ambiguous"): the unexpected values of a not-null expectation on
    a nullable column then printed a traceback on every run and left that table out of the
    page. None renders as "null".
    """
    import pandas as pd

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, list):
            return [clean(item) for item in value]
        try:
            missing = value is not None and bool(pd.isna(value))
        except (TypeError, ValueError):  # an array-like value: not a marker
            missing = False
        return None if missing else value

    for expectation in getattr(result, "results", None) or []:
        details = expectation.result
        for key in _SAMPLE_KEYS:
            if details and key in details:
                details[key] = clean(details[key])


_VERDICT = {"passed": "passed", "warn": "passed with warnings", "error": "<b>FAILED</b>"}


def _render_index(folder: Path) -> None:
    rows = []
    for status_file in sorted((folder / "validations").glob("*.status.json")):
        status = json.loads(status_file.read_text())
        stats = status["statistics"]
        rows.append(
            f"<tr><td><a href='validations/{html.escape(status['suite'])}.html'>"
            f"{html.escape(status['table'])}</a></td>"
            f"<td>{_VERDICT[status.get('severity', 'passed' if status['success'] else 'error')]}"
            "</td>"
            f"<td>{stats['successful_expectations']}/{stats['evaluated_expectations']}</td>"
            f"<td>{html.escape(status['validated_at'])}</td></tr>"
        )
    (folder / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Data Docs</title></head><body>"
        "<h1>Great Expectations: latest validation per table</h1><table border='1'>"
        "<tr><th>table</th><th>result</th><th>passed</th><th>validated at (UTC)</th></tr>"
        + "".join(rows)
        + "</table></body></html>\n"
    )


# --- Dagster ------------------------------------------------------------------------------


def build_gx_check(
    suite: Suite, settings: WarehouseSettings | None = None
) -> dg.AssetChecksDefinition:
    """An asset check for one suite; blocking on raw tables, so bad raw data stops the marts.

    Only an ERROR result blocks (a failed `error` expectation or an absent required column);
    a WARN result (what the vendor contracts allow) lets the marts build and carries the counts
    in its metadata: `severity`, `warnings`, `blocking_failures`, `absent_columns` and one entry
    per failure in `failing_expectations` (expectation, column, severity, unexpected_count,
    observed). It validates the warehouse of `settings` (default: the environment's).
    """
    blocking = suite.layer == "raw"
    settings = settings or WarehouseSettings.from_env()
    on_postgres = settings.engine == "postgres"

    @dg.asset_check(
        asset=suite.asset_key,
        name="great_expectations",
        description=f"Great Expectations suite {suite.path.name} on {suite.table}",
        blocking=blocking,
        # Same pool as the dlt and dbt steps: never open the file while one of them writes it.
        pool=WAREHOUSE_POOL,
        metadata={
            "suite": str(suite.path.relative_to(PROJECT_ROOT)),
            "engine": {"postgres": "postgres+sql", "spark": "parquet+pandas"}.get(
                settings.engine, "duckdb+pandas"
            ),
        },
    )
    # Unannotated: dagster cannot read string annotations (this module uses postponed ones).
    def _check(context) -> dg.AssetCheckResult:  # noqa: ANN001
        unused = unused_source_of(suite)
        if unused is not None:  # its tables are empty on purpose: nothing to validate
            note = f"not used ({switched_off(unused)}): not validated"
            context.log.info(f"{suite.table}: {note}")
            return dg.AssetCheckResult(
                passed=True, description=note, metadata={"source_used": False}
            )
        outcome = validate_table(
            suite,
            engine=settings.engine,  # type: ignore[arg-type]
            warehouse=settings.path,
            connection_string=settings.postgres_url() if on_postgres else None,
        )
        if outcome.severity == "warn":
            context.log.warning(outcome.describe())
        else:
            context.log.info(outcome.describe())
        return check_result(outcome)

    return _check


def unused_source_of(suite: Suite) -> str | None:
    """The source of a raw suite's table when the team does not use it, else None."""
    from ingestion.sources import SOURCE_SYSTEMS

    if suite.layer != "raw":
        return None
    dataset = suite.table.split(".")[0]
    for system in SOURCE_SYSTEMS:
        if system.dataset == dataset and not system.enabled():
            return system.name
    return None


def check_result(outcome: Outcome) -> dg.AssetCheckResult:
    """The Dagster result of a validation: ERROR only when a blocking expectation failed."""
    metadata: dict[str, Any] = {
        "severity": outcome.severity,
        "blocking_failures": len(outcome.blocking_failures),
        "warnings": len(outcome.warnings),
        "expectations_evaluated": outcome.evaluated,
        "expectations_failed": outcome.failed,
        "rows_validated": outcome.rows,
        "chunks": outcome.chunks,
        "absent_columns": dg.MetadataValue.json(outcome.absent_columns),
        "failing_expectations": dg.MetadataValue.json(outcome.failures),
    }
    if outcome.docs_path is not None:
        metadata["data_docs"] = dg.MetadataValue.path(str(outcome.docs_path))
    return dg.AssetCheckResult(
        passed=outcome.success,
        severity=(
            dg.AssetCheckSeverity.ERROR
            if outcome.severity == "error"
            else dg.AssetCheckSeverity.WARN
        ),
        description=outcome.describe()[:2000],
        metadata=metadata,
    )


def build_gx_checks(
    suites: list[Suite] | None = None, settings: WarehouseSettings | None = None
) -> list[dg.AssetChecksDefinition]:
    """One asset check per suite in expectations/ (or the given suites)."""
    return [
        build_gx_check(suite, settings)
        for suite in (suites if suites is not None else load_suites())
    ]
