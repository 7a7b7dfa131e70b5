"""Two runs started together queue on the warehouse pool instead of failing on DuckDB's lock."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from demo import generate_world
from tests.toolkit.paths import PROJECT_ROOT
from tests.toolkit.runs import demo_args, run_env
from tests.toolkit.warehouse import query

pytestmark = pytest.mark.slow


def test_two_runs_at_once_both_succeed(tmp_path: Path) -> None:
    world = tmp_path / "world"
    generate_world(world, scale=0.05, seed=3, end_date=date(2026, 2, 28))
    env = run_env(tmp_path)
    # The instance exists before the runs, as on any machine that ran once (two processes
    # creating a new SQLite run storage at the same moment race on its schema).
    init = "from orchestration.run import prepare_dagster_home; import dagster as dg; "
    init += "prepare_dagster_home(); dg.DagsterInstance.get().dispose()"
    subprocess.run([sys.executable, "-c", init], cwd=PROJECT_ROOT, env=env, check=True)
    args = demo_args(world, scale=0.05, seed=3, end_date=date(2026, 2, 28))
    command = [sys.executable, "-m", "demo.run", *args]
    runs = [
        subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        # The summary's tail, and before it the lines that name an error (a failed step's own
        # message is printed long before the summary).
        errors = [line for line in output.splitlines() if "Error" in line or "error" in line]
        assert run.returncode == 0, "\n".join(errors[-40:]) + "\n...\n" + output[-4000:]
        assert "Could not set lock" not in output
    dupes = query(
        tmp_path / "warehouse.duckdb",
        "select count(*) - count(distinct message_id) from raw_segment.events",
    )
    assert dupes == [(0,)]
