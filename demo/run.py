"""`make run`: the DEMO, the whole pipeline on the generated sample world, with a summary.

Generates the sample world (once), starts the vendor sandbox so the real API loaders run, points
every source at them and runs the production runner (`orchestration.run`) on them. The demo
writes its own warehouse and Dagster home under `data/demo/`, whatever WAREHOUSE_PATH or
DAGSTER_HOME say, so it never loads synthetic data into your warehouse; `--use-environment`
(tests, benches, `make run-postgres`) uses the configured warehouse and Dagster home instead.
Your own data: `productops run` (README, "Running on your own data").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, date, datetime, timedelta
from datetime import time as datetime_time
from pathlib import Path
from typing import Any

from ingestion.settings import (
    PROJECT_ROOT,
    SPARK_BUCKET_SETTING,
    WarehouseSettingError,
    warehouse_engine,
)

DEMO_DIR = PROJECT_ROOT / "data" / "demo"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data" / "sample"
DEMO_WAREHOUSE = DEMO_DIR / "warehouse.duckdb"
DEMO_DAGSTER_HOME = DEMO_DIR / "dagster_home"
BANNER = "DEMO: sample world (synthetic data) served by the local vendor sandbox"


def main(argv: list[str] | None = None) -> int:
    """Run the demo; exit 1 when a step or a check failed, 2 on a refused setting."""
    from orchestration.lib import startup

    args = _parse_args(argv)
    startup.load_project_env(command=True)
    print(BANNER, flush=True)
    refusal = demo_environment(args.use_environment, args.warehouse)
    if refusal:
        print(f"make run: {refusal}", file=sys.stderr)
        return 2
    if not args.ui:  # `dagster dev` parses on its own
        startup.start()  # a first run's dbt parse, beside the sample world and the sandbox
    from orchestration.lib.project import scoped_env

    world = _ensure_world(args.data, args.scale, args.seed, args.end_date, args.regenerate)
    refusal = world_ahead_of_clock(world)
    if refusal:
        print(f"make run: {refusal}", file=sys.stderr)
        return 2
    if not args.use_environment or args.throwaway_warehouse:
        start_afresh_for_another_world(args.data / "world.json")
    from demo.sandbox import Sandbox

    print(f"starting the vendor sandbox for {args.data} ...", flush=True)
    with (
        Sandbox(args.data, page_size=args.page_size, port=args.port) as sandbox,
        scoped_env(source_settings(args.data, world, sandbox.base_urls)),
    ):
        if args.ui:
            return _serve_ui(sandbox.base_urls)
        from orchestration.run import run_pipeline

        return run_pipeline(
            full_refresh=args.full_refresh,
            label="DEMO product-ops warehouse (sample world)",
            program="make run",
            disposable_history=True,
        )


def demo_environment(use_environment: bool, warehouse: Path | None) -> str | None:
    """Point the demo at its own warehouse and Dagster home; a refusal message, or None.

    Exported WAREHOUSE_PATH / DAGSTER_HOME (or those in `.env`) are the user's own: the demo
    says it leaves them alone. WAREHOUSE=postgres is refused unless `--use-environment`: the
    demo would write synthetic data into that server.
    """
    if use_environment:
        print("demo: --use-environment, writing to the configured warehouse and DAGSTER_HOME")
        return None
    try:
        engine = warehouse_engine()
    except WarehouseSettingError as error:
        return str(error)
    if engine == "postgres":
        return (
            "WAREHOUSE=postgres is set: the demo would load the synthetic sample world into that "
            "server. Unset WAREHOUSE for the demo, use `make run-postgres` (a throwaway local "
            "server), or `productops run` for your own data."
        )
    for name in ("WAREHOUSE_PATH", "DAGSTER_HOME", "MARTS_PATH", SPARK_BUCKET_SETTING):
        if os.environ.get(name):
            print(f"demo: leaving {name}={os.environ[name]} alone (the demo writes data/demo/)")
    os.environ.pop(SPARK_BUCKET_SETTING, None)  # WAREHOUSE=spark: Parquet in data/demo/parquet
    os.environ["WAREHOUSE_PATH"] = str(warehouse or DEMO_WAREHOUSE)
    os.environ["DAGSTER_HOME"] = str(DEMO_DAGSTER_HOME)
    os.environ.pop("MARTS_PATH", None)  # published beside the demo warehouse
    return None


def start_afresh_for_another_world(world_manifest: Path) -> bool:
    """The demo's warehouse holds one sample world: for another one it starts empty.

    Another `SCALE`, `SEED` or `--end-date` makes another world in the same folder. Its users,
    accounts, tickets and messages reuse the ids of the last one without being the same people
    or events: loaded on top, a message id seen before would keep the old world's event, and the
    marts would mix two worlds. So when `world.json` differs from the one this warehouse was
    loaded from (kept beside it), the warehouse and dlt's state for it are deleted; the Dagster
    history stays. On PostgreSQL (`make run-postgres`'s local server) the database's schemas
    are dropped instead of a file. Returns whether a warehouse was emptied. Only the demo's own
    warehouse: `--use-environment` leaves the configured one alone, unless
    `--throwaway-warehouse` says it is the demo's.
    """
    import shutil

    from ingestion.parquet_files import local_folder
    from ingestion.settings import WarehouseSettings

    settings = WarehouseSettings.from_env()
    pipelines = settings.pipelines_dir()
    if settings.engine == "postgres":  # no file of its own: beside dlt's state for the server
        loaded = pipelines.with_name(f"{pipelines.name}.world.json")
        remains = [pipelines]
    else:
        loaded = settings.path.with_name(f"{settings.path.name}.world.json")
        remains = [settings.path, settings.path.with_name(f"{settings.path.name}.wal"), pipelines]
    world = world_manifest.read_text()
    if loaded.exists() and loaded.read_text() == world:
        return False
    if settings.engine == "spark" and settings.spark_bucket_url:  # its Parquet files, metastore
        remains += [local_folder(settings.spark_bucket_url), settings.spark_home]
    found = [path for path in remains if path.exists()]
    for path in found:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    dropped = _drop_schemas(settings.postgres_url()) if settings.engine == "postgres" else []
    if found or dropped:
        held = "another sample world" if loaded.exists() else "a sample world it does not name"
        print(
            f"demo: {settings.describe()} holds {held}, not {world_manifest}: starting it afresh",
            flush=True,
        )
    loaded.parent.mkdir(parents=True, exist_ok=True)
    loaded.write_text(world)
    return bool(found or dropped)


def _drop_schemas(url: str) -> list[str]:
    """Drop every schema of the database that holds something; `public` comes back empty."""
    import psycopg2

    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "select n.nspname from pg_namespace n where n.nspname not like 'pg\\_%' "
            "and n.nspname <> 'information_schema' and (n.nspname <> 'public' "
            "or exists (select 1 from pg_class c where c.relnamespace = n.oid)) order by 1"
        )
        schemas = [row[0] for row in cursor.fetchall()]
        for schema in schemas:
            cursor.execute(f'drop schema "{schema}" cascade')
        if "public" in schemas:
            cursor.execute("create schema public")
    connection.close()
    return schemas


def world_ahead_of_clock(world: dict[str, Any]) -> str | None:
    """A refusal when the world has events the loaders would set aside as dated in the future.

    Its last day runs to midnight UTC after `end_date`; the loaders take times up to now plus
    `plausibility.max_future_skew_hours` (docs/metrics.md, "Implausible times are bad
    records"). Failing here saves a whole run that would end on a failed check.
    """
    from ingestion.plausibility import SKEW_SETTING, max_future_skew

    end = date.fromisoformat(str(world["end_date"]))
    last = datetime.combine(end + timedelta(days=1), datetime_time.min, UTC)
    latest = datetime.now(UTC) + max_future_skew()
    if last <= latest:
        return None
    return (
        f"the sample world's events run to {last:%Y-%m-%d %H:%M} UTC, later than now plus "
        f"{SKEW_SETTING} ({latest:%Y-%m-%d %H:%M} UTC): the loaders would set them aside as "
        "dated in the future. Use an earlier --end-date (default: yesterday) with "
        "--regenerate, or raise PLAUSIBILITY__MAX_FUTURE_SKEW_HOURS."
    )


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo.run", description=__doc__)
    parser.add_argument("--scale", type=float, default=float(os.environ.get("SCALE", "1")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SEED", "42")))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="sample world folder")
    parser.add_argument(
        "--page-size",
        type=int,
        default=1000,
        help=(
            "largest page the sandbox serves (default 1000: each API's own maximum applies, "
            "100 for Zendesk's and Stripe's lists, 1000 for Zendesk's export and Typeform)"
        ),
    )
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
    parser.add_argument(
        "--warehouse", type=Path, default=None, help=f"demo DuckDB file (default {DEMO_WAREHOUSE})"
    )
    parser.add_argument(
        "--use-environment",
        action="store_true",
        help="use WAREHOUSE, WAREHOUSE_PATH, DAGSTER_HOME as configured (tests, benches)",
    )
    parser.add_argument(
        "--throwaway-warehouse",
        action="store_true",
        help=(
            "with --use-environment: the configured warehouse is the demo's own (make "
            "run-postgres's local server), emptied when another sample world is loaded"
        ),
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

    from orchestration.run import prepare_dagster_home

    prepare_dagster_home()
    print(f"sandbox: {base_urls}")
    print(f"dagster home: {os.environ['DAGSTER_HOME']}")
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


if __name__ == "__main__":
    exit_code = main()
    from orchestration.run import skip_final_collection

    skip_final_collection()  # no last garbage collection of the whole run's objects
    sys.exit(exit_code)
