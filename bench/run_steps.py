"""Benchmark `make run` step by step: a first run on a fresh warehouse, then a second one.

    .venv/bin/python bench/run_steps.py                     # scale 1, in a temporary folder
    .venv/bin/python bench/run_steps.py --work /tmp/run/b1  # keep the folder (and its world)

The sample world is generated once (`python -m demo generate`) into `--work`/world; then, in a
fresh folder, `python -m demo.run --use-environment` runs twice, each in its own process: the
first run on an empty warehouse, the second with no new data (what a user waits for when they
run `make run` again); with `--forced-build`, one more run that builds though nothing is new
(a daily run's fixed cost, with the manifest current).
For each run the table shows:

- `process start -> first Dagster event`: imports, definitions, the dbt manifest, the sandbox;
- every step of both Dagster jobs, STEP_START to STEP_SUCCESS / STEP_FAILURE, read from the
  instance in DAGSTER_HOME after the run (steps of one job may overlap when it runs them
  concurrently; `job wall` is the job's first to last event);
- `between the two jobs`: the end of `load_sources` to the first event of `build_marts`;
- `after the last event -> exit`: the summary (row counts) and shutting down; when the runner
  skips `build_marts` (nothing it reads changed, orchestration/lib/build_state.py) there is no
  build run, and this row also holds the skip decision (reading the raw tables' fingerprint);
- dbt's own breakdown (run_results.json of the build): the slowest nodes and the test count;
- CPU by process: the run and each process it started (`dbt worker`, which parses the
  project, and its forks `dbt build`, `dbt docs`; `dbt parse` and the like when dbt runs as its
  own process), sampled with psutil every 0.2 s, with when each ran (`ProcessCpu`; a sample costs
  the bench about 1.5 ms). The samples miss a process's last 0.2 s and processes shorter
  than that: the CPU row above, from the kernel's accounting of waited-for children, is the
  whole.

Each tree runs from a fresh copy of its files in `--work` (`fresh_copy`: no dbt target, no
data, no caches), so that the first run is a fresh clone's first `make run` after `make
install`: it parses the dbt project for its warehouse, as a user's does. (A run from the
project folder itself would find a manifest parsed for another warehouse path and pay a
full parse inside `dbt build` instead.)

`--tree NAME=PATH` (repeatable) runs another copy of the project side by side, e.g. the
baseline as committed (`git archive HEAD | tar -x -C /tmp/base`): each tree gets its own run
folder, and the runs alternate (first runs of every tree, then second runs), so that a busy
machine slows both alike and their ratio holds. `python -m` imports the tree's own packages.

Prints the tables and writes `bench/results/run-steps-<timestamp>.json` (git-ignored). Figures
taken while the machine is busy are only a guide.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil
from record import write_results  # bench/ is on the path when run as a script

ROOT = Path(__file__).resolve().parent.parent
DBT_TARGET = ROOT / "dbt_project" / "target"
SCALE_DEFAULT = 1.0
TOP_DBT_NODES = 8
CPU_ROW = "CPU (user+sys of the process and its children)"


def _env(folder: Path) -> dict[str, str]:
    """A bench run's own warehouse, Dagster home, GX docs and reports (as bench/spark.py)."""
    env = {
        **os.environ,
        "WAREHOUSE": "duckdb",
        "WAREHOUSE_PATH": str(folder / "warehouse.duckdb"),
        "DAGSTER_HOME": str(folder / "dagster_home"),
        "GX_DOCS_DIR": str(folder / "gx_docs"),
        "REPORTS_DIR": str(folder / "reports"),
        "TZ": "UTC",
    }
    for setting in (
        "DESTINATION__POSTGRES__CREDENTIALS",
        "DESTINATION__FILESYSTEM__BUCKET_URL",
        "MARTS_PATH",
    ):
        env.pop(setting, None)
    return env


# What a fresh clone does not have (.gitignore), and what a run writes.
NOT_COPIED = {".git", ".venv", "data", "target", "logs", "dbt_packages", "results", "__pycache__"}
NOT_COPIED |= {".dagster_home", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}


def fresh_copy(tree: Path, destination: Path) -> Path:
    """The project's files at `tree`, copied to `destination` as a fresh clone would have them.

    The copy runs with the venv's packages and its own project files: `python -m` puts the
    working folder first on the import path.
    """
    shutil.rmtree(destination, ignore_errors=True)

    def ignored(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n in NOT_COPIED or n.endswith(".egg-info")}

    shutil.copytree(tree, destination, ignore=ignored, symlinks=True)
    return destination


def generate_world(world: Path, scale: float) -> None:
    """The sample world, once per work folder (the demo reuses it when scale and seed match)."""
    if (world / "world.json").exists():
        return
    subprocess.run(
        [sys.executable, "-m", "demo", "generate", "--out", str(world), "--scale", str(scale)],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


class ProcessCpu(threading.Thread):
    """CPU seconds of a process and of every process below it, sampled with psutil.

    Each process is named by its command (`process_label`) and keeps its last sample and the
    times, from `started`, at which it was first and last seen.
    """

    def __init__(self, root: int, started: float, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.root, self.started, self.interval = root, started, interval
        self.processes: dict[int, dict[str, Any]] = {}
        self._stop_event = threading.Event()

    def sample(self) -> None:
        try:
            root = psutil.Process(self.root)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:  # the run has ended
            return
        now = time.time() - self.started
        for process in tree:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    known = self.processes.get(process.pid)
                    if known is None:
                        label = process_label(process.cmdline(), process.name())
                        known = self.processes[process.pid] = {"label": label, "first": now}
            except psutil.Error:  # ended between the listing and now
                continue
            known["cpu"], known["last"] = times.user + times.system, now

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sample()

    def stop(self) -> list[dict[str, Any]]:
        """End the sampling; the processes that used CPU, the busiest first."""
        self._stop_event.set()
        self.join()
        used = [p for p in self.processes.values() if p.get("cpu", 0.0) >= self.interval]
        return sorted(used, key=lambda p: -p["cpu"])


def process_label(argv: list[str], name: str = "") -> str:
    """`dbt build`, `python -m demo.run`, ...: a command's program and what it was asked.

    The run's dbt worker (orchestration/lib/dbt_worker.py) is `dbt worker`; each command it
    runs is a fork of it, which names itself after the command (`name`: `dbt build`).
    """
    words = [word for word in argv if word]
    if not words:
        return "?"
    names = [Path(word).name for word in words]
    if "dbt_worker.py" in names[:2]:
        return name if name.startswith("dbt ") else "dbt worker"
    if "dbt" in names[:2]:  # `.venv/bin/dbt build ...`, or python running that script
        return " ".join(["dbt", *words[names.index("dbt") + 1 :][:1]])
    if "-m" in words[:-1]:
        return f"python -m {words[words.index('-m') + 1]}"
    return " ".join(names[:2])


def run_once(
    world: Path, folder: Path, scale: float, tree: Path = ROOT, forced: bool = False
) -> dict[str, Any]:
    """One `demo.run` process of `tree`; its output lines with arrival times, exit code, wall.

    `forced`: with PRODUCTOPS_FORCE_BUILD=1, so that it builds though nothing is new.
    """
    command = [sys.executable, "-m", "demo.run", "--use-environment", "--data", str(world)]
    command += ["--scale", str(scale)]
    # CPU of the process and of every child it waited for (dbt, `dbt docs`), this run only.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    process = subprocess.Popen(
        command,
        cwd=tree,
        env={**_env(folder), **({"PRODUCTOPS_FORCE_BUILD": "1"} if forced else {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sampler = ProcessCpu(process.pid, started)
    sampler.start()
    lines: list[tuple[float, str]] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append((time.time() - started, line.rstrip("\n")))
    code = process.wait()
    ended = time.time()
    processes = sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {
        "started": started,
        "ended": ended,
        "exit_code": code,
        "lines": lines,
        "cpu": cpu,
        "processes": processes,
    }


def read_runs(home: Path, since: float) -> list[dict[str, Any]]:
    """Every Dagster run that started after `since`, oldest first, with its steps' timings."""
    script = f"""
import json, sys
from collections import defaultdict
import dagster as dg
out = []
with dg.DagsterInstance.get() as instance:
    records = instance.get_run_records(
        filters=dg.RunsFilter(created_after=__import__("datetime").datetime.fromtimestamp({since},
        __import__("datetime").UTC)))
    for record in sorted(records, key=lambda r: r.create_timestamp.timestamp()):
        run = record.dagster_run
        steps = defaultdict(dict)
        times = []
        for entry in instance.all_logs(run.run_id):
            times.append(entry.timestamp)
            event = entry.dagster_event
            if event is None or not event.step_key:
                continue
            kind = event.event_type_value
            if kind == "STEP_START":
                steps[event.step_key].setdefault("start", entry.timestamp)
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
                steps[event.step_key]["end"] = entry.timestamp
                steps[event.step_key]["status"] = kind
        out.append({{"run_id": run.run_id, "job": run.job_name, "status": run.status.value,
                    "first": min(times), "last": max(times), "steps": steps}})
json.dump(out, sys.stdout)
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        check=True,
    )
    runs: list[dict[str, Any]] = json.loads(result.stdout)
    return runs


def dbt_breakdown(run_id: str, tree: Path = ROOT) -> dict[str, Any] | None:
    """run_results.json of the build's `dbt build`: slowest nodes, counts by kind and status."""
    target = tree / DBT_TARGET.relative_to(ROOT)
    folders = sorted(target.glob(f"productops_dbt-{run_id[:7]}-*"))
    if not folders or not (folders[-1] / "run_results.json").exists():
        return None
    results = json.loads((folders[-1] / "run_results.json").read_text())
    nodes = results.get("results", [])
    kinds: dict[str, int] = defaultdict(int)
    statuses: dict[str, int] = defaultdict(int)
    seconds: dict[str, float] = defaultdict(float)
    for node in nodes:
        kind = node["unique_id"].split(".", 1)[0]
        kinds[kind] += 1
        statuses[node["status"]] += 1
        seconds[kind] += node.get("execution_time") or 0.0
    top = sorted(nodes, key=lambda n: n.get("execution_time") or 0.0, reverse=True)
    return {
        "elapsed": results.get("elapsed_time"),
        "nodes": kinds,
        "seconds_by_kind": {k: round(v, 2) for k, v in seconds.items()},
        "statuses": statuses,
        "top": [
            (n["unique_id"].split(".", 2)[-1], round(n.get("execution_time") or 0.0, 2))
            for n in top[:TOP_DBT_NODES]
        ],
    }


def breakdown(
    process: dict[str, Any], runs: list[dict[str, Any]], tree: Path = ROOT
) -> dict[str, Any]:
    """Seconds per phase of one `demo.run` process (see the module docstring)."""
    rows: list[tuple[str, float]] = []
    if not runs:
        return {
            "rows": [
                ("whole process (no Dagster run found)", process["ended"] - process["started"]),
                (CPU_ROW, process["cpu"]),
            ],
            "processes": process["processes"],
        }
    rows.append(("process start -> first Dagster event", runs[0]["first"] - process["started"]))
    for index, run in enumerate(runs):
        if index:
            rows.append(("between the two jobs", run["first"] - runs[index - 1]["last"]))
        rows.append((f"{run['job']}: job wall ({run['status']})", run["last"] - run["first"]))
        ordered = sorted(run["steps"].items(), key=lambda item: item[1].get("start", 0.0))
        for step, times in ordered:
            if "start" in times and "end" in times:
                flag = "" if times.get("status") == "STEP_SUCCESS" else f" [{times.get('status')}]"
                rows.append((f"  {step}{flag}", times["end"] - times["start"]))
    rows.append(("after the last event -> exit (summary)", process["ended"] - runs[-1]["last"]))
    rows.append(("TOTAL (process wall)", process["ended"] - process["started"]))
    rows.append((CPU_ROW, process["cpu"]))
    build = [run for run in runs if run["job"] == "build_marts"]
    return {
        "rows": rows,
        "dbt": dbt_breakdown(build[-1]["run_id"], tree) if build else None,
        "processes": process["processes"],
    }


def print_table(name: str, result: dict[str, Any]) -> None:
    """One run's breakdown and dbt's own figures."""
    print(f"\n{name}")
    for label, seconds in result["rows"]:
        print(f"  {label:<58}{seconds:8.1f} s")
    if result.get("processes"):
        print("  CPU by process (sampled; seconds from the start, first and last seen)")
        for proc in result["processes"]:
            print(
                f"    {proc['label'][:44]:<44}{proc['cpu']:8.1f} s"
                f"   {proc['first']:6.1f} - {proc['last']:6.1f}"
            )
    dbt = result.get("dbt")
    if dbt:
        print(f"  dbt run_results: elapsed {dbt['elapsed']:.1f} s, nodes {dict(dbt['nodes'])}")
        print(f"    seconds by kind {dbt['seconds_by_kind']}, statuses {dict(dbt['statuses'])}")
        for node, seconds in dbt["top"]:
            print(f"    {node:<70}{seconds:6.2f} s")


def print_totals(runs: list[dict[str, Any]]) -> None:
    """One line per run: wall and CPU, each over the first tree's run of the same number."""
    print("\ntotals (process wall; CPU of the process and its children)")
    walls = {run["name"]: run["wall"] for run in runs}
    cpus = {run["name"]: run["cpu"] for run in runs}

    def first_tree(figures: dict[str, float], name: str) -> float:
        same = [v for other, v in figures.items() if other.split("] ")[-1] == name.split("] ")[-1]]
        return same[0] if same else figures[name]

    for run in runs:
        wall, cpu = run["wall"], run["cpu"]
        base_wall, base_cpu = first_tree(walls, run["name"]), first_tree(cpus, run["name"])
        print(
            f"  {run['name']:<48}{wall:8.1f} s   x{wall / base_wall:5.2f}"
            f"   CPU {cpu:6.1f} s   x{cpu / base_cpu:5.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    """CLI: generate the world, run twice, print and write the breakdowns."""
    parser = argparse.ArgumentParser(prog="bench/run_steps.py", description=__doc__)
    parser.add_argument("--scale", type=float, default=SCALE_DEFAULT)
    parser.add_argument("--work", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument(
        "--runs", type=int, default=2, help="runs in all, the first included (default 2)"
    )
    parser.add_argument(
        "--forced-build",
        action="store_true",
        help="then one more run that builds though nothing is new (PRODUCTOPS_FORCE_BUILD=1): "
        "a daily run's build with the manifest current",
    )
    parser.add_argument("--label", default="", help="a name for this measurement (JSON file)")
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also run this copy of the project, side by side (repeatable)",
    )
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-run-steps-"))
    work.mkdir(parents=True, exist_ok=True)
    world = work / "world"
    generate_world(world, args.scale)
    sources = {"this": ROOT}
    for item in args.tree:
        name, _, path = item.partition("=")
        sources[name] = Path(path).resolve()
    trees = {name: fresh_copy(tree, work / f"tree-{name}") for name, tree in sources.items()}
    folders = {name: work / (f"run-{name}" if len(trees) > 1 else "run") for name in trees}
    for folder in folders.values():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "load_average": os.getloadavg(),
        "scale": args.scale,
        "label": args.label,
        "trees": {name: str(path) for name, path in sources.items()},
        "runs": [],
    }
    for number in range(1, args.runs + 1 + args.forced_build):
        forced = number > args.runs
        for tree_name, tree in trees.items():
            folder = folders[tree_name]
            process = run_once(world, folder, args.scale, tree, forced)
            runs = read_runs(folder / "dagster_home", process["started"])
            result = breakdown(process, runs, tree)
            name = "first run (empty warehouse)" if number == 1 else f"run {number} (no new data)"
            if forced:
                name = f"run {number} (no new data, build forced)"
            if len(trees) > 1:
                name = f"[{tree_name}] {name}"
            print_table(f"{name}: exit {process['exit_code']}", result)
            if process["exit_code"] != 0:
                print("\n".join(line for _, line in process["lines"][-40:]))
            report["runs"].append(
                {
                    "name": name,
                    "tree": tree_name,
                    "exit_code": process["exit_code"],
                    "wall": process["ended"] - process["started"],
                    "cpu": process["cpu"],
                    **result,
                    "output": process["lines"],
                }
            )
    print_totals(report["runs"])
    out = write_results("run-steps", report, args.label or "")
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
