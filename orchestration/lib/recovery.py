"""Crash recovery: runs whose process is gone are failed, their pool slots freed, leftovers killed.

A run killed with SIGKILL (OOM killer, a closed laptop lid, `kill -9`) cannot clean up after
itself: Dagster keeps it STARTED, it keeps its `warehouse` pool slot so every later run waits
forever, and its child processes (dbt, log tailers) can outlive it, one of them holding DuckDB's
write lock. Every runner process therefore

- tags its runs with its own identity (`productops/process`: pid and start time, and the host),
- exports that identity to its children (`PRODUCTOPS_RUN_PROCESS`), and
- starts a watchdog outside its process group that kills those children when it dies.

`reap_dead_runs` (called by each new run, while a run waits for the slot, and by the daemon's
`reap_dead_runs` sensor) marks runs whose process is gone as failed, frees their slots and kills
the processes they left behind, logging a line for each.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psutil

PROCESS_ENV = "PRODUCTOPS_RUN_PROCESS"
PROCESS_TAG = "productops/process"
HOST_TAG = "productops/host"
# Runs a live process may still own; finished runs keep nothing.
_UNFINISHED = ("NOT_STARTED", "STARTING", "STARTED", "CANCELING")


def _start_stamp(pid: int) -> str:
    """When a process started, in a form that stays the same for as long as it lives.

    On Linux: `t<clock ticks after boot>` (/proc/<pid>/stat, field 22). Not psutil's
    `create_time()`: that adds the boot time, which the kernel derives from the wall clock, so
    a step of the clock (settimeofday, a VM's clock sync) moves it under a living process, and
    every runner would look dead to its own watchdog. Elsewhere: psutil's `create_time()`.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
        return f"t{int(stat[stat.rindex(b')') + 2 :].split()[19])}"
    except (OSError, ValueError, IndexError):
        return f"{psutil.Process(pid).create_time():.2f}"


def process_token(pid: int | None = None) -> str:
    """`pid:start` of a process: unlike a bare pid, it never names a later process."""
    pid = pid or os.getpid()
    return f"{pid}:{_start_stamp(pid)}"


def token_alive(token: str) -> bool:
    """Whether the process a token names still runs (a reused pid does not count)."""
    try:
        pid_text, started = token.split(":", 1)
        process = psutil.Process(int(pid_text))
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        if started.startswith("t"):
            return _start_stamp(process.pid) == started
        # A token written before the stamps (wall-clock seconds): within a small clock step.
        return abs(process.create_time() - float(started)) < 2.0
    except (ValueError, psutil.Error):
        return False


def run_tags() -> dict[str, str]:
    """Tags that let any later process tell whether this process's run is still alive."""
    return {PROCESS_TAG: process_token(), HOST_TAG: socket.gethostname()}


def _engine_pid(instance: Any, run_id: str) -> int | None:
    """The run worker's pid from Dagster's "Started process for run" event (daemon runs)."""
    from dagster import DagsterEventType

    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ENGINE_EVENT, limit=20
    ).records
    for record in records:
        data = record.event_log_entry.dagster_event.event_specific_data
        pid = getattr(getattr(data, "metadata", {}).get("pid"), "value", None)
        if pid is not None:
            return int(pid)
    return None


def run_process_gone(instance: Any, record: Any) -> str | None:
    """Why an unfinished run has no process any more, or None when it may still be running."""
    run = record.dagster_run
    tags = run.tags
    host = socket.gethostname()
    if tags.get(PROCESS_TAG):
        if tags.get(HOST_TAG, host) != host:
            return None  # another machine's run: its own runner or daemon looks after it
        if token_alive(tags[PROCESS_TAG]):
            return None
        return f"its process {tags[PROCESS_TAG].split(':')[0]} is gone"
    if run.status.value in ("NOT_STARTED", "STARTING"):
        return None  # a queued or launching daemon run has no worker yet
    pid = _engine_pid(instance, run.run_id)
    if pid is None or instance.run_launcher.__class__.__name__ != "DefaultRunLauncher":
        return None
    try:
        started = record.start_time or record.create_timestamp.timestamp()
        # A process that started after the run did is another one with the same pid. The
        # allowance covers steps of the wall clock since then (`_start_stamp`).
        slew = 60 + 0.01 * max(0.0, time.time() - started)
        if psutil.Process(pid).create_time() <= started + slew:
            return None
    except psutil.Error:
        pass
    return f"its run worker process {pid} is gone"


def reap_dead_runs(instance: Any, log: Callable[[str], Any] = print) -> list[str]:
    """Fail every unfinished run whose process is gone, free its pool slots, kill its leftovers."""
    from dagster import DagsterRunStatus, RunsFilter

    statuses = [DagsterRunStatus(status) for status in _UNFINISHED]
    reaped: list[str] = []
    for record in instance.get_run_records(filters=RunsFilter(statuses=statuses), limit=200):
        try:
            reason = run_process_gone(instance, record)
        except Exception as error:  # noqa: BLE001 - one odd run must not stop the others' recovery
            log(f"recovery: could not tell whether run {record.dagster_run.run_id} lives: {error}")
            continue
        if reason is None:
            continue
        run = record.dagster_run
        message = (
            f"run {run.run_id} ({run.job_name}) marked failed: {reason} (killed or crashed); "
            "its warehouse pool slots are freed"
        )
        instance.report_run_failed(run, message=message)
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        log(f"recovery: {message}")
        reaped.append(run.run_id)
    for claim in _dead_runner_claims(instance):
        instance.event_log_storage.free_concurrency_slot_for_step(*claim)
        log(f"recovery: freed the pool slot {claim[1]!r} of {claim[0]}, whose process is gone")
    for process in kill_orphans():
        log(f"recovery: killed {process} left behind by a dead run")
    return reaped


# A runner's own turn at the warehouse (`warehouse_turn`) claims a pool slot under this run id
# prefix, followed by `host:pid:start_time:random`; it is not a Dagster run.
RUNNER_CLAIM_PREFIX = "runner:"


def _dead_runner_claims(instance: Any) -> list[tuple[str, str]]:
    """(run id, step key) of slots claimed or queued for by runner processes that are gone."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    dead: list[tuple[str, str]] = []
    for key in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(key)
        for entry in [*info.claimed_slots, *info.pending_steps]:
            if not entry.run_id.startswith(RUNNER_CLAIM_PREFIX):
                continue
            parts = entry.run_id[len(RUNNER_CLAIM_PREFIX) :].split(":")
            if len(parts) < 3:
                continue  # not one of ours: left to whoever made it
            host, pid, started = parts[:3]
            if host == socket.gethostname() and not token_alive(f"{pid}:{started}"):
                dead.append((entry.run_id, entry.step_key))
    return dead


@contextmanager
def warehouse_turn(instance: Any, pool: str, what: str) -> Iterator[None]:
    """Hold a slot of `pool` while this process, outside any step, opens the warehouse.

    The runner reads the warehouse between and after its runs (the build decision, the build
    record, the summary's row counts). DuckDB's lock lets no other process write the file
    meanwhile, so a step of another run that held the slot would fail on the lock; queueing in
    the steps' own pool makes the runner wait its turn like them. `what` names the turn in
    Dagster's pool view; a turn whose process dies is freed by `reap_dead_runs`.
    """
    import uuid

    import dagster as dg
    from dagster._core.execution.plan.instance_concurrency_context import (
        InstanceConcurrencyContext,
    )

    run_id = f"{RUNNER_CLAIM_PREFIX}{socket.gethostname()}:{process_token()}:{uuid.uuid4().hex[:8]}"
    run = dg.DagsterRun(job_name="productops_runner", run_id=run_id)
    with InstanceConcurrencyContext(instance, run) as context:
        waited_since = None
        while not context.claim(pool, what):
            if waited_since is None:
                waited_since = time.monotonic()
                print(f"{what}: waiting for the {pool} slot ...", flush=True)
            elif time.monotonic() - waited_since > 15:
                waited_since = time.monotonic()
                reap_dead_runs(instance)
            time.sleep(0.25)
        try:
            yield
        finally:
            context.free_step(what)


def kill_orphans(token: str | None = None) -> list[str]:
    """Kill this user's processes started by a runner that is gone (or by `token`'s runner)."""
    killed: list[str] = []
    uid = os.getuid()
    for process in psutil.process_iter(["uids", "pid"]):
        try:
            if process.info["uids"] is None or process.info["uids"].real != uid:
                continue
            owner = process.environ().get(PROCESS_ENV)
            if not owner or (owner != token if token else token_alive(owner)):
                continue
            description = f"process {process.pid} ({' '.join(process.cmdline())[:120]})"
            process.send_signal(signal.SIGKILL)
            killed.append(description)
        except psutil.Error:
            continue
    return killed


def start_watchdog() -> subprocess.Popen[bytes]:
    """Tag this process's future children, and start a watchdog that kills them when it dies.

    The watchdog runs in its own session, so a kill of the runner's process group spares it,
    and it carries no tag, so it never kills itself.
    """
    token = process_token()
    os.environ[PROCESS_ENV] = token
    env = {key: value for key, value in os.environ.items() if key != PROCESS_ENV}
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.lib.recovery", "watch", token],
        env=env,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_watchdog(watchdog: subprocess.Popen[bytes]) -> None:
    """The runner ended normally: the watchdog has nothing to do."""
    watchdog.terminate()
    try:
        watchdog.wait(timeout=5)
    except subprocess.TimeoutExpired:
        watchdog.kill()


def watch(token: str, interval: float = 0.25) -> int:
    """Wait until the runner `token` names is gone, then kill every process it left behind."""
    while token_alive(token):
        time.sleep(interval)
    for _ in range(3):  # a child forked in the last instant shows up a moment later
        kill_orphans(token)
        time.sleep(0.2)
    return 0


@contextmanager
def report_slot_waits(
    instance: Any, run_ids: set[str], pool: str, interval: float = 15.0
) -> Iterator[None]:
    """While `run_ids` wait for the pool, say which run holds it, and reap it if it died."""
    import threading

    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            try:
                info = instance.event_log_storage.get_concurrency_info(pool)
                waiting = [p for p in info.pending_steps if p.run_id in run_ids]
                holders = [c for c in info.claimed_slots if c.run_id not in run_ids]
                if waiting and holders:
                    holder = holders[0]
                    print(
                        f"waiting for run {holder.run_id} (step {holder.step_key}), which holds "
                        f"the {pool} slot ...",
                        flush=True,
                    )
                    reap_dead_runs(instance)
            except Exception as error:  # noqa: BLE001 - progress output must never kill a run
                print(f"(could not read the {pool} pool: {error})", flush=True)

    thread = threading.Thread(target=loop, name="slot-wait-reporter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        # A report under way finishes before the wait ends: none may print, or reap (kill a
        # process that started meanwhile with a dead runner's tag), after it.
        thread.join()


LOCK_PATTERN = re.compile(r"Conflicting lock is held in (?P<program>\S+) \(PID (?P<pid>\d+)\)")


def explain_lock_error(message: str, path: str) -> str | None:
    """For DuckDB's "Conflicting lock" error: who holds the warehouse, and how to free it."""
    match = LOCK_PATTERN.search(message)
    if not match:
        return None
    pid = int(match["pid"])
    try:
        process = psutil.Process(pid)
        command = " ".join(process.cmdline())[:160]
        owner = process.environ().get(PROCESS_ENV)
    except psutil.Error:
        return f"the warehouse {path} was locked by PID {pid}, which has exited since: run again"
    if owner and not token_alive(owner):
        return (
            f"the warehouse {path} is locked by PID {pid} ({command}), left behind by a run "
            f"that crashed: the next run kills it, or stop it now with `kill {pid}`"
        )
    return (
        f"the warehouse {path} is locked by PID {pid} ({command}): DuckDB allows one writer; "
        f"close that program (or `kill {pid}`) and run again"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "watch":
        sys.exit(watch(sys.argv[2]))
    print("usage: python -m orchestration.lib.recovery watch PID:START_TIME", file=sys.stderr)
    sys.exit(2)
