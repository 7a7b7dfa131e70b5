"""Benchmark the dbt marts: full builds at scale 1 and 10, and the incremental daily run.

    .venv/bin/python bench/marts.py                       # builds the sample worlds if needed
    .venv/bin/python bench/marts.py --w1 /tmp/w1/warehouse.duckdb --w10 /tmp/w10/warehouse.duckdb

Inputs are warehouses whose raw tables are loaded (what `python -m demo.run` leaves;
when a path does not exist, the bench runs `demo.run` for that scale into it, with
end date 2026-03-31). Each measurement works on a copy, so the inputs are never changed:

1. `full_scale_1`: `dbt run --full-refresh` on the scale-1 copy (seeds loaded first, untimed);
2. `incremental_scale_1`: on that built copy, one more day of events lands as a new completed
   dlt load (the last day's events shifted one day later with new messageIds, plus 1% of the
   day before re-sent as late events and 1% of the last day re-delivered with the same
   messageId), then a plain `dbt run` (incremental models rebuild only the new days plus the
   `lookback_days` window);
3. `full_scale_10` and `incremental_scale_10`: the same on the scale-10 copy.

With `--longer-history K`, `full_history_xK` and `incremental_history_xK` repeat 3 on a copy of
the scale-10 world whose events history is K times as long (the 90 days copied K-1 times
into the quarters before, under new messageIds): the same product and accounts over a
longer past, which is what grows in a real warehouse. An incremental run should cost about
the same whatever the history; the full build grows with it.

`--gx` also times the Great Expectations suite of `raw_segment.events` on each incremented copy
before its incremental run (the shape of `build_marts`: checks, then dbt), by load (the new
loads staging has not built, what the Dagster check does) and, side by side, on the whole
table as before #16 (`gx_by_load_s`, `gx_whole_table_s`).

`--skip-scale-1` measures scale 10 (and the longer history) only; `--keep-built DIR` keeps a
copy of each fully built warehouse (before its new day) in DIR, to time single models on.
The JSON keeps every node's seconds of each incremental run (`node_seconds`).

`--with-tests` also times `dbt test` after each run. `--build` times `dbt build` instead of
`dbt run` (seeds, models, data and unit tests in one invocation: the command the Dagster
schedule and sensor run through dagster-dbt). `--verify` then runs a `--full-refresh` of the
incremented copy and checks every mart equals the incremental result row for row
(`tools.compare_marts`: doubles to 9 significant digits, as summation order may differ).

Every dbt invocation pays a fixed start-up (importing dbt, loading the partially parsed
project, writing manifest.json and run_results.json); `startup_floor` times a `dbt run` that
selects nothing on the built scale-10 copy, i.e. the wall time of an incremental run that
had no work at all. The JSON also keeps each measurement's slowest nodes (run_results.json).

Prints a table and writes `bench/results/marts-<timestamp>.json` (git-ignored). Targets: the
incremental run under 15% of the full build at scale 10 (#4); with `--build --longer-history
10`, the incremental run at 10x history at most 1.5x the one at scale 10 (#16,
`ratio_incremental_longer_history_to_scale_10`).
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
from record import write_results  # bench/ is on the path when run as a script

from tools.compare_marts import differences, read_duckdb

ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT = ROOT / "dbt_project"
DBT = Path(os.environ.get("DBT_EXECUTABLE", ROOT / ".venv" / "bin" / "dbt"))
END_DATE = "2026-03-31"
LAST_DBT_ELAPSED = [0.0]
LAST_DBT_NODES: list[dict[str, Any]] = []
LAST_DBT_KINDS: dict[str, float] = {}  # node seconds summed by kind: model, test, unit_test, seed
LAST_DBT_ALL: dict[str, float] = {}  # every node's seconds, to compare two runs model by model
SLOWEST_NODES = 25


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
    command = [sys.executable, "-m", "demo.run", "--use-environment"]
    command += ["--data", str(folder / "world"), "--scale", str(scale), "--end-date", END_DATE]
    print(f"loading the scale-{scale} sample world into {warehouse} ...", flush=True)
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def run_dbt_command(args: list[str], warehouse: Path, work: Path) -> float:
    """Run dbt against `warehouse` with `work` as its target folder; return wall seconds."""
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
    return elapsed


def dbt(args: list[str], warehouse: Path, work: Path) -> float:
    """Run dbt against `warehouse`; return wall seconds (raises on failure).

    dbt's own figure (run_results.json `elapsed_time`: the nodes, without process start-up
    and project loading) is kept in LAST_DBT_ELAPSED."""
    elapsed = run_dbt_command(args, warehouse, work)
    run_results = json.loads((work / "target" / "run_results.json").read_text())
    LAST_DBT_ELAPSED[0] = float(run_results["elapsed_time"])
    nodes = sorted(run_results["results"], key=lambda node: -float(node["execution_time"]))
    LAST_DBT_NODES[:] = [
        {"node": node["unique_id"], "seconds": round(float(node["execution_time"]), 3)}
        for node in nodes[:SLOWEST_NODES]
    ]
    by_kind: dict[str, float] = {}
    for node in nodes:
        kind = node["unique_id"].split(".")[0]
        by_kind[kind] = by_kind.get(kind, 0.0) + float(node["execution_time"])
    LAST_DBT_KINDS.clear()
    LAST_DBT_KINDS.update({kind: round(seconds, 2) for kind, seconds in by_kind.items()})
    LAST_DBT_ALL.clear()
    LAST_DBT_ALL.update(
        {node["unique_id"]: round(float(node["execution_time"]), 3) for node in nodes}
    )
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


def lengthen_history(warehouse: Path, times: int) -> dict[str, Any]:
    """Make the events history `times` as long: copies of every event, moved back by whole
    history spans, under new messageIds (in the same completed dlt loads)."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("set TimeZone = 'UTC'")
        first, last = con.execute(
            "select min(cast(timestamp as date)), max(cast(timestamp as date))"
            " from raw_segment.events"
        ).fetchone()
        span = (last - first).days + 1
        for copy in range(1, times):
            back = f"interval {span * copy} day"
            con.execute(
                "insert into raw_segment.events select * replace ("
                f"message_id || '-h{copy}' as message_id, _dlt_id || '-h{copy}' as _dlt_id,"
                f" timestamp - {back} as timestamp, received_at - {back} as received_at,"
                f" sent_at - {back} as sent_at) from raw_segment.events"
                " where not contains(message_id, '-h')"
            )
        events = con.execute("select count(*) from raw_segment.events").fetchone()[0]
    finally:
        con.close()
    return {"history_days": span * times, "raw_events": events}


def full_build(
    source: Path, work: Path, with_tests: bool, command: str, history_times: int = 1
) -> tuple[Path, dict[str, Any]]:
    copy = work / "warehouse.duckdb"
    shutil.copyfile(source, copy)
    drop_built(copy)
    history = lengthen_history(copy, history_times) if history_times > 1 else None
    dbt(["seed"], copy, work)
    figures: dict[str, Any] = {"run": dbt([command, "--full-refresh"], copy, work)}
    figures["run_nodes"] = LAST_DBT_ELAPSED[0]
    figures["node_seconds_by_kind"] = dict(LAST_DBT_KINDS)
    figures["slowest_nodes"] = list(LAST_DBT_NODES)
    if with_tests:
        figures["test"] = dbt(["test"], copy, work)
    if history is not None:
        figures["history"] = history
    return copy, figures


def time_gx(copy: Path, work: Path) -> dict[str, Any]:
    """The raw events suite by load and on the whole table: seconds and rows validated."""
    from orchestration.lib.gx_checks import load_suites, validate_table

    (suite,) = [s for s in load_suites() if s.table == "raw_segment.events"]
    figures: dict[str, Any] = {}
    for name, by_load in (("by_load", True), ("whole_table", False)):
        started = time.perf_counter()
        outcome = validate_table(
            suite, engine="duckdb", warehouse=copy, render_to=work / "gx_docs", by_load=by_load
        )
        figures[f"gx_{name}_s"] = round(time.perf_counter() - started, 2)
        figures[f"gx_{name}_rows"] = outcome.rows
        figures[f"gx_{name}_severity"] = outcome.severity
    return figures


def incremental_run(
    copy: Path, work: Path, with_tests: bool, command: str, gx: bool = False
) -> dict[str, Any]:
    """Add the next day of events to a built copy, then time the plain (incremental) run."""
    added = add_one_day(copy)
    checks = time_gx(copy, work) if gx else {}
    figures: dict[str, Any] = {"run": dbt([command], copy, work), "added": added, **checks}
    figures["run_nodes"] = LAST_DBT_ELAPSED[0]
    figures["node_seconds_by_kind"] = dict(LAST_DBT_KINDS)
    figures["slowest_nodes"] = list(LAST_DBT_NODES)
    figures["node_seconds"] = dict(LAST_DBT_ALL)
    if with_tests:
        figures["test"] = dbt(["test"], copy, work)
    return figures


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
    parser.add_argument(
        "--gx", action="store_true", help="also time the raw events GX suite, by load and whole"
    )
    parser.add_argument(
        "--keep-built",
        type=Path,
        metavar="DIR",
        help="keep a copy of each fully built warehouse (before its new day) in DIR, to iterate on",
    )
    parser.add_argument(
        "--skip-scale-1", action="store_true", help="measure scale 10 (and longer history) only"
    )
    parser.add_argument(
        "--longer-history",
        type=int,
        default=0,
        metavar="K",
        help="also measure on the scale-10 world with a K times longer events history",
    )
    args = parser.parse_args(argv)
    if args.build and args.with_tests:
        parser.error("--build already runs the tests; drop --with-tests")
    command = "build" if args.build else "run"
    if not args.skip_scale_1:
        ensure_world(args.w1, 1)
    ensure_world(args.w10, 10)

    results: dict[str, Any] = {}
    worlds = [("scale_1", args.w1, 1), ("scale_10", args.w10, 1)]
    if args.skip_scale_1:
        worlds = worlds[1:]
    if args.longer_history > 1:
        worlds.append((f"history_x{args.longer_history}", args.w10, args.longer_history))
    with tempfile.TemporaryDirectory(prefix="bench_marts_") as tmp:
        for name, source, times in worlds:
            work = Path(tmp) / name
            work.mkdir()
            copy, results[f"full_{name}"] = full_build(
                source, work, args.with_tests, command, times
            )
            if args.keep_built is not None:
                args.keep_built.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(copy, args.keep_built / f"{name}-built.duckdb")
            if name == "scale_10":
                results["startup_floor"] = dbt(
                    ["run", "--select", "nothing_selected_xyz"], copy, work
                )
            results[f"incremental_{name}"] = incremental_run(
                copy, work, args.with_tests, command, args.gx
            )
            if name == "scale_10" and args.verify:
                incremental = read_duckdb(copy)
                dbt(["run", "--full-refresh"], copy, work)
                different = differences(incremental, read_duckdb(copy))
                results["verified_equal_to_full_refresh"] = not different
                results["marts_different"] = different
            copy.unlink()  # the longer history's copy is several GB

    for name, _, _ in worlds:
        full, incremental = results[f"full_{name}"], results[f"incremental_{name}"]
        results[f"ratio_incremental_to_full_{name}"] = incremental["run"] / full["run"]
        results[f"ratio_nodes_only_{name}"] = incremental["run_nodes"] / full["run_nodes"]
    ratio = results["ratio_incremental_to_full_scale_10"]
    nodes_ratio = results["ratio_nodes_only_scale_10"]
    results["ratio_startup_floor_scale_10"] = (
        results["startup_floor"] / results["full_scale_10"]["run"]
    )
    if args.longer_history > 1:
        # The #16 target: a daily run's cost follows new data, not history (at most 1.5x).
        longer = results[f"incremental_history_x{args.longer_history}"]
        base = results["incremental_scale_10"]
        results["ratio_incremental_longer_history_to_scale_10"] = longer["run"] / base["run"]
        results["ratio_incremental_longer_history_to_scale_10_nodes"] = (
            longer["run_nodes"] / base["run_nodes"]
        )
    results["command"] = f"dbt {command}"
    results["meta"] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "duckdb": duckdb.__version__,
    }

    header = f"{'measurement':<26}{'dbt ' + command + ' s':>12}{'nodes s':>10}{'dbt test s':>12}"
    print(f"{header}{'incr/full':>11}{'nodes only':>12}")
    for name, _, _ in worlds:
        for kind in ("full", "incremental"):
            row = results[f"{kind}_{name}"]
            test = f"{row['test']:.1f}" if "test" in row else "-"
            line = f"{kind + '_' + name:<26}{row['run']:>12.1f}{row['run_nodes']:>10.1f}{test:>12}"
            if kind == "incremental":
                line += f"{results[f'ratio_incremental_to_full_{name}']:>11.1%}"
                line += f"{results[f'ratio_nodes_only_{name}']:>12.1%}"
            print(line)
    print(f"incremental / full at scale 10: {ratio:.1%} wall (#4: < 15%, blocked),")
    print(f"  {nodes_ratio:.1%} counting dbt's node time only (no process start-up)")
    floor = results["startup_floor"]
    print(
        f"dbt start-up alone (a run selecting nothing): {floor:.1f} s ="
        f" {results['ratio_startup_floor_scale_10']:.1%} of the full build (the ratio's floor)"
    )
    if args.longer_history > 1:
        print(
            f"incremental run, {args.longer_history}x history / scale 10:"
            f" {results['ratio_incremental_longer_history_to_scale_10']:.2f}x wall,"
            f" {results['ratio_incremental_longer_history_to_scale_10_nodes']:.2f}x nodes"
            " (target <= 1.5x)"
        )
    print("slowest nodes of the incremental run at scale 10:")
    for node in results["incremental_scale_10"]["slowest_nodes"][:8]:
        print(f"  {node['seconds']:>6.2f} s  {node['node']}")
    if args.longer_history > 1:
        print(f"slowest nodes of the incremental run at {args.longer_history}x history:")
        longer_nodes = results[f"incremental_history_x{args.longer_history}"]["slowest_nodes"]
        for node in longer_nodes[:8]:
            print(f"  {node['seconds']:>6.2f} s  {node['node']}")
    for name, _, _ in worlds:
        history = results[f"full_{name}"].get("history")
        extra = f", history {history}" if history else ""
        print(f"{name}: added {results[f'incremental_{name}']['added']}{extra}")
        kinds = results[f"incremental_{name}"]["node_seconds_by_kind"]
        print(f"  incremental node seconds by kind: {kinds}")
    if args.gx:
        for name, _, _ in worlds:
            row = results[f"incremental_{name}"]
            print(
                f"GX raw events, {name}: by load {row['gx_by_load_s']:.1f} s"
                f" ({row['gx_by_load_rows']} rows), whole table {row['gx_whole_table_s']:.1f} s"
                f" ({row['gx_whole_table_rows']} rows)"
            )
    if args.verify:
        print(f"incremental equals full refresh: {results['verified_equal_to_full_refresh']}")

    out = write_results("marts", results)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
