"""Benchmark the dbt marts: full builds at scale 1 and 10, and the incremental daily run.

    .venv/bin/python bench/marts.py                       # builds the sample worlds if needed
    .venv/bin/python bench/marts.py --w1 /tmp/w1/warehouse.duckdb --w10 /tmp/w10/warehouse.duckdb

Inputs are warehouses whose raw tables are loaded (what `python -m orchestration.run` leaves;
when a path does not exist, the bench runs `orchestration.run` for that scale into it, with
end date 2026-03-31). Each measurement works on a copy, so the inputs are never changed:

1. `full_scale_1`: `dbt run --full-refresh` on the scale-1 copy (seeds loaded first, untimed);
2. `full_scale_10`: the same on the scale-10 copy;
3. `incremental_scale_10`: on that built scale-10 copy, one more day of events lands as a new
   completed dlt load (the last day's events shifted one day later with new messageIds, plus
   1% of the day before re-sent as late events and 1% of the last day re-delivered with the
   same messageId), then a plain `dbt run` (incremental models rebuild only the new days plus
   the `lookback_days` window).

`--with-tests` also times `dbt test` after each run. `--build` times `dbt build` instead of
`dbt run` (seeds, models, data and unit tests in one invocation: the command the Dagster
schedule and sensor run through dagster-dbt). `--verify` then runs a `--full-refresh` of the
incremented copy and checks every mart equals the incremental result row for row.

Every dbt invocation pays a fixed start-up (importing dbt, loading the partially parsed
project, writing manifest.json and run_results.json); `startup_floor` times a `dbt run` that
selects nothing on the built scale-10 copy, i.e. the wall time of an incremental run that
had no work at all. The JSON also keeps each measurement's slowest nodes (run_results.json).

Prints a table and writes `bench/results/marts-<timestamp>.json` (git-ignored). Target: the
incremental run under 15% of the full build at scale 10.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT = ROOT / "dbt_project"
DBT = Path(os.environ.get("DBT_EXECUTABLE", ROOT / ".venv" / "bin" / "dbt"))
RESULTS = Path(__file__).resolve().parent / "results"
END_DATE = "2026-03-31"
LAST_DBT_ELAPSED = [0.0]
LAST_DBT_NODES: list[dict[str, Any]] = []
SLOWEST_NODES = 12


def ensure_world(warehouse: Path, scale: int) -> None:
    """Load the sample world at `scale` into `warehouse` unless it is there already."""
    if warehouse.exists():
        return
    folder = warehouse.parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster_home").mkdir(exist_ok=True)
    env = {
        **os.environ,
        "WAREHOUSE_PATH": str(warehouse),
        "DAGSTER_HOME": str(folder / "dagster_home"),
    }
    command = [sys.executable, "-m", "orchestration.run", "--data", str(folder / "world")]
    command += ["--scale", str(scale), "--end-date", END_DATE]
    print(f"loading the scale-{scale} sample world into {warehouse} ...", flush=True)
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def dbt(args: list[str], warehouse: Path, work: Path) -> float:
    """Run dbt against `warehouse`; return wall seconds (raises on failure).

    dbt's own figure (run_results.json `elapsed_time`: the nodes, without process start-up
    and project loading) is kept in LAST_DBT_ELAPSED."""
    env = {
        **os.environ,
        "WAREHOUSE_PATH": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = [str(DBT), *args, "--profiles-dir", str(DBT_PROJECT), "--project-dir"]
    command += [str(DBT_PROJECT), "--target-path", str(work / "target")]
    command += ["--log-path", str(work / "logs")]
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=DBT_PROJECT, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{result.stdout[-4000:]}")
    run_results = json.loads((work / "target" / "run_results.json").read_text())
    LAST_DBT_ELAPSED[0] = float(run_results["elapsed_time"])
    nodes = sorted(run_results["results"], key=lambda node: -float(node["execution_time"]))
    LAST_DBT_NODES[:] = [
        {"node": node["unique_id"], "seconds": round(float(node["execution_time"]), 3)}
        for node in nodes[:SLOWEST_NODES]
    ]
    return elapsed


def drop_built(warehouse: Path) -> None:
    """Drop what dbt built, so a full build starts from raw tables only."""
    con = duckdb.connect(str(warehouse))
    try:
        for schema in ("staging", "intermediate", "marts", "seeds"):
            con.execute(f"drop schema if exists {schema} cascade")
    finally:
        con.close()


def add_one_day(warehouse: Path) -> dict[str, Any]:
    """Append the next day of Segment events as a new completed dlt load."""
    load_id = f"{time.time():.7f}"
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("set TimeZone = 'UTC'")
        last_day = con.execute(
            "select max(cast(timestamp as date)) from raw_segment.events"
            " where type in ('track', 'page')"
        ).fetchone()[0]
        before = con.execute("select count(*) from raw_segment.events").fetchone()[0]
        shifted = "* replace ({value} as message_id, {when} as timestamp,"
        shifted += " {received} as received_at, ? as _dlt_load_id, {value} as _dlt_id)"
        # The new day: the last day's events, one day later, with new messageIds.
        con.execute(
            "insert into raw_segment.events select "
            + shifted.format(
                value="message_id || '-next'",
                when="timestamp + interval 1 day",
                received="received_at + interval 1 day",
            )
            + " from raw_segment.events where cast(timestamp as date) = ?",
            [load_id, last_day],
        )
        # Late events: 1% of the day before, re-sent under new messageIds.
        con.execute(
            "insert into raw_segment.events select "
            + shifted.format(
                value="message_id || '-late'",
                when="timestamp",
                received="received_at + interval 2 day",
            )
            + " from raw_segment.events"
            " where cast(timestamp as date) = ? and hash(message_id) % 100 = 0",
            [load_id, last_day - timedelta(days=1)],
        )
        # Re-deliveries: 1% of the last day again, same messageId (the first copy must win).
        con.execute(
            "insert into raw_segment.events select "
            + shifted.format(
                value="message_id",
                when="timestamp",
                received="received_at + interval 1 day",
            ).replace("message_id as _dlt_id", "message_id || '-again' as _dlt_id")
            + " from raw_segment.events"
            " where cast(timestamp as date) = ? and hash(message_id) % 100 = 1"
            " and _dlt_load_id <> ?",
            [load_id, last_day, load_id],
        )
        after = con.execute("select count(*) from raw_segment.events").fetchone()[0]
        con.execute(
            "insert into raw_segment._dlt_loads (load_id, schema_name, status, inserted_at)"
            " values (?, 'segment', 0, now())",
            [load_id],
        )
    finally:
        con.close()
    return {
        "new_day": str(last_day + timedelta(days=1)),
        "rows_added": after - before,
        "raw_events_before": before,
    }


def marts(warehouse: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        out = {}
        tables = con.execute(
            "select table_name from information_schema.tables"
            " where table_schema = 'marts' and table_type = 'BASE TABLE' order by 1"
        ).fetchall()
        for (mart,) in tables:
            width = len(con.execute(f"select * from marts.{mart} limit 0").description)
            order = ", ".join(str(i + 1) for i in range(width))
            out[mart] = con.execute(f"select * from marts.{mart} order by {order}").fetchall()
        return out
    finally:
        con.close()


def full_build(
    source: Path, work: Path, with_tests: bool, command: str
) -> tuple[Path, dict[str, Any]]:
    copy = work / "warehouse.duckdb"
    shutil.copyfile(source, copy)
    drop_built(copy)
    dbt(["seed"], copy, work)
    figures: dict[str, Any] = {"run": dbt([command, "--full-refresh"], copy, work)}
    figures["run_nodes"] = LAST_DBT_ELAPSED[0]
    figures["slowest_nodes"] = list(LAST_DBT_NODES)
    if with_tests:
        figures["test"] = dbt(["test"], copy, work)
    return copy, figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench_data = ROOT / "data" / "bench"
    parser.add_argument("--w1", type=Path, default=bench_data / "w1" / "warehouse.duckdb")
    parser.add_argument("--w10", type=Path, default=bench_data / "w10" / "warehouse.duckdb")
    parser.add_argument("--with-tests", action="store_true", help="also time dbt test")
    parser.add_argument(
        "--build", action="store_true", help="time dbt build (what Dagster runs), not dbt run"
    )
    parser.add_argument("--verify", action="store_true", help="compare with a full refresh")
    args = parser.parse_args(argv)
    if args.build and args.with_tests:
        parser.error("--build already runs the tests; drop --with-tests")
    command = "build" if args.build else "run"
    ensure_world(args.w1, 1)
    ensure_world(args.w10, 10)

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench_marts_") as tmp:
        work1 = Path(tmp) / "w1"
        work10 = Path(tmp) / "w10"
        work1.mkdir()
        work10.mkdir()
        _, results["full_scale_1"] = full_build(args.w1, work1, args.with_tests, command)
        copy10, results["full_scale_10"] = full_build(args.w10, work10, args.with_tests, command)
        results["startup_floor"] = dbt(["run", "--select", "nothing_selected_xyz"], copy10, work10)
        results["added"] = add_one_day(copy10)
        incremental: dict[str, Any] = {"run": dbt([command], copy10, work10)}
        incremental["run_nodes"] = LAST_DBT_ELAPSED[0]
        incremental["slowest_nodes"] = list(LAST_DBT_NODES)
        if args.with_tests:
            incremental["test"] = dbt(["test"], copy10, work10)
        results["incremental_scale_10"] = incremental
        if args.verify:
            expected_source = marts(copy10)
            dbt(["run", "--full-refresh"], copy10, work10)
            different = [m for m, rows in marts(copy10).items() if rows != expected_source[m]]
            results["verified_equal_to_full_refresh"] = not different
            results["marts_different"] = different

    ratio = results["incremental_scale_10"]["run"] / results["full_scale_10"]["run"]
    results["ratio_incremental_to_full_scale_10"] = ratio
    nodes_ratio = (
        results["incremental_scale_10"]["run_nodes"] / results["full_scale_10"]["run_nodes"]
    )
    results["ratio_nodes_only_scale_10"] = nodes_ratio
    results["ratio_startup_floor_scale_10"] = (
        results["startup_floor"] / results["full_scale_10"]["run"]
    )
    results["command"] = f"dbt {command}"
    results["meta"] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "duckdb": duckdb.__version__,
    }

    print(f"{'measurement':<26}{'dbt ' + command + ' s':>12}{'nodes s':>10}{'dbt test s':>12}")
    for name in ("full_scale_1", "full_scale_10", "incremental_scale_10"):
        row = results[name]
        test = f"{row['test']:.1f}" if "test" in row else "-"
        print(f"{name:<26}{row['run']:>12.1f}{row['run_nodes']:>10.1f}{test:>12}")
    print(f"incremental / full at scale 10: {ratio:.1%} wall (target < 15%),")
    print(f"  {nodes_ratio:.1%} counting dbt's node time only (no process start-up)")
    floor = results["startup_floor"]
    print(
        f"dbt start-up alone (a run selecting nothing): {floor:.1f} s ="
        f" {results['ratio_startup_floor_scale_10']:.1%} of the full build (the ratio's floor)"
    )
    print("slowest nodes of the incremental run:")
    for node in results["incremental_scale_10"]["slowest_nodes"][:8]:
        print(f"  {node['seconds']:>6.2f} s  {node['node']}")
    print(f"added: {results['added']}")
    if args.verify:
        print(f"incremental equals full refresh: {results['verified_equal_to_full_refresh']}")

    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"marts-{stamp}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
