"""Two runs started together queue on the warehouse pool instead of failing on DuckDB's lock."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from demo import generate_world
from orchestration.lib.project import WAREHOUSE_POOL
from orchestration.lib.recovery import (
    RUNNER_CLAIM_PREFIX,
    process_token,
    reap_dead_runs,
    token_alive,
    warehouse_turn,
)
from tests.toolkit.paths import PROJECT_ROOT
from tests.toolkit.runs import demo_args, run_env, run_python
from tests.toolkit.warehouse import query


def _instance(tmp_path: Path) -> dg.DagsterInstance:
    """A Dagster instance with the project's dagster.yaml (one warehouse slot)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    return dg.DagsterInstance.from_config(str(home))


def test_the_runner_waits_for_the_slot_another_runs_step_holds(tmp_path: Path) -> None:
    """The runner's reads between and after its runs (row counts, build decision) once opened
    the file while another run's dlt step held the slot, and that step failed on the lock."""
    instance = _instance(tmp_path)
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
    assert storage.claim_concurrency_slot(WAREHOUSE_POOL, "other-run", "segment_raw").is_claimed
    entered = threading.Event()

    def runner() -> None:
        with warehouse_turn(instance, WAREHOUSE_POOL, "runner: row counts"):
            entered.set()

    thread = threading.Thread(target=runner)
    thread.start()
    assert not entered.wait(2.0), "the runner opened the warehouse while a step held the slot"
    storage.free_concurrency_slot_for_step("other-run", "segment_raw")
    assert entered.wait(30.0)
    thread.join(30.0)
    info = storage.get_concurrency_info(WAREHOUSE_POOL)
    assert not info.claimed_slots and not info.pending_steps  # the turn gave the slot back
    instance.dispose()


def test_a_dead_runners_turn_is_freed_and_a_live_ones_kept(tmp_path: Path) -> None:
    instance = _instance(tmp_path)
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
    pid = os.getpid()
    # This pid with another start time: the process that claimed is gone, the pid reused.
    dead = f"{RUNNER_CLAIM_PREFIX}{socket.gethostname()}:{pid}:t1:0000dead"
    live = f"{RUNNER_CLAIM_PREFIX}{socket.gethostname()}:{process_token()}:0000live"
    assert storage.claim_concurrency_slot(WAREHOUSE_POOL, dead, "runner: row counts").is_claimed
    assert not storage.claim_concurrency_slot(WAREHOUSE_POOL, live, "runner: x").is_claimed
    odd = f"{RUNNER_CLAIM_PREFIX}not-a-process"  # whoever claimed this, recovery leaves it be
    storage.initialize_concurrency_limit_to_default("elsewhere")
    assert storage.claim_concurrency_slot("elsewhere", odd, "z").is_claimed
    lines: list[str] = []
    reap_dead_runs(instance, log=lines.append)
    assert any(dead in line and "gone" in line for line in lines), lines
    # The live runner queued behind the dead one now gets the slot.
    assert storage.claim_concurrency_slot(WAREHOUSE_POOL, live, "runner: x").is_claimed
    lines.clear()
    reap_dead_runs(instance, log=lines.append)
    assert not any(live in line for line in lines)
    info = storage.get_concurrency_info(WAREHOUSE_POOL)
    assert [slot.run_id for slot in info.claimed_slots] == [live]
    assert [slot.run_id for slot in storage.get_concurrency_info("elsewhere").claimed_slots] == [
        odd
    ]
    instance.dispose()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="psutil's Linux boot time")
def test_a_runner_stays_alive_when_the_clock_is_slewed(monkeypatch: pytest.MonkeyPatch) -> None:
    """psutil's create_time() adds the boot time, which Linux derives from the wall clock: on a
    CI machine whose clock was being slewed it moved by a second under living runners, their
    watchdogs took them for dead and killed their own dbt (exit -9)."""
    import psutil
    import psutil._pslinux as linux

    token = process_token()
    before = psutil.Process().create_time()
    real = linux.boot_time
    monkeypatch.setattr(linux, "boot_time", lambda: real() + 1.0)
    assert psutil.Process().create_time() - before == pytest.approx(1.0)  # the slew happened
    assert token_alive(token)
    assert not token_alive(f"{os.getpid()}:t1")  # another start: a reused pid
    # A token written by an earlier version (wall-clock seconds) still reads.
    assert token_alive(f"{os.getpid()}:{before:.2f}")


@pytest.mark.slow
def test_two_runs_at_once_both_succeed(tmp_path: Path) -> None:
    world = tmp_path / "world"
    generate_world(world, scale=0.05, seed=3, end_date=date(2026, 2, 28))
    env = run_env(tmp_path)
    # The instance exists before the runs, as on any machine that ran once (two processes
    # creating a new SQLite run storage at the same moment race on its schema).
    init = "from orchestration.run import prepare_dagster_home; import dagster as dg; "
    init += "prepare_dagster_home(); dg.DagsterInstance.get().dispose()"
    run_python(init, env=env)
    args = demo_args(world, scale=0.05, seed=3, end_date=date(2026, 2, 28))
    command = [sys.executable, "-m", "demo.run", *args]
    # Each run's output goes to a file: read through pipes one run at a time, the other run's
    # pipe fills while it waits for the slot, and its next line blocks it for good.
    logs = [tmp_path / f"run{number}.log" for number in range(2)]
    runs = []
    for log in logs:
        with log.open("w") as handle:
            runs.append(
                subprocess.Popen(
                    command, cwd=PROJECT_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
                )
            )
    try:
        for run in runs:
            run.wait(timeout=900)
    finally:
        for run in runs:
            run.kill()  # a run still going after 15 minutes is stuck; leave nothing behind
    outputs = [log.read_text() for log in logs]
    for run, output in zip(runs, outputs, strict=True):
        # The summary's tail, and before it the lines that name an error (a failed step's own
        # message is printed long before the summary).
        errors = [line for line in output.splitlines() if "Error" in line or "error" in line]
        assert run.returncode == 0, "\n".join(errors[-40:]) + "\n...\n" + output[-4000:]
        assert "Could not set lock" not in output
    # The files were loaded once: no message sits in two loads (raw keeps a copy re-delivered
    # in another file of the same load, which staging drops).
    twice = query(
        tmp_path / "warehouse.duckdb",
        "select count(*) from (select message_id from raw_segment.events group by message_id "
        "having count(distinct _dlt_load_id) > 1)",
    )
    assert twice == [(0,)]
