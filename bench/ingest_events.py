"""Benchmark the Segment events loader against DuckDB's own `read_json` of the same files.

    .venv/bin/python bench/ingest_events.py                 # 1,000,000 events
    .venv/bin/python bench/ingest_events.py --events 10000000 --only loader

Generates N Segment Spec track/page messages as gzip JSON Lines (about 100k lines a file, 1% of
messages re-delivered in a later file, so the loader's deduplication does real work), then
runs, each in its own child process so that peak memory is that run's alone:

- `loader`: `ingestion.segment.load()` into a fresh DuckDB file (dlt extract, normalize, load,
  dedup on messageId included);
- `baseline`: `create table events as select * from read_json(...)` in a fresh DuckDB file.

Prints wall seconds, rows/s, peak RSS and the loader/baseline ratio, and writes the figures to
`bench/results/ingest_events-<N>-<timestamp>.json` (git-ignored).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
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


def generate(folder: Path, events: int, seed: int = 7) -> dict[str, Any]:
    """Write `events` messages (plus re-deliveries) as day folders of gzip JSON Lines."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    files = 0
    lines = 0
    redeliver: list[bytes] = []
    written = 0
    while written < events:
        chunk = min(LINES_PER_FILE, events - written)
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


# --- the two measured runs, each executed in a child process -------------------------------


def run_loader(folder: Path, work: Path) -> dict[str, Any]:
    os.environ["WAREHOUSE_PATH"] = str(work / "loader.duckdb")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    sys.path.insert(0, str(ROOT))
    from ingestion import segment

    segment.load(str(folder))
    return {}


def run_baseline(folder: Path, work: Path) -> dict[str, Any]:
    import duckdb

    with duckdb.connect(str(work / "baseline.duckdb")) as con:
        con.execute(
            "create table events as select * from read_json(?, format = 'newline_delimited')",
            [str(folder / "**" / "*.gz")],
        )
    return {}


def count_rows(kind: str, work: Path) -> dict[str, Any]:
    """Count what a run landed, in the parent: the check must not add to the run's peak."""
    import duckdb

    path = work / f"{kind}.duckdb"
    if not path.exists():
        return {}
    table = "raw_segment.events" if kind == "loader" else "events"
    distinct = "count(distinct message_id)" if kind == "loader" else "count(distinct messageId)"
    with duckdb.connect(str(path), read_only=True) as con:
        counted = con.execute(f"select count(*), {distinct} from {table}").fetchone()
    rows, unique = counted if counted else (0, 0)
    return {"rows": rows, "distinct_message_ids": unique}


def measure(kind: str, folder: Path, work: Path) -> dict[str, Any]:
    """Run one kind in a child process; its own max RSS comes from wait4's rusage."""
    out = work / f"{kind}.json"
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", kind, "--folder", str(folder), "--work", str(work)]
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    result: dict[str, Any] = {"kind": kind, "exit_code": child.returncode}
    if out.exists():
        result.update(json.loads(out.read_text()))
    if child.returncode == 0:
        result.update(count_rows(kind, work))
    rss_kb = usage.ru_maxrss  # kilobytes on Linux
    rows = result.get("rows") or 0
    result.update(
        seconds=round(seconds, 2),
        rows_per_second=round(rows / seconds) if seconds else None,
        peak_rss_mb=round(rss_kb / 1024, 1),
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 2),
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["loader", "baseline"], default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--child", choices=["loader", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        runner = run_loader if args.child == "loader" else run_baseline
        result = runner(args.folder, args.work)
        (args.work / f"{args.child}.json").write_text(json.dumps(result))
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench_ingest_events_"))
    folder = work / "events"
    started = time.perf_counter()
    data = generate(folder, args.events)
    data["generate_seconds"] = round(time.perf_counter() - started, 1)
    print(
        f"generated {data['lines']:,} lines ({data['unique_messages']:,} unique messages) in "
        f"{data['files']} files, {data['gzip_bytes'] / 1e6:.0f} MB gzip, "
        f"{data['generate_seconds']}s",
        flush=True,
    )
    kinds = [args.only] if args.only else ["baseline", "loader"]
    runs = {kind: measure(kind, folder, work) for kind in kinds}

    print(f"\n{'run':<10}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'peak MB':>10}{'exit':>6}")
    for kind, run in runs.items():
        print(
            f"{kind:<10}{run.get('rows') or 0:>12,}{run['seconds']:>10.1f}"
            f"{run['rows_per_second'] or 0:>12,}{run['peak_rss_mb']:>10.0f}{run['exit_code']:>6}"
        )
    ratio = None
    if "loader" in runs and "baseline" in runs and runs["baseline"]["seconds"]:
        ratio = round(runs["loader"]["seconds"] / runs["baseline"]["seconds"], 2)
        print(f"\nloader / baseline wall time: {ratio}x (target <= 4x; peak target < 1500 MB)")

    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "events": args.events,
        "data": data,
        "runs": runs,
        "ratio_loader_to_baseline": ratio,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "at": stamp,
    }
    target = RESULTS / f"ingest_events-{args.events}-{stamp}.json"
    target.write_text(json.dumps(report, indent=2))
    print(f"results: {target}")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"files kept in {folder}")
    return 0 if all(run["exit_code"] == 0 for run in runs.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
