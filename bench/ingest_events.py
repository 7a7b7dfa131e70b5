"""Benchmark the Segment events loader against DuckDB's own `read_json` of the same files.

    .venv/bin/python bench/ingest_events.py                 # 1,000,000 events
    .venv/bin/python bench/ingest_events.py --events 10000000 --only loader
    .venv/bin/python bench/ingest_events.py --data /tmp/x   # keep and reuse the files there
    .venv/bin/python bench/ingest_events.py --data /tmp/x --only baseline loader_base loader \
        --base /tmp/base --repeat 3                          # before/after, rounds alternating
    .venv/bin/python bench/ingest_events.py --lines-per-file 1000   # 1,000 small files

Generates N Segment Spec track/page messages as gzip JSON Lines (100k lines a file, or
`--lines-per-file`; 1% of messages re-delivered in a later file, so the loader's deduplication
does real work), then runs, each in its own child process so that peak memory is that run's alone:

- `loader`: `ingestion.segment.load()` into a fresh DuckDB file (the warehouse inserting the
  files itself under dlt's load id, `ingestion/segment/streaming.py`; a crashed load is never
  read, and every copy of a message is kept);
- `loader_dlt` (only with `--only`): the same with `SOURCES__SEGMENT__STREAM_INSERTS=false`,
  every file through dlt's extract, normalize and load (the path of PostgreSQL and Spark; a
  copy re-delivered inside one load is skipped there);
- `staging`: `dbt run -s stg_segment__events` on the loader's warehouse, the first-copy rule on
  messageId over that load (`raw_segment.events` is an append-only log of loads: re-delivered
  copies are counted once there). dbt's start-up is reported apart from the
  model's own time (`run_results.json`); `loader+dedup` is the loader plus the model's time;
- `baseline`: `create table events as select * from read_json(...)` in a fresh DuckDB file;
- `loader_merge` (only with `--only`): the loader as it was before issue #16, dlt's
  insert-only merge on messageId (through dlt's extract), for a before/after in one run;
- `loader_base` (with `--base PATH`): the loader of another copy of the project (e.g.
  `git archive HEAD ingestion | tar -x -C PATH`), for a before/after of code in one run;
- `parse` (only with `--only`): the loader's columnar parse alone (`columnar.Prefetcher` over
  the files, as the loader runs it, its tables dropped): no dlt step, no dedup, no warehouse.
  How much of the loader's ratio is reading and checking the files;
- `read_json_typed` (only with `--only`): `read_json` with the raw table's fields declared
  (ids and times as text, nested fields as JSON text, as `raw_segment.events` stores them)
  into a fresh DuckDB file: what DuckDB's own reader costs for the raw table's columns.
- `streaming_insert` (only with `--only`): the loader's parse and checks (`columnar.parse_sql`)
  as one `INSERT ... SELECT` per ten files (a load's 1M events here) straight into a fresh
  DuckDB file, a line that is not plain failing its statement (`error()`): no dlt, no Python
  per batch, no in-load dedup, no per-line path, unknown fields as text. What a loader that
  parsed and inserted in one streaming DuckDB query could at best cost (docs/architecture.md,
  the Segment loader).

Prints wall and CPU seconds, rows/s, peak RSS, the wall time of each dlt step of a loader's
last load (extract, normalize, load) and the ratios to the baseline (by wall and by CPU time:
on a busy machine CPU time is the steadier of the two), and writes the figures
to `bench/results/ingest_events-<N>-<timestamp>.json` (git-ignored).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from record import write_results  # bench/ is on the path when run as a script

RUN_KINDS = (
    "baseline",
    "loader",
    "staging",
    "loader_merge",
    "loader_base",
    "loader_dlt",
    "parse",
    "read_json_typed",
    "streaming_insert",
)

ROOT = Path(__file__).resolve().parent.parent
LINES_PER_FILE = 100_000
DUPLICATE_SHARE = 0.01

EVENTS = [
    "Report Created",
    "Report Shared",
    "Dashboard Created",
    "Dashboard Viewed",
    "Alert Configured",
    "Export Downloaded",
    "AI Insight Generated",
    "AI Insight Saved",
]
PAGES = ["Home", "Reports", "Dashboards", "Settings", "Billing"]
OFFSETS = ["+00:00", "-05:00", "+01:00", "+05:30", "Z"]


def _message(rng: random.Random, start: datetime, index: int) -> dict[str, Any]:
    account = rng.randrange(2_000)
    user = f"user_{account}_{rng.randrange(40)}"
    when = start + timedelta(seconds=index * 3 + rng.random())
    offset = rng.choice(OFFSETS)
    hours = 0 if offset in ("Z", "+00:00") else int(offset[:3]) + int(offset[0] + offset[4:]) / 60
    local = (when + timedelta(hours=hours)).replace(tzinfo=None).isoformat(timespec="milliseconds")
    common = {
        "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "timestamp": local + offset,
        "receivedAt": (when + timedelta(seconds=1)).isoformat(timespec="milliseconds"),
        "sentAt": when.isoformat(timespec="milliseconds"),
        "userId": user,
        "anonymousId": None,
        "context": {
            "groupId": f"acc_{account}",
            "library": {"name": "analytics.js", "version": "4.1.0"},
            "ip": f"10.{account % 256}.{rng.randrange(256)}.{rng.randrange(256)}",
            "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15",
            "locale": "en-US",
        },
        "integrations": {},
    }
    if rng.random() < 0.7:
        return {
            "type": "track",
            "event": rng.choice(EVENTS),
            "properties": {"report_id": f"r_{rng.randrange(10**6)}", "duration_ms": 1200},
            **common,
        }
    page = rng.choice(PAGES)
    return {
        "type": "page",
        "name": page,
        "properties": {"path": f"/{page.lower()}", "title": page, "url": f"https://app/{page}"},
        **common,
    }


def generate(
    folder: Path, events: int, seed: int = 7, lines_per_file: int = LINES_PER_FILE
) -> dict[str, Any]:
    """Write `events` messages (plus re-deliveries) as day folders of gzip JSON Lines."""
    rng = random.Random(seed)
    # Every event in the past (a future one is set aside by the loader's plausibility check):
    # 2026-01-01 on, or earlier for a set that would reach past today (3 s apart).
    span = timedelta(seconds=3 * events, days=1)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = min(datetime(2026, 1, 1, tzinfo=UTC), today - span)
    files = 0
    lines = 0
    redeliver: list[bytes] = []
    written = 0
    while written < events:
        chunk = min(lines_per_file, events - written)
        day = (start + timedelta(days=files)).strftime("%Y/%m/%d")
        path = folder / day / f"part-{files:05d}.jsonl.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        # Re-deliveries of the previous file's messages travel in this one, as a retrying
        # sender does (the last file's stay in it).
        out = bytearray(b"".join(line + b"\n" for line in redeliver))
        lines += len(redeliver)
        redeliver = []
        for _ in range(chunk):
            line = orjson.dumps(_message(rng, start, written))
            out += line + b"\n"
            if rng.random() < DUPLICATE_SHARE:
                redeliver.append(line)
            written += 1
        if written >= events:
            out += b"".join(line + b"\n" for line in redeliver)
            lines += len(redeliver)
        lines += chunk
        path.write_bytes(gzip.compress(bytes(out), compresslevel=1, mtime=0))
        files += 1
    size = sum(p.stat().st_size for p in folder.rglob("*.gz"))
    return {"files": files, "lines": lines, "unique_messages": events, "gzip_bytes": size}


# --- the measured runs, each executed in a child process ------------------------------------


def warehouse(work: Path, kind: str) -> Path:
    """Each run's warehouse in a folder of its own: dlt keeps its pipeline state beside it."""
    folder = work / kind
    folder.mkdir(exist_ok=True)
    return folder / f"{kind}.duckdb"


def run_loader(
    folder: Path,
    work: Path,
    merge: bool = False,
    base: Path | None = None,
    through_dlt: bool = False,
) -> dict[str, Any]:
    name = "loader_merge" if merge else "loader_base" if base else "loader"
    name = "loader_dlt" if through_dlt else name
    os.environ["WAREHOUSE_PATH"] = str(warehouse(work, name))
    if merge or through_dlt:  # dlt's merge applies to rows that go through dlt
        os.environ["SOURCES__SEGMENT__STREAM_INSERTS"] = "false"
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    # As in a run (`orchestration.lib.startup`): dlt's usage reports off, a thread less
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    sys.path.insert(0, str(base or ROOT))
    from ingestion import segment

    if merge:  # the loader before issue #16: dlt's insert-only merge on messageId
        make_source = segment.segment_events

        def merged(*args: Any, **kwargs: Any) -> Any:
            source = make_source(*args, **kwargs)
            source.resources["events"].apply_hints(
                write_disposition={"disposition": "merge", "strategy": "insert-only"},
                primary_key="message_id",
            )
            return source

        segment.segment_events = merged  # type: ignore[assignment]
    info = segment.load(str(folder))
    trace = info.pipeline.last_trace  # type: ignore[attr-defined]
    steps = {  # the last dlt load's steps (wall s): where the loader's time goes
        step.step: round((step.finished_at - step.started_at).total_seconds(), 2)
        for step in (trace.steps if trace else [])
        if step.finished_at
    }
    return {"steps": steps}


def run_baseline(folder: Path, work: Path) -> dict[str, Any]:
    import duckdb

    with duckdb.connect(str(warehouse(work, "baseline"))) as con:
        con.execute(
            "create table events as select * from read_json(?, format = 'newline_delimited')",
            [str(folder / "**" / "*.gz")],
        )
    return {}


def run_read_json_typed(folder: Path, work: Path) -> dict[str, Any]:
    import duckdb

    sys.path.insert(0, str(ROOT))
    from ingestion.segment.settings import JSON_FIELDS, TEXT_FIELDS, TIMESTAMP_FIELDS

    # The fields the loader types itself (ids and times as text, nested fields as JSON text),
    # and `integrations`, which every generated message carries (an extra JSON column there).
    typed = {
        **dict.fromkeys([*TEXT_FIELDS, *TIMESTAMP_FIELDS], "VARCHAR"),
        **dict.fromkeys([*JSON_FIELDS, "integrations"], "JSON"),
    }
    columns = "{" + ", ".join(f"{key}: '{kind}'" for key, kind in typed.items()) + "}"
    with duckdb.connect(str(warehouse(work, "read_json_typed"))) as con:
        con.execute(
            f"create table events as select * from read_json(?, format = 'newline_delimited', "
            f"columns = {columns}, filename = true)",
            [str(folder / "**" / "*.gz")],
        )
    return {}


def run_parse(folder: Path, work: Path) -> dict[str, Any]:
    """The loader's columnar parse of every file, as the loader runs it; nothing is stored."""
    del work  # no warehouse
    sys.path.insert(0, str(ROOT))
    from ingestion.plausibility import timestamp_bounds
    from ingestion.segment.columnar import Prefetcher

    files = sorted(str(path) for path in folder.rglob("*.gz"))
    parser = Prefetcher([(file, None) for file in files], timestamp_bounds())
    rows = 0
    line_by_line = 0
    try:
        for index in range(len(files)):
            parsed = parser.get(index)
            if parsed is None:
                line_by_line += 1
            else:
                rows += parsed.table.num_rows
    finally:
        parser.close()
    return {"rows": rows, "files_left_to_the_per_line_path": line_by_line}


def run_streaming_insert(folder: Path, work: Path) -> dict[str, Any]:
    """The loader's parse SQL inserting straight into a fresh DuckDB file (module doc)."""
    import duckdb

    sys.path.insert(0, str(ROOT))
    from ingestion.plausibility import timestamp_bounds
    from ingestion.segment.columnar import lines_sql, parse_sql
    from ingestion.segment.settings import DUCKDB_CONFIG, KNOWN_FIELDS

    files = sorted(str(path) for path in folder.rglob("*.gz"))
    bounds = timestamp_bounds()
    with duckdb.connect(str(warehouse(work, "streaming_insert")), config=DUCKDB_CONFIG) as con:
        con.execute("set TimeZone = 'UTC'")
        # The unknown fields, from the first file's keys (as the loader guesses them).
        keys = con.execute(
            f"select distinct unnest(json_keys(line)) from {lines_sql(files[:1])}"
        ).fetchall()
        extras = sorted({key for (key,) in keys} - KNOWN_FIELDS)
        columns = ", ".join(f'x{index}__value as "{key}"' for index, key in enumerate(extras))
        statement = "create table events as"
        for start in range(0, len(files), 10):
            query = parse_sql(lines_sql(files[start : start + 10]), extras, bounds)
            con.execute(
                f"{statement} select * exclude (ok, keys_hash, filename, message_id_hash"
                f"{''.join(f', x{i}__pos, x{i}__kind, x{i}__value' for i in range(len(extras)))})"
                f"{', ' + columns if columns else ''}, filename as _source_file, "
                f"uuid()::varchar as _dlt_id, 'load' as _dlt_load_id from ({query}) "
                f"where case when ok then true else error('not plain: ' || filename) end"
            )
            statement = "insert into events by name"
    return {}


def run_staging(folder: Path, work: Path) -> dict[str, Any]:
    """`dbt run -s stg_segment__events` on the loader's warehouse: model time and start-up."""
    del folder  # the loader's warehouse is the input
    target = work / "dbt"
    project = ROOT / "dbt_project"
    env = {
        **os.environ,
        "WAREHOUSE_PATH": str(warehouse(work, "loader")),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    dbt = Path(sys.executable).parent / "dbt"
    command = [str(dbt), "run", "-s", "stg_segment__events", "--profiles-dir", str(project)]
    command += ["--project-dir", str(project), "--target-path", str(target / "target")]
    command += ["--log-path", str(target / "logs")]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:])
        raise SystemExit(done.returncode)
    results = json.loads((target / "target" / "run_results.json").read_text())
    model = sum(node["execution_time"] for node in results["results"])
    dbt_rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # dbt's own peak
    return {
        "model_seconds": round(model, 2),
        "dbt_startup_seconds": round(seconds - model, 2),
        "dbt_peak_rss_mb": round(dbt_rss_kb / 1024, 1),
    }


def count_rows(kind: str, work: Path) -> dict[str, Any]:
    """Count what a run landed, in the parent: the check must not add to the run's peak."""
    import duckdb

    path = warehouse(work, "loader" if kind == "staging" else kind)
    if not path.exists():
        return {}
    read_json = kind in ("baseline", "read_json_typed")
    table = "events" if read_json or kind == "streaming_insert" else "raw_segment.events"
    table = "staging.stg_segment__events" if kind == "staging" else table
    distinct = "count(distinct messageId)" if read_json else "count(distinct message_id)"
    with duckdb.connect(str(path), read_only=True) as con:
        counted = con.execute(f"select count(*), {distinct} from {table}").fetchone()
    rows, unique = counted if counted else (0, 0)
    return {"rows": rows, "distinct_message_ids": unique}


def measure(kind: str, folder: Path, work: Path, base: Path | None = None) -> dict[str, Any]:
    """Run one kind in a child process: its peak RSS as it reports it (else wait4's), its CPU."""
    out = work / f"{kind}.json"
    started = time.perf_counter()
    command = [sys.executable, __file__, "--child", kind, "--folder", str(folder)]
    command += ["--work", str(work)] + (["--base", str(base)] if base else [])
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    result: dict[str, Any] = {"kind": kind, "exit_code": child.returncode}
    if out.exists():
        result.update(json.loads(out.read_text()))
    if child.returncode == 0:
        result.update(count_rows(kind, work))
    # wait4's maxrss starts from this process's RSS when it started the child (Linux keeps the
    # high-water mark across fork and exec): after generating 30M events here, 1.8-2.1 GB for
    # every child. The child's own high-water mark, when it reported one, is its alone.
    own = result.pop("own_peak_rss_mb", None)
    rss_mb = own if own is not None else round(usage.ru_maxrss / 1024, 1)  # ru_maxrss: KiB
    rows = result.get("rows") or 0
    result.update(
        seconds=round(seconds, 2),
        rows_per_second=round(rows / seconds) if seconds else None,
        peak_rss_mb=result.pop("dbt_peak_rss_mb", rss_mb),
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 2),
    )
    return result


def _own_peak_rss_mb() -> float | None:
    """This process's peak resident memory since it started (VmHWM; None off Linux)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    kib = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return round(int(kib) / 1024, 1) if kib else None


def _print_round(runs: dict[str, dict[str, Any]]) -> None:
    """One round's table, and each loader's ratios to the baseline by wall and CPU time."""
    print(
        f"\n{'run':<14}{'rows':>12}{'wall s':>9}{'CPU s':>8}{'rows/s':>10}{'peak MB':>9}{'exit':>6}"
    )
    for kind, run in runs.items():
        print(
            f"{kind:<14}{run.get('rows') or 0:>12,}{run['seconds']:>9.1f}{run['cpu_seconds']:>8.1f}"
            f"{run['rows_per_second'] or 0:>10,}{run['peak_rss_mb']:>9.0f}{run['exit_code']:>6}"
        )
    for kind, run in runs.items():
        if run.get("steps"):
            steps = ", ".join(f"{step} {seconds}" for step, seconds in run["steps"].items())
            print(f"{kind} dlt steps (wall s, last load): {steps}")
    staging = runs.get("staging", {})
    if "model_seconds" in staging:
        print(
            f"stg_segment__events: model {staging['model_seconds']}s "
            f"(dbt start-up {staging['dbt_startup_seconds']}s apart)"
        )
    baseline = runs.get("baseline")
    if not baseline or not baseline["seconds"] or not baseline["cpu_seconds"]:
        return
    others = ("parse", "read_json_typed", "streaming_insert")
    for kind in ("loader", "loader_base", "loader_dlt", "loader_merge", *others):
        if kind in runs:
            wall = runs[kind]["seconds"] / baseline["seconds"]
            cpu = runs[kind]["cpu_seconds"] / baseline["cpu_seconds"]
            runs[kind]["ratio_wall"] = round(wall, 2)
            runs[kind]["ratio_cpu"] = round(cpu, 2)
            target = " (target <= 2x)" if kind.startswith("loader") else ""
            print(f"{kind} / baseline: wall {wall:.2f}x, CPU {cpu:.2f}x{target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--lines-per-file",
        type=int,
        default=LINES_PER_FILE,
        help="messages a file (1000: many small files, as a sender writing often makes)",
    )
    parser.add_argument(
        "--only", choices=RUN_KINDS, nargs="+", default=None, help="run only these (in order)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the warehouses")
    parser.add_argument(
        "--data", type=Path, default=None, help="folder for the event files: reused if there"
    )
    parser.add_argument(
        "--base", type=Path, default=None, help="project copy whose loader `loader_base` runs"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run the kinds this many times, alternating"
    )
    parser.add_argument("--child", choices=RUN_KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        runners: dict[str, Callable[[Path, Path], dict[str, Any]]] = {
            "loader": run_loader,
            "baseline": run_baseline,
            "staging": run_staging,
            "loader_base": partial(run_loader, base=args.base),
            "loader_dlt": partial(run_loader, through_dlt=True),
            "parse": run_parse,
            "read_json_typed": run_read_json_typed,
            "streaming_insert": run_streaming_insert,
        }
        runner = runners.get(args.child, partial(run_loader, merge=True))
        result = runner(args.folder, args.work)
        result["own_peak_rss_mb"] = _own_peak_rss_mb()
        (args.work / f"{args.child}.json").write_text(json.dumps(result))
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench_ingest_events_"))
    folder = (args.data or work) / f"events-{args.events}"
    if args.lines_per_file != LINES_PER_FILE:
        folder = folder.with_name(f"{folder.name}-by-{args.lines_per_file}")
    manifest = folder.with_suffix(".json")  # beside the files: no event file
    if manifest.exists():
        data = json.loads(manifest.read_text())
    else:
        started = time.perf_counter()
        if folder.exists():
            import shutil

            shutil.rmtree(folder)
        data = generate(folder, args.events, lines_per_file=args.lines_per_file)
        data["generate_seconds"] = round(time.perf_counter() - started, 1)
        manifest.write_text(json.dumps(data))
    print(
        f"generated {data['lines']:,} lines ({data['unique_messages']:,} unique messages) in "
        f"{data['files']} files, {data['gzip_bytes'] / 1e6:.0f} MB gzip, "
        f"{data['generate_seconds']}s",
        flush=True,
    )
    kinds = args.only or ["baseline", "loader", "staging"]
    if "loader_base" in kinds and not args.base:
        parser.error("loader_base needs --base PATH")
    rounds = []
    for number in range(args.repeat):
        runs: dict[str, dict[str, Any]] = {}
        place = work / f"round-{number + 1}"  # fresh warehouses (and dlt state) each round
        place.mkdir()
        for kind in kinds:
            if kind == "staging" and runs.get("loader", {}).get("exit_code") != 0:
                continue  # the model reads the loader's warehouse
            runs[kind] = measure(kind, folder, place, args.base)
        _print_round(runs)
        rounds.append(runs)
    runs = rounds[-1]
    staging = runs.get("staging", {})
    ratio = dedup_ratio = merge_ratio = None
    baseline_seconds = runs.get("baseline", {}).get("seconds")
    if "loader_merge" in runs and baseline_seconds:
        merge_ratio = round(runs["loader_merge"]["seconds"] / baseline_seconds, 2)
    if "loader" in runs and baseline_seconds:
        ratio = round(runs["loader"]["seconds"] / baseline_seconds, 2)
        if "model_seconds" in staging:
            with_dedup = runs["loader"]["seconds"] + staging["model_seconds"]
            dedup_ratio = round(with_dedup / baseline_seconds, 2)
            print(f"loader+dedup / baseline wall time: {dedup_ratio}x")

    report = {
        "events": args.events,
        "lines_per_file": args.lines_per_file,
        "data": data,
        "runs": runs,
        "rounds": rounds,
        "ratio_loader_to_baseline": ratio,
        "ratio_loader_and_dedup_to_baseline": dedup_ratio,
        "ratio_loader_merge_to_baseline": merge_ratio,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    target = write_results(folder.name.replace("events-", "ingest_events-"), report)
    print(f"results: {target}")
    import shutil

    if args.keep:
        print(f"warehouses kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if args.data:
        print(f"event files kept in {folder}")
    codes = [run["exit_code"] for runs in rounds for run in runs.values()]
    return 0 if all(code == 0 for code in codes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
