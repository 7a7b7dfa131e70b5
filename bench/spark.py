"""Benchmark Spark in local mode beside DuckDB: the events load and the marts build.

    .venv/bin/python bench/spark.py                          # scales 1 and 4, 2 and all cores
    .venv/bin/python bench/spark.py --scales 0.05 --cores 2  # a quick smoke run

For each scale: the sample world is generated once (`python -m demo generate`, end date
2026-03-31) into `--work` (default a temporary folder), then, each in its own child process:

- `load_events_<engine>`: `ingestion.segment.load()` of the world's Segment files into a fresh
  DuckDB file, or as Parquet files into a fresh bucket folder (`WAREHOUSE=spark`);
- every source is then loaded once per engine by `python -m ingestion`, the API sources from
  the demo's vendor sandbox (untimed: they are small), and dbt's seeds (untimed);
- `marts_duckdb`: `dbt run --full-refresh` (every model, no tests) on DuckDB;
- `marts_spark_<cores>`: the same on Spark with `DBT_SPARK_MASTER=local[<cores>]`, for each
  `--cores` value (`all` = every core of the machine), same raw files.

The data tests are left out: on Spark each costs about a second of planning whatever the
data size (docs/spark.md), which would hide how the models' time grows.

Prints a table (seconds, and each figure over the smallest scale's: how time grows with data
and with cores) and writes `bench/results/spark-<timestamp>.json` (git-ignored). Run it on an
otherwise idle machine: Spark's figures depend on free cores more than DuckDB's do.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DBT = Path(sys.executable).parent / "dbt"
DBT_PROJECT = ROOT / "dbt_project"
END_DATE = "2026-03-31"


def _env(engine: str, folder: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "WAREHOUSE": engine,
        "WAREHOUSE_PATH": str(folder / "warehouse.duckdb"),
        "DAGSTER_HOME": str(folder / "dagster_home"),
        "GX_DOCS_DIR": str(folder / "gx_docs"),
        "TZ": "UTC",
        **extra,
    }
    for setting in ("DESTINATION__POSTGRES__CREDENTIALS", "DESTINATION__FILESYSTEM__BUCKET_URL"):
        env.pop(setting, None)
    return env


def timed(command: list[str], env: dict[str, str], cwd: Path = ROOT) -> float:
    """Run `command`; wall seconds (raises with the output's tail on failure)."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return elapsed


def _dbt_env(env: dict[str, str]) -> dict[str, str]:
    """The environment `ingestion.settings.dbt_env()` gives dbt for `env`'s settings."""
    script = (
        "import json; from ingestion.settings import WarehouseSettings; "
        "print(json.dumps(WarehouseSettings.from_env().dbt_env()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return {**env, **json.loads(out.stdout)}


def _load_all_sources(world: Path, env: dict[str, str]) -> None:
    """Every source of `world` into `env`'s warehouse, the APIs from the demo's sandbox."""
    from demo.run import source_settings
    from demo.sandbox import Sandbox

    manifest = json.loads((world / "world.json").read_text())
    with Sandbox(world, page_size=100) as sandbox:
        settings = source_settings(world, manifest, sandbox.base_urls)
        timed([sys.executable, "-m", "ingestion"], {**env, **settings})


def measure_scale(scale: float, work: Path, cores: list[str]) -> dict[str, float]:
    """Every measurement for one scale (see the module docstring)."""
    world = work / f"world-{scale}"
    if not world.exists():
        subprocess.run(
            [sys.executable, "-m", "demo", "generate", "--out", str(world), "--scale", str(scale),
             "--end-date", END_DATE],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    figures: dict[str, float] = {}
    load = "from ingestion.segment import load; load()"
    for engine in ("duckdb", "spark"):
        folder = work / f"{engine}-{scale}"
        shutil.rmtree(folder, ignore_errors=True)
        env = _env(engine, folder, SOURCES__SEGMENT__BUCKET_URL=str(world / "events"))
        figures[f"load_events_{engine}"] = timed([sys.executable, "-c", load], env)
        shutil.rmtree(folder, ignore_errors=True)
        _load_all_sources(world, env)
        dbt_env = _dbt_env(env)
        flags = ["--profiles-dir", str(DBT_PROJECT), "--target-path", str(folder / "target")]
        flags += ["--log-path", str(folder / "logs")]
        timed([str(DBT), "seed", *flags], dbt_env, DBT_PROJECT)
        base = [str(DBT), "run", "--full-refresh", *flags]
        if engine == "duckdb":
            figures["marts_duckdb"] = timed(base, dbt_env, DBT_PROJECT)
            continue
        for count in cores:
            master = "local[*]" if count == "all" else f"local[{count}]"
            figures[f"marts_spark_{count}"] = timed(
                base, {**dbt_env, "DBT_SPARK_MASTER": master}, DBT_PROJECT
            )
    return figures


def main(argv: list[str] | None = None) -> int:
    """CLI: measure, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="bench/spark.py", description=__doc__)
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--cores", nargs="+", default=["2", "all"])
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-spark-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "scales": {},
    }
    for scale in args.scales:
        print(f"scale {scale} ...", flush=True)
        results["scales"][str(scale)] = measure_scale(scale, work, args.cores)
    smallest = results["scales"][str(args.scales[0])]
    print(f"{'measurement':<22}" + "".join(f"{'scale ' + str(s):>16}" for s in args.scales))
    for name in smallest:
        cells = []
        for scale in args.scales:
            seconds = results["scales"][str(scale)][name]
            cells.append(f"{seconds:8.1f}s x{seconds / smallest[name]:4.1f}")
        print(f"{name:<22}" + "".join(f"{cell:>16}" for cell in cells))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"spark-{stamp}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
