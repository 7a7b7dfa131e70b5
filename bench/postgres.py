"""Benchmark the dbt marts on PostgreSQL beside DuckDB, on the same world in one run.

    .venv/bin/python bench/postgres.py                       # scales 1 and 10 (long: see below)
    .venv/bin/python bench/postgres.py --scales 0.1 --gx     # a quick smoke run

For each scale the sample world is generated once (`python -m demo generate`, end date
2026-03-31) and every source is loaded by `python -m ingestion` (the APIs from the demo's
vendor sandbox) into a fresh DuckDB file and into a fresh database on a throwaway PostgreSQL
server (`tools/pg_cluster.py`, started in `--work`, stopped at the end). Loading is untimed.
Then, on each engine, the same steps `bench/marts.py --build --verify` takes on DuckDB:

1. `full`: `dbt build --full-refresh` (models, data and unit tests; seeds loaded first, untimed);
2. `incremental`: one more day of events lands as a new completed dlt load (the last day's
   events one day later under new messageIds, 1% of the day before re-sent as late events,
   1% of the last day re-delivered with the same messageId), then a plain `dbt build`;
3. verify (unless `--no-verify`): a `dbt run --full-refresh` afterwards, and every mart must
   equal the incremental result row for row (`tools.compare_marts`); the incremental marts of
   the two engines are compared with each other too (`engines_equal`).

The new day is written by one portable SQL statement per kind, with explicit column lists, so
both engines get the very same rows (the 1% samples are picked by `md5(message_id)`, which
both engines compute alike; `bench/marts.py` uses DuckDB's `hash`, so its samples differ).
`--skip-unit-tests` leaves dbt's unit tests out of both builds, as the Dagster asset does when
the project, dbt and the tables are unchanged since they last passed.
`--gx` also times the Great Expectations suite of `raw_segment.events` by load (the new load
only, what the Dagster check does) and on the whole table, before the incremental build.

Each measurement keeps wall seconds, dbt's node seconds (run_results.json `elapsed_time`),
node seconds summed by kind (model, test, unit_test) and the slowest nodes. Prints a table and
writes `bench/results/postgres-<timestamp>.json` (git-ignored). Run the default scales on an
otherwise idle machine: the two engines share its cores with nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg2

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/postgres.py` puts bench/ first, not the root
    sys.path.insert(0, str(ROOT))

from record import write_results  # noqa: E402  (bench/ is on the path when run as a script)
from spark import timed  # noqa: E402

from tools import pg_cluster  # noqa: E402
from tools.compare_marts import Marts, differences, read_duckdb, read_postgres  # noqa: E402

DBT_PROJECT = ROOT / "dbt_project"
DBT = Path(os.environ.get("DBT_EXECUTABLE", ROOT / ".venv" / "bin" / "dbt"))
END_DATE = "2026-03-31"
SLOWEST_NODES = 15
ENGINES = ("duckdb", "postgres")
# md5 prefixes of about 1% each (0x028f / 0x10000 = 0.9995%), the same on both engines.
LATE_SAMPLE = "substr(md5(message_id), 1, 4) < '028f'"
AGAIN_SAMPLE = "substr(md5(message_id), 1, 4) >= '028f' and substr(md5(message_id), 1, 4) < '051e'"

Execute = Callable[[str], list[tuple[Any, ...]]]


def engine_env(engine: str, folder: Path, url: str | None) -> dict[str, str]:
    """The environment that points ingestion and dbt at one engine's warehouse in `folder`.

    The DuckDB side drops any PostgreSQL setting of the caller, so neither side can reach the
    other's warehouse; dbt's own settings come from `ingestion.settings.dbt_env()`."""
    env = {
        **os.environ,
        "WAREHOUSE": engine,
        "WAREHOUSE_PATH": str(folder / "warehouse.duckdb"),
        "DAGSTER_HOME": str(folder / "dagster_home"),
        "GX_DOCS_DIR": str(folder / "gx_docs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TZ": "UTC",
    }
    for setting in ("DESTINATION__POSTGRES__CREDENTIALS", "DESTINATION__FILESYSTEM__BUCKET_URL"):
        env.pop(setting, None)
    if url is not None:
        env["DESTINATION__POSTGRES__CREDENTIALS"] = url
    script = (
        "import json; from ingestion.settings import WarehouseSettings; "
        "print(json.dumps(WarehouseSettings.from_env().dbt_env()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"reading dbt's settings for {engine} failed:\n{out.stderr[-2000:]}")
    return {**env, **json.loads(out.stdout)}


def load_world(world: Path, env: dict[str, str]) -> float:
    """Every source of `world` into `env`'s warehouse, the APIs served by the demo's sandbox."""
    from demo.run import source_settings
    from demo.sandbox import Sandbox

    manifest = json.loads((world / "world.json").read_text())
    with Sandbox(world, page_size=100) as sandbox:
        settings = source_settings(world, manifest, sandbox.base_urls)
        return timed([sys.executable, "-m", "ingestion"], {**env, **settings})


def dbt(args: list[str], env: dict[str, str], work: Path) -> dict[str, Any]:
    """Run dbt; wall seconds, dbt's node seconds, node seconds by kind and the slowest nodes."""
    command = [str(DBT), *args, "--profiles-dir", str(DBT_PROJECT), "--project-dir"]
    command += [str(DBT_PROJECT), "--target-path", str(work / "target")]
    command += ["--log-path", str(work / "logs")]
    wall = timed(command, env, DBT_PROJECT)
    run_results = json.loads((work / "target" / "run_results.json").read_text())
    nodes = sorted(run_results["results"], key=lambda node: -float(node["execution_time"]))
    by_kind: dict[str, float] = {}
    for node in nodes:
        kind = node["unique_id"].split(".")[0]
        by_kind[kind] = by_kind.get(kind, 0.0) + float(node["execution_time"])
    return {
        "wall_s": round(wall, 2),
        "nodes_s": round(float(run_results["elapsed_time"]), 2),
        "node_seconds_by_kind": {kind: round(seconds, 2) for kind, seconds in by_kind.items()},
        "nodes": len(nodes),
        "slowest_nodes": [
            {"node": node["unique_id"], "seconds": round(float(node["execution_time"]), 3)}
            for node in nodes[:SLOWEST_NODES]
        ],
    }


def _new_day_insert(columns: list[str], load_id: str, kind: str, day: date) -> str:
    """One portable `insert ... select` of the new day's rows of one `kind` (see the docstring).

    Explicit column lists, quoted names (`timestamp` is a keyword) and `interval '1 day'`
    arithmetic read the same on DuckDB and PostgreSQL."""
    suffix, shift, received, sample = {
        "next": ("-next", "1 day", "1 day", "true"),
        "late": ("-late", "0 days", "2 days", LATE_SAMPLE),
        "again": (None, "0 days", "1 day", AGAIN_SAMPLE),
    }[kind]
    message = "message_id" if suffix is None else f"message_id || '{suffix}'"
    overrides = {
        "message_id": message,
        "timestamp": f"\"timestamp\" + interval '{shift}'",
        "received_at": f"received_at + interval '{received}'",
        "_dlt_load_id": f"'{load_id}'",
        "_dlt_id": f"message_id || '{suffix or '-again'}'",
    }
    names = ", ".join(f'"{column}"' for column in columns)
    values = ", ".join(overrides.get(column, f'"{column}"') for column in columns)
    where = f"cast(\"timestamp\" as date) = date '{day.isoformat()}' and {sample}"
    if kind == "again":  # re-deliver copies of the day's original load only
        where += f" and _dlt_load_id <> '{load_id}'"
    return f"insert into raw_segment.events ({names}) select {values} from raw_segment.events where {where}"  # noqa: E501


def add_one_day(execute: Execute, load_id: str) -> dict[str, Any]:
    """Append the next day of Segment events as a new completed dlt load, in portable SQL."""
    execute("set timezone = 'UTC'")
    columns = [
        str(row[0])
        for row in execute(
            "select column_name from information_schema.columns where table_schema ="
            " 'raw_segment' and table_name = 'events' order by ordinal_position"
        )
    ]
    last_day = execute(
        'select max(cast("timestamp" as date)) from raw_segment.events'
        " where type in ('track', 'page')"
    )[0][0]
    before = int(execute("select count(*) from raw_segment.events")[0][0])
    execute(_new_day_insert(columns, load_id, "next", last_day))
    execute(_new_day_insert(columns, load_id, "late", last_day - timedelta(days=1)))
    execute(_new_day_insert(columns, load_id, "again", last_day))
    after = int(execute("select count(*) from raw_segment.events")[0][0])
    execute(
        "insert into raw_segment._dlt_loads (load_id, schema_name, status, inserted_at)"
        f" values ('{load_id}', 'segment', 0, now())"
    )
    return {
        "new_day": str(last_day + timedelta(days=1)),
        "rows_added": after - before,
        "raw_events_before": before,
    }


def add_one_day_to(engine: str, env: dict[str, str], load_id: str) -> dict[str, Any]:
    """`add_one_day` through the engine's own driver, committed."""
    if engine == "duckdb":
        con = duckdb.connect(env["WAREHOUSE_PATH"])
        try:
            return add_one_day(lambda sql: con.execute(sql).fetchall(), load_id)
        finally:
            con.close()
    pg = psycopg2.connect(env["DESTINATION__POSTGRES__CREDENTIALS"])
    try:
        with pg, pg.cursor() as cursor:

            def execute(sql: str) -> list[tuple[Any, ...]]:
                cursor.execute(sql)
                return cursor.fetchall() if cursor.description else []

            return add_one_day(execute, load_id)
    finally:
        pg.close()


def time_gx(engine: str, env: dict[str, str], work: Path) -> dict[str, Any]:
    """The raw events suite by load and on the whole table: seconds, rows and severity."""
    import great_expectations  # noqa: F401  (imported untimed: the first call would pay it)

    from orchestration.lib.gx_checks import load_suites, validate_table

    (suite,) = [s for s in load_suites() if s.table == "raw_segment.events"]
    figures: dict[str, Any] = {}
    for name, by_load in (("by_load", True), ("whole_table", False)):
        started = time.perf_counter()
        outcome = validate_table(
            suite,
            engine="postgres" if engine == "postgres" else "duckdb",
            warehouse=Path(env["WAREHOUSE_PATH"]),
            connection_string=env.get("DESTINATION__POSTGRES__CREDENTIALS"),
            render_to=work / "gx_docs",
            by_load=by_load,
        )
        figures[f"gx_{name}_s"] = round(time.perf_counter() - started, 2)
        figures[f"gx_{name}_rows"] = outcome.rows
        figures[f"gx_{name}_severity"] = outcome.severity
    return figures


def server_facts(cluster: pg_cluster.Cluster) -> dict[str, str]:
    """The server's version and the memory settings the figures depend on (defaults here)."""
    con = psycopg2.connect(cluster.url)
    try:
        with con.cursor() as cursor:
            facts = {}
            for setting in ("server_version", "shared_buffers", "work_mem", "max_wal_size"):
                cursor.execute(f"show {setting}")
                facts[setting] = str(cursor.fetchone()[0])
            return facts
    finally:
        con.close()


def read_marts(engine: str, env: dict[str, str]) -> Marts:
    """Every mart of the engine's warehouse, normalised (`tools.compare_marts`)."""
    if engine == "duckdb":
        return read_duckdb(Path(env["WAREHOUSE_PATH"]))
    return read_postgres(env["DESTINATION__POSTGRES__CREDENTIALS"])


def measure_engine(
    engine: str,
    env: dict[str, str],
    work: Path,
    load_id: str,
    gx: bool,
    verify: bool,
    skip_unit_tests: bool,
) -> tuple[dict[str, Any], Marts | None]:
    """Full build, new day, incremental build (and the checks) on one loaded warehouse."""
    dbt(["seed"], env, work)
    # The Dagster asset drops the unit tests when project, dbt and tables are unchanged since
    # they last passed (orchestration/defs/transform): the daily run's usual shape.
    build = ["build", "--exclude-resource-type", "unit_test"] if skip_unit_tests else ["build"]
    figures: dict[str, Any] = {"full": dbt([*build, "--full-refresh"], env, work)}
    added = add_one_day_to(engine, env, load_id)
    checks = time_gx(engine, env, work) if gx else {}
    figures["incremental"] = {**dbt(build, env, work), "added": added, **checks}
    figures["ratio_incremental_to_full"] = round(
        figures["incremental"]["wall_s"] / figures["full"]["wall_s"], 3
    )
    figures["ratio_nodes_only"] = round(
        figures["incremental"]["nodes_s"] / figures["full"]["nodes_s"], 3
    )
    incremental: Marts | None = None
    if verify:
        incremental = read_marts(engine, env)
        refresh = dbt(["run", "--full-refresh"], env, work)
        different = differences(incremental, read_marts(engine, env))
        figures["verify_full_refresh_run_s"] = refresh["wall_s"]
        figures["verified_equal_to_full_refresh"] = not different
        figures["marts_different"] = different
    return figures, incremental


def measure_scale(
    scale: float,
    work: Path,
    cluster: pg_cluster.Cluster,
    gx: bool,
    verify: bool,
    skip_unit_tests: bool,
) -> dict[str, Any]:
    """Generate and load one world on both engines, then measure each (module docstring)."""
    world = work / f"world-{scale}"
    results: dict[str, Any] = {}
    if not (world / "world.json").exists():
        results["generate_world_s"] = timed(
            [sys.executable, "-m", "demo", "generate", "--out", str(world), "--scale", str(scale),
             "--end-date", END_DATE],
            os.environ.copy(),
        )  # fmt: skip
    database = f"bench_{str(scale).replace('.', '_')}_{int(time.time())}"
    url = cluster.create_database(database).url
    load_id = f"{time.time():.7f}"  # one new load id for both engines: identical new rows
    marts: dict[str, Marts | None] = {}
    for engine in ENGINES:
        folder = work / f"{engine}-{scale}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        env = engine_env(engine, folder, url if engine == "postgres" else None)
        print(f"  scale {scale}: loading the world into {engine} ...", flush=True)
        load_s = load_world(world, env)
        print(f"  scale {scale}: measuring {engine} ...", flush=True)
        results[engine], marts[engine] = measure_engine(
            engine, env, folder, load_id, gx, verify, skip_unit_tests
        )
        results[engine]["load_all_sources_s"] = round(load_s, 2)
    for kind in ("full", "incremental"):
        results[f"ratio_postgres_to_duckdb_{kind}"] = round(
            results["postgres"][kind]["wall_s"] / results["duckdb"][kind]["wall_s"], 3
        )
    if marts["duckdb"] is not None and marts["postgres"] is not None:
        different = differences(marts["duckdb"], marts["postgres"])
        results["engines_equal"] = not different
        results["engines_different"] = different
    return results


def _print_table(results: dict[str, Any], gx: bool, verify: bool) -> None:
    print(f"{'scale':>6} {'engine':<9}{'full s':>9}{'(nodes)':>9}{'incr s':>9}{'(nodes)':>9}"
          f"{'incr/full':>11}{'models s':>10}{'tests s':>9}{'load s':>8}")  # fmt: skip
    for scale, by_engine in results["scales"].items():
        for engine in ENGINES:
            row = by_engine[engine]
            full, incremental = row["full"], row["incremental"]
            kinds = incremental["node_seconds_by_kind"]
            tests = kinds.get("test", 0.0) + kinds.get("unit_test", 0.0)
            print(
                f"{scale:>6} {engine:<9}{full['wall_s']:>9.1f}{full['nodes_s']:>9.1f}"
                f"{incremental['wall_s']:>9.1f}{incremental['nodes_s']:>9.1f}"
                f"{row['ratio_incremental_to_full']:>11.1%}{kinds.get('model', 0.0):>10.1f}"
                f"{tests:>9.1f}{row['load_all_sources_s']:>8.1f}"
            )
        print(
            f"{scale:>6} postgres/duckdb: full x{by_engine['ratio_postgres_to_duckdb_full']:.2f},"
            f" incremental x{by_engine['ratio_postgres_to_duckdb_incremental']:.2f}"
        )
    largest = list(results["scales"])[-1]
    for engine in ENGINES:
        row = results["scales"][largest][engine]
        for kind in ("full", "incremental"):
            print(f"slowest nodes, {kind} build on {engine} at scale {largest}:")
            for node in row[kind]["slowest_nodes"][:6]:
                print(f"  {node['seconds']:>7.2f} s  {node['node']}")
        if gx:
            incremental = row["incremental"]
            print(
                f"  GX raw events: by load {incremental['gx_by_load_s']:.1f} s"
                f" ({incremental['gx_by_load_rows']} rows), whole table"
                f" {incremental['gx_whole_table_s']:.1f} s"
                f" ({incremental['gx_whole_table_rows']} rows)"
            )
    if verify:
        for scale, by_engine in results["scales"].items():
            equal = {e: by_engine[e]["verified_equal_to_full_refresh"] for e in ENGINES}
            print(
                f"scale {scale}: incremental equals full refresh {equal};"
                f" duckdb marts equal postgres marts: {by_engine['engines_equal']}"
            )


def main(argv: list[str] | None = None) -> int:
    """CLI: measure every scale on both engines, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="bench/postgres.py", description=__doc__)
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--gx", action="store_true", help="also time the raw events GX suite")
    parser.add_argument(
        "--skip-unit-tests",
        action="store_true",
        help="builds without dbt's unit tests (Dagster's daily shape when nothing changed)",
    )
    parser.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip the full-refresh and cross-engine equality checks",
    )
    parser.add_argument(
        "--work", type=Path, default=None, help="scratch folder (default: a temporary one)"
    )
    args = parser.parse_args(argv)
    work = (args.work or Path(tempfile.mkdtemp(prefix="bench-postgres-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: dict[str, Any] = {"scales": {}}
    pg_cluster.stop(work / "pg")  # a server an interrupted run of this bench left in `--work`
    cluster = pg_cluster.start(work / "pg")
    try:
        for scale in args.scales:
            print(f"scale {scale} ...", flush=True)
            results["scales"][str(scale)] = measure_scale(
                scale, work, cluster, args.gx, args.verify, args.skip_unit_tests
            )
        facts = server_facts(cluster)
    finally:
        pg_cluster.stop(work / "pg")
    results["meta"] = {
        "postgres": facts,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "dbt build",
        "skips_unit_tests": args.skip_unit_tests,
        "bench_wall_s": round(time.perf_counter() - started, 1),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "duckdb": duckdb.__version__,
        "postgres_bin": str(pg_cluster.find_bin_dir()),
        "loadavg_at_end": os.getloadavg(),
    }
    _print_table(results, args.gx, args.verify)
    out = write_results("postgres", results)
    print(f"bench wall time {results['meta']['bench_wall_s']} s; wrote {out}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    failed = [
        scale
        for scale, by_engine in results["scales"].items()
        if by_engine.get("engines_equal") is False
        or any(by_engine[e].get("verified_equal_to_full_refresh") is False for e in ENGINES)
    ]
    if failed:
        print(f"marts differ at scales {failed}: see marts_different in {out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
