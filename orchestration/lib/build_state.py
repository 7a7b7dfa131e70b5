"""Skip `build_marts` when nothing it reads changed since its last successful run.

A second `productops run` / `make run` with no new data would rebuild and re-test every model,
re-validate every raw table and re-write the report and the dbt docs, for the same marts. The
runner asks `skip_decision` first: the build is skipped only when all of these hold, else it
runs (a stale mart is far worse than a slow run):

- no `--full-refresh`, and `PRODUCTOPS_FORCE_BUILD` is unset (or 0/false/no);
- the warehouse is DuckDB (PostgreSQL and Spark always build: their content is not read here);
- the warehouse holds the fingerprint of the last successful build (`productops.build_state`,
  written only after that build and its blocking checks succeeded, deleted before any build
  starts: a replaced, deleted or half-built warehouse builds again);
- that build is the newest `build_marts` run of this Dagster instance, and it succeeded (a
  build started from the UI or a schedule since then, or another DAGSTER_HOME, builds again);
- the report, the dbt docs page and the published marts file exist;
- the fingerprint now equals it. The fingerprint (`inputs_fingerprint`) is the raw data plus
  everything else a build reads: each raw table's rows without dlt's per-load columns
  (`_dlt_load_id`, `_dlt_id`: the API loaders write a new load every run even when nothing
  changed) and without loader bookkeeping no model or suite reads (Zendesk's `version_order`),
  but with whether the row's load completed, child-table rows with their parent row's
  content; the append-only events by their loads instead (id, rows, completed), not row by
  row; the dbt project's files, dbt's and the adapter's versions, the dbt settings and
  the catalog (`project.dbt_inputs_fingerprint`), the suites in expectations/ and the code
  under orchestration/ (checks, Python marts, report, publishing).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestion.dlt_loads import completed_loads
from ingestion.segment.settings import DATASET_NAME as SEGMENT_DATASET
from ingestion.segment.settings import TABLE_NAME as SEGMENT_TABLE
from ingestion.settings import PROJECT_ROOT, WarehouseSettings
from ingestion.zendesk.settings import VERSION_COLUMN as ZENDESK_VERSION_COLUMN
from orchestration.lib.warehouse import connect_when_free

if TYPE_CHECKING:
    import duckdb

FORCE_BUILD_ENV = "PRODUCTOPS_FORCE_BUILD"
STATE_SCHEMA, STATE_TABLE = "productops", "build_state"
# Besides dbt's project (`dbt_inputs_fingerprint`): what else a build reads.
CODE_FOLDERS = (PROJECT_ROOT / "orchestration", PROJECT_ROOT / "expectations")
CODE_SUFFIXES = (".py", ".json", ".yml", ".yaml")
# Packages whose version can change a check's verdict, a Python mart or a published file.
PACKAGES = ("great-expectations", "dagster", "dagster-dbt", "duckdb", "scipy")
# Settings that say where a build writes what people read.
OUTPUT_SETTINGS = ("MARTS_PATH", "REPORTS_DIR", "GX_DOCS_DIR")
# Tables a loader only appends to, each load's rows written once and never changed (the
# events: a re-delivered message is a new row of a new load): their loads (id, rows, whether
# completed) say what changed, without hashing every row of the whole history each run.
APPEND_ONLY_TABLES = frozenset({(SEGMENT_DATASET, SEGMENT_TABLE)})
# dlt's bookkeeping tables: their changes show in the rows' completed-load flags.
DLT_TABLES = ("_dlt_loads", "_dlt_pipeline_state", "_dlt_version")
# A loader's own bookkeeping columns, read by no model or suite: Zendesk's merge sort key
# (`updated_at#position`) takes a new position when the export re-reads its boundary.
BOOKKEEPING_COLUMNS = frozenset({ZENDESK_VERSION_COLUMN})


@dataclass(frozen=True)
class Decision:
    """Whether `build_marts` runs, and the reason the summary prints."""

    skip: bool
    reason: str
    previous_run_id: str | None = None
    raw_fingerprint: str | None = None


def force_requested() -> bool:
    """`PRODUCTOPS_FORCE_BUILD` set to anything but empty / 0 / false / no."""
    value = os.environ.get(FORCE_BUILD_ENV, "").strip().lower()
    return value not in ("", "0", "false", "no")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _raw_tables(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, list[str]]]:
    """Columns of every table of every raw_* dataset (dlt's staging datasets left out)."""
    rows = con.execute(
        "select c.table_schema, c.table_name, c.column_name from information_schema.columns c "
        "join information_schema.tables t on t.table_schema = c.table_schema "
        "and t.table_name = c.table_name and t.table_catalog = c.table_catalog "
        "where t.table_type = 'BASE TABLE' and c.table_schema like 'raw\\_%' escape '\\' "
        "and c.table_schema not like '%\\_staging' escape '\\' "
        "order by c.table_schema, c.table_name, c.ordinal_position"
    ).fetchall()
    tables: dict[str, dict[str, list[str]]] = {}
    for schema, table, column in rows:
        tables.setdefault(schema, {}).setdefault(table, []).append(column)
    return tables


def _row_sql(
    dataset: str, table: str, tables: dict[str, list[str]], alias: str, completed: bool
) -> tuple[str, str]:
    """(from clause, row-content expression) of one raw table, recursing into its parent.

    The content is the row without dlt's per-load columns, plus whether its load completed
    (root tables) or its parent row's content (child tables, whose load is the root's).
    """
    columns = tables[table]
    kept = [
        c
        for c in columns
        if (not c.startswith("_dlt_") or c == "_dlt_list_idx") and c not in BOOKKEEPING_COLUMNS
    ]
    parts = [f"{alias}.{_quote(c)}" for c in kept]
    source = f"{_quote(dataset)}.{_quote(table)} as {alias}"
    if "_dlt_load_id" in columns and completed:
        parts.append(f"{alias}._dlt_load_id in ({completed_loads(dataset)})")
    elif "_dlt_parent_id" in columns:
        segments = table.split("__")
        parent = next(
            (
                "__".join(segments[:n])
                for n in range(len(segments) - 1, 0, -1)
                if "__".join(segments[:n]) in tables
            ),
            None,
        )
        if parent is not None and "_dlt_id" in tables[parent]:
            parent_from, parent_row = _row_sql(
                dataset, parent, tables, f"{alias}p", completed=completed
            )
            source += f" left join {parent_from} on {alias}p._dlt_id = {alias}._dlt_parent_id"
            parts.append(parent_row)
        else:  # no parent to read: the link itself, so a moved child row still shows
            parts.append(f"{alias}._dlt_parent_id")
    expression = f"hash({', '.join(parts)})" if parts else "0"
    return source, expression


def raw_fingerprint(settings: WarehouseSettings) -> str | None:
    """A digest of every raw table's content (see the module docstring); None if not DuckDB."""
    if settings.engine != "duckdb" or not settings.path.exists():
        return None
    digest = hashlib.sha256()
    with connect_when_free(settings.path, read_only=True) as con:
        for dataset, tables in sorted(_raw_tables(con).items()):
            completed = "_dlt_loads" in tables
            for table in sorted(tables):
                if table in DLT_TABLES:
                    continue
                columns = ",".join(tables[table])
                if (dataset, table) in APPEND_ONLY_TABLES and "_dlt_load_id" in tables[table]:
                    digest.update(f"{dataset}.{table}({columns}):\n".encode())
                    for load in con.execute(_loads_sql(dataset, table, completed)).fetchall():
                        digest.update(f"  {load}\n".encode())
                    continue
                source, row = _row_sql(dataset, table, tables, "t", completed)
                count, total = con.execute(
                    f"select count(*), coalesce(sum({row}), 0) from {source}"
                ).fetchone() or (0, 0)
                digest.update(f"{dataset}.{table}({columns}): {count} {total}\n".encode())
    return digest.hexdigest()


def _loads_sql(dataset: str, table: str, completed: bool) -> str:
    """Rows per load of an append-only table, and whether each load completed."""
    done = f"_dlt_load_id in ({completed_loads(dataset)})" if completed else "false"
    return (
        f"select _dlt_load_id, count(*), {done} from {_quote(dataset)}.{_quote(table)} "
        "group by _dlt_load_id order by _dlt_load_id"
    )


def _code_digest(files: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        if path.is_file() and path.suffix in CODE_SUFFIXES:
            digest.update(f"{path.relative_to(PROJECT_ROOT)}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def project_parts(
    settings: WarehouseSettings, relations: set[tuple[str, str]] | None
) -> dict[str, str] | None:
    """Digests of the dbt inputs and catalog, the suites and code, the versions, the outputs."""
    from importlib.metadata import PackageNotFoundError, version

    from orchestration.lib.project import dbt_inputs_fingerprint

    dbt = dbt_inputs_fingerprint(settings, relations)
    if dbt is None:
        return None
    files = sorted(p for folder in CODE_FOLDERS for p in folder.rglob("*") if p.is_file())
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            versions.append(f"{package} absent")
    outputs = [f"{name}={os.environ.get(name, '')}" for name in OUTPUT_SETTINGS]
    return {
        "dbt project and catalog": dbt,
        "suites and orchestration code": _code_digest(files),
        "package versions": hashlib.sha256("\n".join(versions).encode()).hexdigest(),
        "output settings": hashlib.sha256("\n".join(outputs).encode()).hexdigest(),
    }


def project_fingerprint(
    settings: WarehouseSettings, relations: set[tuple[str, str]] | None
) -> str | None:
    """`project_parts` as one string (`name=digest;...`), so a change can be named."""
    parts = project_parts(settings, relations)
    if parts is None:
        return None
    return ";".join(f"{name}={digest}" for name, digest in parts.items())


def _changed_parts(before: str, now: str | None) -> str:
    """The names of the parts that differ between two `project_fingerprint`s."""
    if now is None:
        return "the project could not be fingerprinted"
    old = dict(part.split("=", 1) for part in before.split(";") if "=" in part)
    new = dict(part.split("=", 1) for part in now.split(";") if "=" in part)
    changed = [name for name in new if old.get(name) != new[name]]
    return ", ".join(changed) or "the fingerprint's form"


@dataclass(frozen=True)
class BuildState:
    """What the last successful build was built from: raw data (before it), the rest (after)."""

    raw: str
    project: str
    run_id: str


def read_state(settings: WarehouseSettings) -> BuildState | None:
    """The last successful build's fingerprints and run id, or None."""
    if settings.engine != "duckdb" or not settings.path.exists():
        return None
    with connect_when_free(settings.path, read_only=True) as con:
        present = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [STATE_SCHEMA, STATE_TABLE],
        ).fetchone()
        if not present or not present[0]:
            return None
        row = con.execute(
            "select raw_fingerprint, project_fingerprint, run_id "
            f"from {STATE_SCHEMA}.{STATE_TABLE} order by built_at desc limit 1"
        ).fetchone()
    return BuildState(str(row[0]), str(row[1]), str(row[2])) if row else None


def _write(settings: WarehouseSettings, row: BuildState | None) -> None:
    """Replace the stored state with `row` (or nothing) in one transaction."""
    if settings.engine != "duckdb" or not settings.path.exists():
        return
    with connect_when_free(settings.path) as con:
        con.execute("begin")
        con.execute(f"create schema if not exists {STATE_SCHEMA}")
        con.execute(
            f"create table if not exists {STATE_SCHEMA}.{STATE_TABLE} "
            "(raw_fingerprint varchar, project_fingerprint varchar, run_id varchar, "
            "built_at timestamptz)"
        )
        con.execute(f"delete from {STATE_SCHEMA}.{STATE_TABLE}")
        if row is not None:
            con.execute(
                f"insert into {STATE_SCHEMA}.{STATE_TABLE} values (?, ?, ?, ?)",
                [row.raw, row.project, row.run_id, datetime.now(UTC)],
            )
        con.execute("commit")


def forget_build(settings: WarehouseSettings) -> None:
    """Before a build starts: a build that fails half-way must never be taken as current.

    Waits for DuckDB's write lock like the summary does (another run may hold it).
    """
    _write(settings, None)


def record_build(settings: WarehouseSettings, state: BuildState) -> None:
    """After a build and its blocking checks succeeded: what it was built from."""
    _write(settings, state)


def _outputs_missing(settings: WarehouseSettings) -> list[Path]:
    from orchestration.lib.publish import published_path
    from orchestration.lib.report import docs_path, report_path

    outputs = [report_path(settings), docs_path(settings), published_path(settings)]
    return [path for path in outputs if not path.exists()]


def skip_decision(
    settings: WarehouseSettings,
    instance: Any,
    job_name: str,
    full_refresh: bool,
    relations: set[tuple[str, str]] | None,
) -> Decision:
    """Whether the build can be skipped (module docstring), with the reason either way."""
    import dagster as dg

    raw = raw_fingerprint(settings)
    if full_refresh:
        return Decision(False, "--full-refresh", raw_fingerprint=raw)
    if force_requested():
        return Decision(False, f"{FORCE_BUILD_ENV} is set", raw_fingerprint=raw)
    if raw is None:
        return Decision(False, f"always built on {settings.engine}", raw_fingerprint=raw)
    state = read_state(settings)
    if state is None:
        return Decision(False, "no successful build recorded in this warehouse", None, raw)
    run_id = state.run_id
    latest = instance.get_runs(filters=dg.RunsFilter(job_name=job_name), limit=1)
    if not latest or latest[0].run_id != run_id:
        return Decision(False, f"{job_name} ran since run {run_id[:8]}", None, raw)
    if latest[0].status != dg.DagsterRunStatus.SUCCESS:
        return Decision(False, f"run {run_id[:8]} did not succeed", None, raw)
    missing = _outputs_missing(settings)
    if missing:
        return Decision(False, f"{missing[0]} is missing", None, raw)
    if raw != state.raw:
        return Decision(False, f"raw data changed since run {run_id[:8]}", None, raw)
    project = project_fingerprint(settings, relations)
    if project != state.project:
        changed = _changed_parts(state.project, project)
        return Decision(False, f"{changed} changed since run {run_id[:8]}", None, raw)
    return Decision(
        True,
        f"no raw table, dbt file, suite or setting changed since run {run_id}",
        run_id,
        raw,
    )
