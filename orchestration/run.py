"""`productops run`: the whole pipeline on the configured sources, in one process, with a summary.

Reads the sources from dlt's usual places (`.dlt/config.toml`, `.dlt/secrets.toml`, environment
variables, the project's `.env`), loads every source, then builds the checks, dbt models and
the published file from whatever loaded, and prints what landed, what was set aside, what the
checks said and which source failed. The sample world is `make run` (`python -m demo.run`).

Two Dagster runs, `load_sources` then `build_marts`: a source that fails (bad credentials,
vendor down) fails its own step and its freshness check, and the marts still build from what
the other sources loaded (docs/architecture.md, "Which marts wait for which sources").
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestion.settings import PROJECT_ROOT, WarehouseSettingError, WarehouseSettings
from orchestration.lib import startup
from orchestration.lib.startup import load_project_env

if TYPE_CHECKING:
    from orchestration.lib import build_state

# Imports of Dagster, dbt and dlt (3-5 s) wait inside the functions that need them: the dbt
# parse of a first run (`startup.start()`) begins before them and runs beside them.

DEFAULT_DAGSTER_HOME = PROJECT_ROOT / ".dagster_home"
EXIT_OK, EXIT_FAILED, EXIT_SETTINGS = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    """Run the whole graph on the configured sources; exit 1 when a step or a check failed."""
    parser = argparse.ArgumentParser(prog="productops run", description=__doc__)
    add_run_options(parser)
    args = parser.parse_args(argv)
    load_project_env(command=True)
    startup.start()
    return run_pipeline(full_refresh=args.full_refresh, label="product-ops warehouse")


def cli(argv: list[str] | None = None) -> int:
    """Console script `productops`: `productops run [--full-refresh]`."""
    parser = argparse.ArgumentParser(prog="productops", description="Product-ops warehouse.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_run_options(commands.add_parser("run", help="materialize everything on your sources"))
    args = parser.parse_args(argv)
    load_project_env(command=True)
    startup.start()
    code = run_pipeline(full_refresh=args.full_refresh, label="product-ops warehouse")
    skip_final_collection()  # the console script exits with this code at once
    return code


def skip_final_collection() -> None:
    """The process exits next: spare it the interpreter's last garbage collection.

    At exit Python walks every object still alive (Dagster's, dbt's, Great Expectations':
    millions after a run) to free memory the OS takes back anyway: 1.5-4.5 s of a `make run`
    after the summary is printed. `gc.freeze()` puts them out of the collector's reach;
    atexit handlers still run. Only for a process about to exit: a test process calling this
    would keep every object it holds until it ends.
    """
    import gc

    gc.freeze()


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options every runner shares (the demo runner adds its own)."""
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the incremental dbt models from all history (dbt build --full-refresh)",
    )


def run_pipeline(
    full_refresh: bool,
    label: str,
    program: str = "productops run",
    disposable_history: bool = False,
) -> int:
    """Check the warehouse setting, run both jobs, print the summary; return the exit code.

    `disposable_history` (the demo's sample world): Dagster's SQLite history in DAGSTER_HOME is
    written without waiting for the disk (`skip_history_fsync`).
    """
    started = time.monotonic()
    try:  # a bad WAREHOUSE or a missing PostgreSQL connection stops here, naming the fix
        settings = WarehouseSettings.from_env()
        print(f"warehouse: {settings.describe()}", flush=True)
    except WarehouseSettingError as error:
        print(f"{program}: {error}", file=sys.stderr)
        return EXIT_SETTINGS
    home = prepare_dagster_home()
    print(f"dagster home: {home} (runs stay visible in `dagster dev` with this DAGSTER_HOME)")
    if disposable_history:
        skip_history_fsync(home)
    if full_refresh:
        print("dbt: --full-refresh, the incremental models are rebuilt from all history")
    outcome = materialize_all(full_refresh=full_refresh)
    ui = "make ui" if program == "make run" else "dagster dev"
    print(summary(outcome, time.monotonic() - started, label, ui, settings))
    return outcome_exit_code(outcome)


def outcome_exit_code(outcome: dict[str, Any]) -> int:
    """1 when a source, a step or a blocking (ERROR) check failed; warnings do not fail a run."""
    failed = outcome["failed_sources"] or outcome["step_failures"] or outcome["checks_failed"]
    return EXIT_FAILED if failed or not outcome["success"] else EXIT_OK


def prepare_dagster_home() -> Path:
    """`DAGSTER_HOME` (default `.dagster_home`) with the project's dagster.yaml in it."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_DAGSTER_HOME)))
    if not home.is_absolute():
        home = PROJECT_ROOT / home
        os.environ["DAGSTER_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    project_config = PROJECT_ROOT / "dagster.yaml"
    # A home of our own making follows the project's file; a production file (storage on
    # PostgreSQL, deploy/dagster.yaml) is the operator's and stays as it is.
    current = config.read_text() if config.exists() else ""
    if current != project_config.read_text() and "storage:" not in current:
        config.write_text(project_config.read_text())
    return home


def skip_history_fsync(home: Path) -> None:
    """Dagster's SQLite files under `home` are written without an fsync, in this process.

    Dagster stores each event (about 1,100 in a build: planned assets and checks, outputs,
    check results) through a new SQLite connection whose commit and close each wait for the
    disk, about 9 fsyncs per event: 5-15 s of a run on a quiet disk, minutes on a busy one.
    `synchronous=OFF` hands the writes to the OS without waiting: a crash of this process
    loses nothing, a power cut may leave the history unreadable (delete DAGSTER_HOME, the
    warehouse is not in it). Only the demo asks for it (its sample world is disposable);
    `productops run` keeps SQLite's default, and PostgreSQL storage is never touched.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    _NO_FSYNC_HOMES.update({str(home), str(home.resolve())})
    if not event.contains(Engine, "connect", _no_fsync):
        event.listen(Engine, "connect", _no_fsync)


# DAGSTER_HOMEs whose SQLite files this process writes without fsync (`skip_history_fsync`).
_NO_FSYNC_HOMES: set[str] = set()


def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
    """SQLAlchemy `connect` hook: `synchronous=OFF` on SQLite files under those homes."""
    import sqlite3

    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    row = dbapi_connection.execute("pragma database_list").fetchone()
    path = str(row[2]) if row else ""
    if any(path.startswith(home + os.sep) for home in _NO_FSYNC_HOMES):
        dbapi_connection.execute("pragma synchronous=OFF")


def materialize_all(full_refresh: bool = False) -> dict[str, Any]:
    """Load every source, then build everything else from what loaded; collect the outcomes.

    Also recovers from earlier crashes first (`orchestration.lib.recovery`): runs whose process
    is gone are failed and their pool slots freed, and a watchdog kills this run's children if
    this process is killed. Dagster's SQLite history is written through one engine per file
    (`orchestration.lib.event_log`).
    """
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.lib import build_state
    from orchestration.lib.automation import BUILD_JOB, SOURCES_JOB
    from orchestration.lib.event_log import pooled_sqlite_event_log
    from orchestration.lib.project import WAREHOUSE_POOL
    from orchestration.lib.recovery import (
        reap_dead_runs,
        report_slot_waits,
        run_tags,
        start_watchdog,
        stop_watchdog,
        warehouse_turn,
    )

    settings = WarehouseSettings.from_env()

    def turn(what: str) -> contextlib.AbstractContextManager[None]:
        """The runner's own reads and writes of a DuckDB warehouse wait for the pool's slot."""
        if settings.engine != "duckdb":
            return contextlib.nullcontext()
        return warehouse_turn(instance, WAREHOUSE_POOL, f"runner: {what}")

    watchdog = start_watchdog()
    try:
        with pooled_sqlite_event_log(), dg.DagsterInstance.get() as instance:
            reap_dead_runs(instance)
            results: list[Any] = []
            decision: build_state.Decision | None = None
            for job_name in (SOURCES_JOB, BUILD_JOB):
                if job_name == BUILD_JOB:
                    with turn("build decision"):
                        decision = _build_decision(settings, instance, full_refresh)
                        if not decision.skip:
                            build_state.forget_build(settings)
                    if decision.skip:
                        print(f"{job_name}: skipped, {decision.reason}", flush=True)
                        results.append(_PastRun.read(instance, decision.previous_run_id or ""))
                        continue
                    print(f"{job_name}: building ({decision.reason})", flush=True)
                job = defs.resolve_job_def(job_name)
                run_id = str(uuid.uuid4())
                print(f"{job_name}: run {run_id} ...", flush=True)
                run_config: dict[str, Any] = {
                    "loggers": {"console": {"config": {"log_level": "INFO"}}}
                }
                if job_name == BUILD_JOB:
                    run_config["ops"] = {
                        "productops_dbt": {"config": {"full_refresh": full_refresh}}
                    }
                with report_slot_waits(instance, {run_id}, WAREHOUSE_POOL):
                    results.append(
                        job.execute_in_process(
                            instance=instance,
                            raise_on_error=False,
                            run_id=run_id,
                            tags=run_tags(),
                            run_config=run_config,
                        )
                    )
            check_descriptions = _check_descriptions(defs)
            outcome = collect_outcome(results, check_descriptions, instance)
            if decision is not None and decision.skip:
                outcome["build_skipped"] = decision.reason
            elif decision is not None:
                try:
                    with turn("build record"):
                        _record_if_built(
                            settings, results[-1], check_descriptions, instance, decision
                        )
                except Exception as error:  # noqa: BLE001 - unrecorded: the next run builds
                    print(f"build state not recorded ({error}): the next run builds", flush=True)
            with turn("row counts"):
                outcome["table_rows"] = warehouse_counts(settings)
            return outcome
    finally:
        stop_watchdog(watchdog)


class _PastRun:
    """A finished run read back from the instance, shaped like `execute_in_process`'s result."""

    def __init__(self, run_id: str, success: bool, all_events: list[Any]) -> None:
        self.run_id, self.success, self.all_events = run_id, success, all_events

    @classmethod
    def read(cls, instance: Any, run_id: str) -> _PastRun:
        """Its events and status: the skipped build reports the checks of the build it kept."""
        import dagster as dg

        run = instance.get_run_by_id(run_id)
        events = [entry.dagster_event for entry in instance.all_logs(run_id)]
        success = run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        return cls(run_id, success, [event for event in events if event is not None])


def _build_decision(
    settings: WarehouseSettings, instance: Any, full_refresh: bool
) -> build_state.Decision:
    """`build_state.skip_decision` for `build_marts`; a fingerprint that fails builds anyway."""
    from orchestration.lib import build_state
    from orchestration.lib.automation import BUILD_JOB

    try:
        return build_state.skip_decision(
            settings, instance, BUILD_JOB, full_refresh, _dbt_relations(settings)
        )
    except Exception as error:  # noqa: BLE001 - never skip on a doubt
        return build_state.Decision(False, f"inputs not fingerprinted ({error})")


def _dbt_relations(settings: WarehouseSettings) -> set[tuple[str, str]]:
    """What dbt reads and writes (its catalog belongs to the fingerprint).

    From the manifest the definitions were loaded with (not parsed again here), read once
    per version of the file: the build's decision and its record ask for the same set.
    """
    from orchestration.lib.project import DBT_PROJECT_DIR

    path = DBT_PROJECT_DIR / "target" / "manifest.json"
    return set(_manifest_relations(str(path), path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=2)
def _manifest_relations(path: str, _mtime_ns: int) -> frozenset[tuple[str, str]]:
    """`project.dbt_relations` of the manifest at `path` as it was at that modification time."""
    from orchestration.lib.dlt_assets import load_manifest
    from orchestration.lib.project import dbt_relations

    return frozenset(dbt_relations(load_manifest(path)))


def _record_if_built(
    settings: WarehouseSettings,
    result: Any,
    check_descriptions: dict[str, str],
    instance: Any,
    decision: build_state.Decision,
) -> None:
    """After a build whose steps and blocking checks all passed: what it was built from.

    The raw part is the one taken before the build (data loaded meanwhile builds next time).
    """
    from orchestration.lib import build_state

    built = collect_outcome([result], check_descriptions, instance)
    if outcome_exit_code(built) != EXIT_OK or decision.raw_fingerprint is None:
        return
    project = build_state.project_fingerprint(settings, _dbt_relations(settings))
    if project is not None:
        state = build_state.BuildState(decision.raw_fingerprint, project, result.run_id)
        build_state.record_build(settings, state)


def _check_descriptions(defs: Any) -> dict[str, str]:
    """`asset:check` -> the check's short description (first line)."""
    graph = defs.resolve_asset_graph()
    descriptions: dict[str, str] = {}
    for key in graph.asset_check_keys:
        spec = graph.get_check_spec(key)
        text = (spec.description or "").strip().splitlines()
        descriptions[f"{key.asset_key.to_user_string()}:{key.name}"] = text[0] if text else ""
    return descriptions


def collect_outcome(
    results: Iterable[Any], check_descriptions: dict[str, str], instance: Any = None
) -> dict[str, Any]:
    """Checks passed / warned / failed (with counts), failed sources and failed steps.

    With the runs' `instance`, assets a run planned but never materialized, with nothing
    failed to explain it, count as a failed step (a run Dagster calls successful left them
    stale).
    """
    import dagster as dg

    from ingestion.sources import SOURCE_SYSTEMS

    source_steps = {f"{system.name}_raw": system.name for system in SOURCE_SYSTEMS}
    passed: list[str] = []
    warned: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    failed_sources: dict[str, str] = {}
    step_failures: list[str] = []
    run_ids: list[str] = []
    success = True
    planned: list[str] = []
    materialized: set[str] = set()
    for result in results:
        run_ids.append(result.run_id)
        success = success and result.success
        if instance is not None:  # planned when the run was created, not in `all_events`
            for record in instance.all_logs(
                result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
            ):
                planned.append(record.dagster_event.event_specific_data.asset_key.to_user_string())
        for event in result.all_events:
            data = event.event_specific_data
            if event.event_type_value == "ASSET_MATERIALIZATION":
                materialized.add(data.materialization.asset_key.to_user_string())
            elif event.event_type_value == "ASSET_CHECK_EVALUATION":
                name = f"{data.asset_key.to_user_string()}:{data.check_name}"
                if data.passed:
                    passed.append(name)
                    continue
                said = (data.description or "").splitlines()
                entry = {
                    "name": name,
                    "description": check_descriptions.get(name, "") or (said[0] if said else ""),
                    "counts": _counts(data.metadata),
                    # what failed, one line each (a GX check names expectation, column, counts)
                    "details": [line[2:] for line in said if line.startswith("- ")],
                }
                (warned if data.severity.value == "WARN" else failed).append(entry)
            elif event.event_type_value == "STEP_FAILURE":
                message = data.error.message.strip() if data.error else "no error message"
                if event.step_key in source_steps:
                    failed_sources[source_steps[event.step_key]] = message
                else:
                    step_failures.append(f"{event.step_key}: {message}")
    missing = [key for key in planned if key not in materialized]
    if missing and not (failed or failed_sources or step_failures):
        # Nothing failed, yet assets were skipped: their step lost outputs (e.g. dagster-dbt
        # could not read dbt's log line of a model), and a "successful" run left them stale.
        step_failures.append(
            f"{len(missing)} asset(s) planned but never materialized, with no failure to "
            f"explain it: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}; "
            "the run's log names the step that did not yield them"
        )
    return {
        "success": success,
        "run_ids": run_ids,
        "checks_passed": passed,
        "checks_warned": warned,
        "checks_failed": failed,
        "failed_sources": failed_sources,
        "step_failures": step_failures,
    }


def _counts(metadata: dict[str, Any]) -> str:
    """A check's numeric metadata (counts of what it found) as `key=value, ...`."""
    parts = []
    for key, value in metadata.items():
        raw = getattr(value, "value", value)
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            parts.append(f"{key}={raw:,}" if isinstance(raw, int) else f"{key}={raw:g}")
    return ", ".join(parts[:6])


# Every raw and mart table (on Spark: the views over their Parquet files, `read_cursor`).
TABLES_SQL = (
    "select table_schema, table_name from information_schema.tables "
    "where ((table_schema like 'raw\\_%' escape '\\'"
    " and table_schema not like '%\\_staging' escape '\\') or table_schema = 'marts') "
    "and table_type in ('BASE TABLE', 'VIEW') and table_name not like '\\_dlt%' escape '\\' "
    "order by 1, 2"
)


def warehouse_counts(settings: WarehouseSettings) -> dict[str, dict[str, int]]:
    """Rows per table of every raw and mart schema, read after the run released the warehouse."""
    from orchestration.lib.warehouse import read_cursor

    if settings.engine == "duckdb" and not settings.path.exists():
        return {}
    with read_cursor(settings) as cursor:
        return _count_rows(cursor)


def _count_rows(cursor: Any) -> dict[str, dict[str, int]]:
    """`warehouse_counts` through a DB-API cursor (DuckDB's or psycopg2's)."""
    counts: dict[str, dict[str, int]] = {}
    cursor.execute(TABLES_SQL)
    for schema, table in cursor.fetchall():
        cursor.execute(f'select count(*) from "{schema}"."{table}"')
        counts.setdefault(schema, {})[table] = cursor.fetchall()[0][0]
    return counts


def summary(
    outcome: dict[str, Any],
    seconds: float,
    label: str,
    ui: str = "dagster dev",
    settings: WarehouseSettings | None = None,
) -> str:
    """What landed, what was set aside per source, what the checks said, what failed."""
    from ingestion.rejects import REJECTS_TABLE
    from ingestion.settings import not_used_note
    from ingestion.sources import disabled_sources
    from orchestration.lib import build_state
    from orchestration.lib.publish import published_path
    from orchestration.lib.recovery import explain_lock_error
    from orchestration.lib.report import docs_path, report_path

    settings = settings or WarehouseSettings.from_env()
    counts = outcome["table_rows"] if "table_rows" in outcome else warehouse_counts(settings)
    lines = ["", "=" * 72, f"{label}: run summary", "=" * 72]
    rejected: dict[str, int] = {}
    for schema, tables in counts.items():
        if schema == "marts":
            continue
        lines.append(f"{schema}")
        for table, rows in tables.items():
            if table == REJECTS_TABLE:
                rejected[schema] = rows
            lines.append(f"  {table:<34}{rows:>12,}")
    lines.append("marts")
    lines.extend(f"  {table:<34}{rows:>12,}" for table, rows in counts.get("marts", {}).items())
    passed, warned, failed = (
        outcome["checks_passed"],
        outcome["checks_warned"],
        outcome["checks_failed"],
    )
    skipped = outcome.get("build_skipped")
    if skipped:
        lines.append(
            f"build_marts: skipped, {skipped}: the marts, checks, report and docs are that "
            f"run's (--full-refresh or {build_state.FORCE_BUILD_ENV}=1 builds anyway)"
        )
    lines.append(
        f"checks: {len(passed)} passed, {len(warned)} warned, {len(failed)} failed"
        + (" (in that run)" if skipped else "")
    )
    for tag, entries in (("FAILED", failed), ("WARN", warned)):
        for entry in entries:
            detail = f" ({entry['counts']})" if entry["counts"] else ""
            about = f": {entry['description'][:100]}" if entry["description"] else ""
            lines.append(f"  {tag} {entry['name']}{about}{detail}")
            shown = entry.get("details", [])[:5]
            lines.extend(f"      {line[:160]}" for line in shown)
    total = sum(rejected.values())
    by_source = ", ".join(f"{schema} {rows:,}" for schema, rows in rejected.items() if rows)
    lines.append(
        f"rejected records: {total:,}{f' ({by_source})' if by_source else ''}"
        f" (see raw_*.{REJECTS_TABLE}: source, location, reason)"
    )
    lines.extend(f"source {not_used_note(name)}" for name in disabled_sources())
    for source, message in outcome["failed_sources"].items():
        lines.append(f"source FAILED: {source}: {message[:400]}")
        hint = explain_lock_error(message, str(settings.path))
        if hint:
            lines.append(f"  {hint}")
    if outcome["failed_sources"]:
        lines.append(
            "  the marts were built from what the other sources loaded; the failed sources' "
            "tables keep their last load (their freshness checks say how old)"
        )
    for failure in outcome["step_failures"]:
        lines.append(f"step FAILED: {failure[:400]}")
        hint = explain_lock_error(failure, str(settings.path))
        if hint:
            lines.append(f"  {hint}")
    status = "success" if outcome_exit_code(outcome) == EXIT_OK else "FAILED"
    example = "select * from marts.fct_active_users_daily order by activity_date desc limit 7"
    published = published_path(settings)
    if settings.engine == "postgres":
        marts = "marts (what analysts and BI query): schema marts on that server"
        query = f'  psql "$DESTINATION__POSTGRES__CREDENTIALS" -c "{example}"'
    else:
        marts = f"published marts (what analysts and BI open): {published}"
        query = (
            f'  .venv/bin/python -c "import duckdb; '
            f"duckdb.connect('{published}', read_only=True).sql('{example}').show()\""
        )
    report, docs = report_path(settings), docs_path(settings)
    lines += [
        f"elapsed: {seconds:.1f} s",
        f"warehouse: {settings.describe()}",
        f"dagster runs: {', '.join(outcome['run_ids'])} ({status})",
        "",
        "next:",
        f"  {ui:<14} # Dagster UI on http://127.0.0.1:3000 (lineage, checks, these runs)",
        query,
        "",
        f"report (open in a browser): {report if report.exists() else 'not written this run'}",
        f"dbt docs (every model and metric): {docs if docs.exists() else 'not written this run'}",
        marts,
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    exit_code = main()
    skip_final_collection()
    sys.exit(exit_code)
