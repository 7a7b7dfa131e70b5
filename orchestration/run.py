"""`make run`: the whole product-ops pipeline on the sample world, in one process, with a summary.

Generates the sample world (once), starts the vendor sandbox so the real API loaders run,
materializes every asset of the Dagster graph (ingestion -> dbt -> checks) into the warehouse,
stops the sandbox and prints what landed, what was set aside and what the checks said.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from ingestion.common import (
    PROJECT_ROOT,
    REJECTS_TABLE,
    WarehouseSettingError,
    dbt_env,
    describe_warehouse,
    postgres_url,
    warehouse_engine,
    warehouse_path,
)
from orchestration.lib.publish import published_path

DEFAULT_DATA_DIR = PROJECT_ROOT / "data" / "sample"
DEFAULT_DAGSTER_HOME = PROJECT_ROOT / ".dagster_home"


def main(argv: list[str] | None = None) -> int:
    """Run everything; exit 1 when a step or a check failed."""
    args = _parse_args(argv)
    started = time.monotonic()
    # dlt's notes on all-null vendor columns would drown the progress and the summary.
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    try:  # a bad WAREHOUSE or a missing PostgreSQL connection stops here, naming the fix
        os.environ.update(dbt_env())
        print(f"warehouse: {describe_warehouse()}", flush=True)
    except WarehouseSettingError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 2
    prepare_dagster_home()

    world = _ensure_world(args.data, args.scale, args.seed, args.end_date, args.regenerate)
    from demo.sandbox import Sandbox

    print(f"starting the vendor sandbox for {args.data} ...", flush=True)
    with (
        Sandbox(args.data, page_size=args.page_size, port=args.port) as sandbox,
        _environment(source_settings(args.data, world, sandbox.base_urls)),
    ):
        if args.ui:
            return _serve_ui(sandbox.base_urls)
        if args.full_refresh:
            print("dbt: --full-refresh, the incremental models are rebuilt from all history")
        outcome = materialize_all(full_refresh=args.full_refresh)
    print(_summary(outcome, time.monotonic() - started))
    return 0 if outcome["success"] and not outcome["checks_failed"] else 1


def prepare_dagster_home() -> Path:
    """Use `.dagster_home` (runs stay visible in `make ui`) with the project's dagster.yaml."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_DAGSTER_HOME)))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    project_config = PROJECT_ROOT / "dagster.yaml"
    if not config.exists() or config.read_text() != project_config.read_text():
        config.write_text(project_config.read_text())
    return home


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m orchestration.run", description=__doc__)
    parser.add_argument("--scale", type=float, default=float(os.environ.get("SCALE", "1")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SEED", "42")))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="sample world folder")
    parser.add_argument("--page-size", type=int, default=100, help="sandbox page size")
    parser.add_argument("--port", type=int, default=0, help="sandbox port (default: any free)")
    parser.add_argument(
        "--end-date",
        type=date.fromisoformat,
        default=None,
        help="last day of the sample world (default: yesterday, UTC)",
    )
    parser.add_argument(
        "--ui",
        action="store_true",
        help="instead of running, open the Dagster UI with the sandbox serving the APIs",
    )
    parser.add_argument(
        "--regenerate", action="store_true", help="write the sample world again even if present"
    )
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the incremental dbt models from all history (dbt build --full-refresh)",
    )
    return parser.parse_args(argv)


def _ensure_world(
    data: Path, scale: float, seed: int, end_date: date | None, regenerate: bool
) -> dict[str, Any]:
    """Reuse the world on disk when it was made with the same scale, seed (and end date)."""
    manifest = data / "world.json"
    if manifest.exists() and not regenerate:
        world: dict[str, Any] = json.loads(manifest.read_text())
        same_end = end_date is None or world.get("end_date") == end_date.isoformat()
        if world.get("scale") == scale and world.get("seed") == seed and same_end:
            print(f"sample world: reusing {data} (scale {scale}, seed {seed})", flush=True)
            return world
    from demo import generate_world

    print(f"sample world: generating scale {scale}, seed {seed} into {data} ...", flush=True)
    return generate_world(data, scale=scale, seed=seed, end_date=end_date)


def _serve_ui(base_urls: dict[str, str]) -> int:
    """Run `dagster dev` with the loaders pointed at the running sandbox, until Ctrl-C."""
    import subprocess

    print(f"sandbox: {base_urls}")
    print("Dagster UI: http://127.0.0.1:3000 (Ctrl-C stops the UI and the sandbox)", flush=True)
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", "127.0.0.1"]
    try:
        return subprocess.run(command, cwd=PROJECT_ROOT, check=False).returncode
    except KeyboardInterrupt:
        return 0


def source_settings(data: Path, world: dict[str, Any], base_urls: dict[str, str]) -> dict[str, str]:
    """Dlt settings (env vars) that point every loader at the sample world and the sandbox."""
    creds = world["sandbox"]
    return {
        "SOURCES__SEGMENT__BUCKET_URL": str(data / "events"),
        "SOURCES__FILE_DROP__SURVEYS_URL": str(data / "file_drop" / "surveys"),
        "SOURCES__FILE_DROP__LICENSES_URL": str(data / "file_drop" / "licenses"),
        "SOURCES__ZENDESK__BASE_URL": base_urls["zendesk"],
        "SOURCES__ZENDESK__EMAIL": creds["zendesk"]["email"],
        "SOURCES__ZENDESK__API_TOKEN": creds["zendesk"]["api_token"],
        "SOURCES__TYPEFORM__BASE_URL": base_urls["typeform"],
        "SOURCES__TYPEFORM__FORM_ID": creds["typeform"]["form_id"],
        "SOURCES__TYPEFORM__ACCESS_TOKEN": creds["typeform"]["access_token"],
        "SOURCES__STRIPE__BASE_URL": base_urls["stripe"],
        "SOURCES__STRIPE__API_KEY": creds["stripe"]["api_key"],
    }


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set env vars for the duration of the run and restore what was there."""
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


def materialize_all(full_refresh: bool = False) -> dict[str, Any]:
    """Materialize the whole asset graph in this process and collect check outcomes.

    `full_refresh` rebuilds the incremental dbt models from all history.
    """
    import dagster as dg

    from orchestration.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def()
    print(f"materializing {len(list(defs.resolve_asset_graph().get_all_asset_keys()))} assets ...")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={
                "loggers": {"console": {"config": {"log_level": "INFO"}}},
                "ops": {"productops_dbt": {"config": {"full_refresh": full_refresh}}},
            },
        )
    passed: list[str] = []
    failed: list[str] = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"  # type: ignore[union-attr]
            (passed if evaluation.passed else failed).append(name)  # type: ignore[union-attr]
    failures = [
        f"{event.step_key}: {event.event_specific_data.error.message.strip()}"  # type: ignore[union-attr]
        for event in result.all_events
        if event.event_type_value == "STEP_FAILURE"
    ]
    return {
        "success": result.success,
        "run_id": result.run_id,
        "checks_passed": passed,
        "checks_failed": failed,
        "step_failures": failures,
    }


def _connect_when_free(path: Path, wait_seconds: float = 600.0) -> Any:
    """Open the warehouse, waiting while another run holds DuckDB's write lock."""
    import duckdb

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(1.0)


TABLES_SQL = (
    "select table_schema, table_name from information_schema.tables "
    "where ((table_schema like 'raw\\_%' escape '\\'"
    " and table_schema not like '%\\_staging' escape '\\') or table_schema = 'marts') "
    "and table_type = 'BASE TABLE' and table_name not like '\\_dlt%' escape '\\' "
    "order by 1, 2"
)


def warehouse_counts(path: Path) -> dict[str, dict[str, int]]:
    """Rows per table of every raw and mart schema, read after the run released the warehouse."""
    if warehouse_engine() == "postgres":
        import psycopg2

        with psycopg2.connect(postgres_url()) as pg, pg.cursor() as cursor:
            return _count_rows(cursor)
    if not path.exists():
        return {}
    with _connect_when_free(path) as con:
        return _count_rows(con.cursor())


def _count_rows(cursor: Any) -> dict[str, dict[str, int]]:
    """`warehouse_counts` through a DB-API cursor (DuckDB's or psycopg2's)."""
    counts: dict[str, dict[str, int]] = {}
    cursor.execute(TABLES_SQL)
    for schema, table in cursor.fetchall():
        cursor.execute(f'select count(*) from "{schema}"."{table}"')
        counts.setdefault(schema, {})[table] = cursor.fetchall()[0][0]
    return counts


def _summary(outcome: dict[str, Any], seconds: float) -> str:
    counts = warehouse_counts(warehouse_path())
    lines = ["", "=" * 72, "product-ops warehouse: run summary", "=" * 72]
    rejected_total = 0
    for schema, tables in counts.items():
        if schema == "marts":
            continue
        lines.append(f"{schema}")
        for table, rows in tables.items():
            if table == REJECTS_TABLE:
                rejected_total += rows
            lines.append(f"  {table:<34}{rows:>12,}")
    lines.append("marts")
    for table, rows in counts.get("marts", {}).items():
        lines.append(f"  {table:<34}{rows:>12,}")
    passed, failed = outcome["checks_passed"], outcome["checks_failed"]
    lines.append(f"checks: {len(passed)} passed, {len(failed)} failed")
    lines.extend(f"  FAILED {name}" for name in failed)
    lines.append(
        f"rejected records: {rejected_total} (see raw_*.{REJECTS_TABLE}: source, location, reason)"
    )
    for failure in outcome["step_failures"]:
        lines.append(f"step FAILED: {failure[:400]}")
    status = "success" if outcome["success"] else "FAILED"
    example = "select * from marts.fct_active_users_daily order by activity_date desc limit 7"
    if warehouse_engine() == "postgres":
        marts = "marts (what analysts and BI query): schema marts on that server"
        query = f'  psql "$DESTINATION__POSTGRES__CREDENTIALS" -c "{example}"'
    else:
        marts = f"published marts (what analysts and BI open): {published_path()}"
        query = (
            f'  .venv/bin/python -c "import duckdb; '
            f"duckdb.connect('{published_path()}', read_only=True).sql('{example}').show()\""
        )
    lines += [
        f"elapsed: {seconds:.1f} s",
        f"warehouse: {describe_warehouse()}",
        marts,
        f"dagster run: {outcome['run_id']} ({status})",
        "",
        "next:",
        "  make ui        # Dagster UI on http://127.0.0.1:3000 (lineage, checks, this run)",
        query,
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
