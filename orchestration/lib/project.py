"""The dbt project as dagster-dbt sees it, prepared for one warehouse, and shared constants."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from functools import cached_property
from importlib.metadata import version
from pathlib import Path
from typing import Any

from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject
from filelock import FileLock
from packaging.version import Version

from ingestion.settings import WarehouseSettings
from orchestration.lib import startup
from orchestration.lib.startup import (
    DBT_EXECUTABLE,
    DBT_INPUT_FILES,
    DBT_INPUT_FOLDERS,
    DBT_PROJECT_DIR,
    PARSE_ARTIFACTS,
    STAMP_PATH,
    dbt_env,
    load_project_env,
    manifest_is_current,
    stamp_text,
    warehouse_identity,
)
from orchestration.lib.warehouse import read_cursor

OWNERS = ["team:data-engineering"]
# Every step that opens the warehouse for writing shares this pool; dagster.yaml gives it one
# slot, so two runs started together queue their writes instead of failing on DuckDB's lock.
# The runner's own opens between and after its runs take it too (`recovery.warehouse_turn`).
WAREHOUSE_POOL = "warehouse"
# dagster-dbt gives each `dbt build` its own target folder (11-13 MB); keep the newest few.
DBT_TARGETS_KEPT = 5
# A dbt target folder written to this recently may belong to a build still running elsewhere.
DBT_TARGET_BUSY_SECONDS = 3600.0
# Longest wait for another process that is parsing the dbt project (a parse takes ~10 s).
PREPARE_LOCK_SECONDS = 600
# Warehouses whose manifest `dagster dev` already prepared in this process: every defs module
# asks for the project, and one parse per load is enough.
_PREPARED_IN_DEV: set[str] = set()


class ProductOpsDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt resource without two start-up costs this project never uses.

    For every `dbt` command, dagster-dbt (0.29) first runs `dbt --version`, a whole dbt process
    that also asks PyPI for newer releases (2-4 s, and a network call on every run), and builds
    an adapter inside this process (loads the profile and every macro, 2-3 s) that serves only
    `fetch_row_counts` and `fetch_column_metadata`, which this project does not call (dbt holds
    DuckDB's write lock meanwhile). The dbt run is DBT_EXECUTABLE, the venv's own, so its
    version is the installed dbt-core package's. tests/test_run_steps.py fails if a dagster-dbt
    upgrade renames either hook (or the preparer's, `ProductOpsDbtProjectPreparer`).
    """

    @cached_property
    def _cli_version(self) -> Version:
        return Version(version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        return None


class ProductOpsDbtProjectPreparer(DagsterDbtProjectPreparer):
    """dagster-dbt's preparation (`dbt parse`, the manifest) through `ProductOpsDbtCliResource`."""

    def _prepare_manifest(self, project: DbtProject) -> None:
        resource = ProductOpsDbtCliResource(
            project_dir=project,  # type: ignore[arg-type]  # __init__ takes a DbtProject
            dbt_executable=DBT_EXECUTABLE,
        )
        resource.cli(self._prepare_project_cli_args, target_path=project.target_path).wait()
        # dagster-dbt's own preparation then marks every seed changed in the partial-parse
        # file, for a manifest parsed in one folder (CI) and used in another (a container),
        # where the seeds' stored folder is wrong. Here the manifest is parsed in the folder
        # that uses it, and the stamp names that folder (`startup.stamp_text`): a moved project
        # parses again. Marking them changed made every `dbt build` parse the seeds and the
        # models that read them again (1-2 s).


def warehouse_settings() -> WarehouseSettings:
    """The warehouse settings every Dagster definition is built with: `.env`, then the env."""
    load_project_env()
    return WarehouseSettings.from_env()


def prune_dbt_targets(
    keep: int = DBT_TARGETS_KEPT, busy_seconds: float = DBT_TARGET_BUSY_SECONDS
) -> list[Path]:
    """Delete all but the newest `keep` per-run dbt target folders; return what was deleted.

    A folder written to in the last `busy_seconds` (itself or a file or folder directly in it)
    is kept whatever its rank: another run's `dbt build` (a schedule beside a manual run, a
    second test process) may still be writing or reading it.
    """
    target = DBT_PROJECT_DIR / "target"
    if not target.is_dir():
        return []
    runs = [p for p in target.iterdir() if p.is_dir() and p.name.startswith("productops_dbt-")]
    runs.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    now = time.time()
    old = [p for p in runs[keep:] if now - _last_written(p) > busy_seconds]
    for folder in old:
        shutil.rmtree(folder, ignore_errors=True)
    return old


def _last_written(folder: Path) -> float:
    """The newest modification time of `folder` and the entries directly in it."""
    times = [folder.stat().st_mtime]
    with suppress(OSError):
        times += [entry.stat().st_mtime for entry in folder.iterdir()]
    return max(times)


@contextmanager
def scoped_env(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block and restore what was there."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def dbt_process_env(settings: WarehouseSettings) -> AbstractContextManager[None]:
    """While a dbt process starts: its warehouse settings, and the venv's `dbt` first on PATH.

    dagster-dbt starts dbt with this process's environment and takes no `env` of its own (its
    maintainers suggest a scoped environment, dagster-io/dagster#29656). The previous values
    come back as soon as the process has started, so nothing else in this process sees them.
    """
    return scoped_env(dbt_env(settings))


def dbt_project(settings: WarehouseSettings) -> DbtProject:
    """The dbt project with a manifest parsed for this warehouse (dagster-dbt's `DbtProject`).

    Under `dagster dev`, `prepare_if_dev()` parses once per load, as dagster-dbt intends.
    Everywhere else (`productops run`, tests, a deployment) dagster-dbt's own preparation runs
    when the manifest is missing, older than a model, or parsed for another warehouse. A file
    lock makes the check, the parse and the stamp one step, so two processes starting together
    never read a half-written manifest or stamp it for the wrong warehouse.
    """
    project = DbtProject(
        project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=settings.engine
    )
    stamp = project.manifest_path.parent / STAMP_PATH.name
    identity = warehouse_identity(settings)
    project.manifest_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(project.manifest_path.with_suffix(".prepare.lock")))
    with lock.acquire(timeout=PREPARE_LOCK_SECONDS), dbt_process_env(settings):
        if project.preparer.using_dagster_dev() and identity not in _PREPARED_IN_DEV:
            project.prepare_if_dev()
            _PREPARED_IN_DEV.add(identity)
        elif not (
            manifest_is_current(project.manifest_path, project.project_dir, stamp, identity)
            or _take_background_parse(project, identity)
        ):
            ProductOpsDbtProjectPreparer().prepare(project)
        written = stamp_text(identity, project.project_dir)
        if not stamp.exists() or stamp.read_text() != written:
            stamp.write_text(written)
    return project


def _take_background_parse(project: DbtProject, identity: str) -> bool:
    """Move the parse `startup.start()` ran for this warehouse into the project's target.

    What `ProductOpsDbtProjectPreparer` would have produced: the same `dbt parse`, in this
    folder. False when there is none.
    """
    folder = startup.take_parse(identity, meanwhile=_import_great_expectations)
    if folder is None:
        return False
    try:
        for name in PARSE_ARTIFACTS:
            os.replace(folder / name, project.manifest_path.parent / name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return True


def _import_great_expectations() -> None:
    """Import GX while this process waits for the dbt parse: a parse means a build follows.

    Its first check would import GX (2-4 s). Only while this thread waits for the parse: no
    other thread imports then (two threads importing the same packages can see a module half
    initialised). A failed import is left for the check, which reports it.
    """
    with suppress(Exception):
        import great_expectations  # noqa: F401


def ensure_dbt_manifest(settings: WarehouseSettings | None = None) -> Path:
    """The manifest of `dbt_project(settings)` (by default the environment's warehouse)."""
    return dbt_project(settings or WarehouseSettings.from_env()).manifest_path


CATALOG_SQL = (
    "select c.table_schema, c.table_name, t.table_type, c.column_name, c.ordinal_position, "
    "c.data_type from information_schema.columns c join information_schema.tables t "
    "on t.table_schema = c.table_schema and t.table_name = c.table_name "
    "and t.table_catalog = c.table_catalog "
    "where c.table_schema not in ('information_schema', 'pg_catalog') "
    "and c.table_schema not like 'raw\\_%\\_staging' escape '\\' "  # dlt's, not dbt's
    "and c.table_schema <> 'productops' "  # the runner's own (orchestration/lib/build_state)
    "order by 1, 2, 5"
)


def _catalog_rows(settings: WarehouseSettings) -> list[tuple[object, ...]] | None:
    """Every relation's columns and types (what dbt's catalog holds); None when not read here."""
    if settings.engine == "spark" or (settings.engine == "duckdb" and not settings.path.exists()):
        return None  # Spark's catalog lives in its metastore: never taken as unchanged
    with read_cursor(settings) as cursor:
        cursor.execute(CATALOG_SQL)
        return [tuple(row) for row in cursor.fetchall()]


def dbt_relations(manifest: dict[str, Any]) -> set[tuple[str, str]]:
    """(schema, table) of every model, seed, snapshot and source the dbt project declares."""
    relations = {
        (node["schema"], node.get("alias") or node["name"])
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") in ("model", "seed", "snapshot")
    }
    for source in manifest.get("sources", {}).values():
        relations.add((source["schema"], source.get("identifier") or source["name"]))
    return relations


def dbt_inputs_fingerprint(
    settings: WarehouseSettings, relations: set[tuple[str, str]] | None = None
) -> str | None:
    """A digest of what dbt's docs and unit tests depend on; None when it cannot be taken.

    That is the project (its files, dbt's and the adapter's versions, the profile's settings)
    plus the catalog: each relation's columns and types (no row counts: dbt's catalog on DuckDB
    and PostgreSQL has none). Rows are not in it, so it says nothing about data tests or
    models. When it equals the digest taken after the last docs page or the last passing unit
    tests, running them again gives the same result, and the runner keeps that result instead.
    `relations` limits the catalog to those tables (`dbt_relations`: what dbt reads and
    writes, not a table another step adds beside the marts, such as fct_experiment_results).
    """
    import hashlib
    from importlib.metadata import version

    catalog = _catalog_rows(settings)
    if catalog is None:
        return None
    if relations is not None:
        catalog = [row for row in catalog if (row[0], row[1]) in relations]
    digest = hashlib.sha256()
    for package in ("dbt-core", f"dbt-{settings.engine}"):
        digest.update(f"{package}=={version(package)}\n".encode())
    for key, value in sorted(settings.dbt_env().items()):
        digest.update(f"{key}={value}\n".encode())
    files = [DBT_PROJECT_DIR / name for name in DBT_INPUT_FILES]
    for folder in DBT_INPUT_FOLDERS:
        files.extend(sorted((DBT_PROJECT_DIR / folder).rglob("*")))
    for path in files:
        if path.is_file():
            digest.update(f"{path.relative_to(DBT_PROJECT_DIR)}\n".encode())
            digest.update(path.read_bytes())
    digest.update(repr(catalog).encode())
    return digest.hexdigest()
