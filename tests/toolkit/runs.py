"""Starting the pipeline as a user does (`python -m orchestration.run`, `python -m demo.run`).

Each run gets an environment of its own: its warehouse and Dagster home under a test folder,
never the project's `data/` or `.dagster_home/`, and none of the test process's own run
identity or warehouse choice, so that parallel runs and a developer's exports stay apart.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import psutil

from orchestration.lib.recovery import PROCESS_ENV
from tests.toolkit.paths import PROJECT_ROOT

# Settings exported by a developer that would send a test run to their own warehouse.
WAREHOUSE_CHOICES = ("WAREHOUSE", "MARTS_PATH")


def run_env(
    root: Path, settings: Mapping[str, str] | None = None, **overrides: str
) -> dict[str, str]:
    """This process's environment for a run writing only below `root`.

    `settings` are the sources' settings (e.g. `demo_settings`); `overrides` come last and may
    choose the engine again (`WAREHOUSE="postgres"`).
    """
    env = {key: value for key, value in os.environ.items() if key != PROCESS_ENV}
    env.update(settings or {})
    env.update(
        WAREHOUSE_PATH=str(root / "warehouse.duckdb"), DAGSTER_HOME=str(root / "dagster_home")
    )
    for name in WAREHOUSE_CHOICES:
        env.pop(name, None)
    env.update(overrides)
    return env


def run_module(
    module: str, *args: str, env: Mapping[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`python -m module args` from the project folder, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=PROJECT_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_python(
    script: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`python -c script args` from the project folder; fails the test, with stderr, unless 0.

    The script runs with a `__file__`: a `python -c` main module has none, and pyspark (which
    Great Expectations imports when the Spark extra is installed) then takes the process for a
    doctest run and exits 0 without a word, before the script's first line of output.
    """
    done = subprocess.run(
        [sys.executable, "-c", f"__file__ = 'test-script'\n{script}", *args],
        cwd=PROJECT_ROOT,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"python -c exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


def demo_args(
    world: Path, *, scale: float, seed: int, end_date: date, page_size: int | None = None
) -> list[str]:
    """`demo.run`'s arguments for a test's world: its folder, size, seed, last day, page size.

    `--use-environment` keeps the run in the environment `run_env` made (warehouse, home).
    """
    args = ["--use-environment", "--data", str(world), "--scale", str(scale), "--seed", str(seed)]
    args += ["--end-date", end_date.isoformat()]
    return args + (["--page-size", str(page_size)] if page_size else [])


def run_demo(
    world: Path,
    env: Mapping[str, str],
    *options: str,
    scale: float,
    seed: int,
    end_date: date,
    page_size: int | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """`python -m demo.run` on a test's world (`demo_args`), then `options`; output captured."""
    args = demo_args(world, scale=scale, seed=seed, end_date=end_date, page_size=page_size)
    return run_module("demo.run", *args, *options, env=env, timeout=timeout)


def run_output(result: subprocess.CompletedProcess[str]) -> str:
    """All a run printed (its summary is on stdout, dlt's and dbt's logs on stderr)."""
    return result.stdout + result.stderr


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its parent counts as ended)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
