"""A first run's dbt parse starts before the run's imports, and its result is what dbt reuses.

`orchestration.lib.startup.start()` starts the run's dbt worker, which parses in the
background; `project.dbt_project` takes that parse instead of parsing again, and a later dbt
command partial-parses from it (the same profile and environment as dagster-dbt's own parse).
The worker then runs dbt commands as forks of itself (`orchestration.lib.dbt_worker`): exactly
as the real dbt would, or not at all. On a small project of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pytest
from dagster_dbt import DbtProject

from ingestion.settings import WarehouseSettings
from orchestration.lib import dbt_worker, project, startup

PROFILE = """\
productops:
  target: "{{ env_var('WAREHOUSE', 'duckdb') }}"
  outputs:
    duckdb:
      type: duckdb
      path: "{{ env_var('WAREHOUSE_PATH') }}"
      schema: main
      threads: 1
"""


@pytest.fixture
def small_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A dbt project with a seed and a model, where startup and project look for one."""
    folder = tmp_path / "dbt_project"
    (folder / "models").mkdir(parents=True)
    (folder / "seeds").mkdir()
    (folder / "dbt_project.yml").write_text("name: small\nprofile: productops\n")
    (folder / "profiles.yml").write_text(PROFILE)
    (folder / "seeds" / "plans.csv").write_text("plan,seats\nteam,12\n")
    (folder / "models" / "a.sql").write_text("select * from {{ ref('plans') }}\n")
    manifest = folder / "target" / "manifest.json"
    monkeypatch.setattr(startup, "DBT_PROJECT_DIR", folder)
    monkeypatch.setattr(startup, "MANIFEST_PATH", manifest)
    monkeypatch.setattr(startup, "STAMP_PATH", manifest.parent / startup.STAMP_PATH.name)
    monkeypatch.setattr(startup, "_worker", None)
    monkeypatch.setattr(project, "DBT_PROJECT_DIR", folder)
    monkeypatch.setenv("WAREHOUSE", "duckdb")
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.delenv(startup.WORKER_SETTING, raising=False)
    monkeypatch.delenv(dbt_worker.SOCKET_ENV, raising=False)
    yield folder
    startup._end_worker()


def _parse_folders(folder: Path) -> list[Path]:
    return list((folder / "target").glob("productops_dbt-parse-*"))


def test_startup_knows_where_dagster_dbt_writes_the_manifest() -> None:
    dbt = DbtProject(project_dir=startup.DBT_PROJECT_DIR, profiles_dir=startup.DBT_PROJECT_DIR)
    assert dbt.manifest_path == startup.MANIFEST_PATH


def test_the_background_parse_is_taken_and_dbt_reuses_it(
    small_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert startup.start()
    assert not startup.start()  # one at a time

    def parse_again(*_: object) -> None:
        raise AssertionError("dbt_project parsed again instead of taking the background parse")

    monkeypatch.setattr(project.ProductOpsDbtProjectPreparer, "prepare", parse_again)
    settings = WarehouseSettings.from_env()
    dbt = project.dbt_project(settings)

    manifest = json.loads(dbt.manifest_path.read_text())
    assert "model.small.a" in manifest["nodes"] and "seed.small.plans" in manifest["nodes"]
    identity = startup.warehouse_identity(settings)
    assert startup.STAMP_PATH.read_text() == startup.stamp_text(identity, small_project)
    assert _parse_folders(small_project) == []  # moved out, then deleted
    startup._end_worker()
    assert not startup.start()  # current now: no worker, dbt runs as itself
    assert startup.dbt_executable() == startup.DBT_EXECUTABLE

    # A dbt command started the way the dbt asset starts one partial-parses from it: the
    # background parse ran in the environment dagster-dbt gives dbt.
    target = small_project / "target" / "ls"
    with project.dbt_process_env(settings):
        resource = project.ProductOpsDbtCliResource(
            project_dir=dbt,  # type: ignore[arg-type]
            dbt_executable=startup.DBT_EXECUTABLE,
        )
        resource.cli(["ls"], target_path=target).wait()
    log = (target / "dbt.log").read_text()
    assert "Unable to do partial parsing" not in log
    # Nothing parsed again, the seed included (not marked changed, as dagster-dbt's own
    # preparation would: ProductOpsDbtProjectPreparer).
    assert "0 files deleted, 0 files added, 0 files changed" in log
    assert "Found 1 model, 1 seed" in log


def test_a_parse_for_another_warehouse_is_dropped(
    small_project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert startup.start()  # for warehouse.duckdb
    prepared: list[Path] = []
    monkeypatch.setattr(
        project.ProductOpsDbtProjectPreparer,
        "prepare",
        lambda _self, dbt: prepared.append(dbt.project_dir),
    )
    other = WarehouseSettings(engine="duckdb", path=tmp_path / "other.duckdb")
    project.dbt_project(other)
    assert prepared == [small_project]  # dagster-dbt's own preparation ran instead
    assert _parse_folders(small_project) == []
    assert startup.STAMP_PATH.read_text() == startup.stamp_text("duckdb:other", small_project)


def test_a_manifest_parsed_in_another_folder_is_not_current(tmp_path: Path) -> None:
    """dbt's partial-parse file keeps each seed's folder: a moved project parses again."""
    here, moved = tmp_path / "here", tmp_path / "moved"
    for folder in (here, moved):
        (folder / "target").mkdir(parents=True)
        (folder / "dbt_project.yml").write_text("name: small\n")
    manifest, stamp = here / "target" / "manifest.json", here / "target" / "stamp"
    manifest.write_text("{}")
    stamp.write_text(startup.stamp_text("duckdb:warehouse", here))
    assert startup.manifest_is_current(manifest, here, stamp, "duckdb:warehouse")
    assert not startup.manifest_is_current(manifest, here, stamp, "duckdb:other")
    stamp.write_text(startup.stamp_text("duckdb:warehouse", moved))
    assert not startup.manifest_is_current(manifest, here, stamp, "duckdb:warehouse")


@pytest.mark.parametrize(
    "changed", ["models/m.sql", "snapshots/s.sql", "dbt_packages/p/macros/x.sql", "profiles.yml"]
)
def test_any_dbt_input_newer_than_the_manifest_makes_it_stale(tmp_path: Path, changed: str) -> None:
    """What a dbt command reads, not only models, seeds, macros and tests: a new snapshot is a
    new asset, an installed package brings macros, the profile sets what `target` renders."""
    (tmp_path / "target").mkdir()
    (tmp_path / "dbt_project.yml").write_text("name: small\n")
    manifest, stamp = tmp_path / "target" / "manifest.json", tmp_path / "target" / "stamp"
    manifest.write_text("{}")
    stamp.write_text(startup.stamp_text("duckdb:warehouse", tmp_path))
    os.utime(manifest, (1_000_000, 1_000_000))
    os.utime(tmp_path / "dbt_project.yml", (999_000, 999_000))
    assert startup.manifest_is_current(manifest, tmp_path, stamp, "duckdb:warehouse")
    source = tmp_path / changed
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("-- changed after the parse\n")  # written now: newer than the manifest
    assert not startup.manifest_is_current(manifest, tmp_path, stamp, "duckdb:warehouse")


# --- the dbt worker ------------------------------------------------------------------------------


def _dbt(
    *args: str, env: dict[str, str] | None = None, executable: str | None = None
) -> tuple[int, list[dict[str, Any]], int, str]:
    """`dbt args` as dagster-dbt runs it (JSON log lines): exit code, log lines, pid, output."""
    settings = WarehouseSettings.from_env()
    process = subprocess.Popen(
        [executable or startup.dbt_executable(), *args],
        cwd=startup.DBT_PROJECT_DIR,
        env={**os.environ, **startup.dbt_env(settings), "DBT_LOG_FORMAT": "json", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output, _ = process.communicate(timeout=180)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return process.returncode, lines, process.pid, output


def _pids(lines: list[dict[str, Any]]) -> set[int]:
    return {line["info"]["pid"] for line in lines}


def _events(lines: list[dict[str, Any]]) -> list[str]:
    """What a command reported, in order, without what only a parse reports."""
    parsing = {"MainReportVersion", "AdapterRegistered", "UnableToPartialParse", "ParseCmdOut"}
    return [line["info"]["name"] for line in lines if line["info"]["name"] not in parsing]


def test_the_worker_runs_commands_exactly_as_dbt_does(small_project: Path) -> None:
    """Same exit codes (0, 1 for a failed node, 2 for a bad option) and the same reports."""
    (small_project / "models" / "broken.sql").write_text("select * from no_such_table\n")
    assert startup.start()
    for args, expected in (
        (["seed"], 0),
        (["run", "--select", "broken"], 1),
        (["run", "--threads", "many"], 2),
    ):
        code, lines, pid, output = _dbt(*args)
        # closed as a dbt process closes it: checkpointed, no write-ahead log left
        assert not Path(f"{WarehouseSettings.from_env().path}.wal").exists()
        real_code, real_lines, real_pid, real_output = _dbt(
            *args, executable=startup.DBT_EXECUTABLE
        )
        assert (code, real_code) == (expected, expected), output + real_output
        assert _events(lines) == _events(real_lines)
        assert pid not in _pids(lines)  # a fork of the worker ran it, not the client
        assert _pids(real_lines) <= {real_pid}
        if expected == 1:
            assert "no_such_table" in output and "no_such_table" in real_output
        if expected == 2:
            assert "many" in output and "many" in real_output


def test_what_the_worker_did_not_parse_is_left_to_dbt(small_project: Path, tmp_path: Path) -> None:
    """A parse of its own, another warehouse, a project file changed since: the real dbt runs."""
    assert startup.start()
    assert startup.take_parse(startup.warehouse_identity(WarehouseSettings.from_env()))
    code, lines, pid, _ = _dbt("ls")
    assert code == 0 and pid not in _pids(lines)
    code, lines, pid, _ = _dbt("parse")
    assert code == 0 and _pids(lines) == {pid}
    code, lines, pid, _ = _dbt("ls", env={"WAREHOUSE_PATH": str(tmp_path / "other.duckdb")})
    assert code == 0 and _pids(lines) == {pid}
    (small_project / "models" / "b.sql").write_text("select 1 as x\n")
    code, lines, pid, output = _dbt("ls")
    assert code == 0 and _pids(lines) == {pid} and "small.b" in output


def _add_slow_model(project: Path) -> None:
    """A model whose query runs for hours."""
    (project / "models" / "slow.sql").write_text(
        "{{ config(materialized='table') }}\nselect sum(i) as s from range(100000000000) t(i)\n"
    )


def _run_slow_model(
    project: Path, ignoring: set[signal.Signals]
) -> tuple[subprocess.Popen[str], int]:
    """Start `dbt run` of the slow model through the worker; the client and the fork's pid.

    The client starts ignoring the signals in `ignoring`, SIGINT and SIGTERM otherwise at their
    defaults (as from a run that does not ignore them). Returns once the model has started.
    """

    def signals_at_start() -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN if signum in ignoring else signal.SIG_DFL)

    settings = WarehouseSettings.from_env()
    client = subprocess.Popen(
        [startup.dbt_executable(), "run", "--select", "slow"],
        cwd=project,
        env={**os.environ, **startup.dbt_env(settings), "DBT_LOG_FORMAT": "json"},
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=signals_at_start,
    )
    assert client.stdout is not None
    fork = next(
        json.loads(line)["info"]["pid"] for line in client.stdout if '"LogStartLine"' in line
    )
    return client, int(fork)


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_a_command_whose_client_is_stopped_ends_and_frees_the_warehouse(
    small_project: Path, stop: signal.Signals
) -> None:
    """dagster-dbt stops dbt with SIGINT or SIGTERM, a crash kills it: the fork goes too.

    Even when the run that started the worker ignores both (as a pytest-xdist worker does):
    the fork stops as a dbt process started by the client would.
    """
    _add_slow_model(small_project)
    before = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert startup.start()
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    settings = WarehouseSettings.from_env()
    client, fork = _run_slow_model(small_project, ignoring=set())
    assert fork != client.pid
    running = psutil.Process(fork)
    assert _ignored(fork) & {signal.SIGINT, signal.SIGTERM} == set()
    time.sleep(0.5)  # inside the query
    client.send_signal(stop)
    assert client.wait(timeout=30) != 0
    gone, alive = psutil.wait_procs([running], timeout=30)
    assert alive == []
    duckdb.connect(str(settings.path)).close()  # its write lock went with it


def test_a_command_started_ignoring_sigint_ignores_it_as_dbt_would(small_project: Path) -> None:
    _add_slow_model(small_project)
    assert startup.start()
    client, fork = _run_slow_model(small_project, ignoring={signal.SIGINT})
    assert _ignored(fork) & {signal.SIGINT, signal.SIGTERM} == {signal.SIGINT}
    assert _ignored(client.pid) & {signal.SIGINT, signal.SIGTERM} == {signal.SIGINT}
    client.terminate()
    assert client.wait(timeout=30) != 0


def _ignored(pid: int) -> set[signal.Signals]:
    """The signals process `pid` ignores (Linux: SigIgn in /proc/PID/status)."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(
        next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn")), 16
    )
    return {signum for signum in signal.Signals if mask >> (signum - 1) & 1}


def test_the_worker_ends_with_the_run_that_started_it(small_project: Path, tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(
        "import sys, time\n"
        "from pathlib import Path\n"
        "from orchestration.lib import startup\n"
        "folder = Path(sys.argv[1])\n"
        "startup.DBT_PROJECT_DIR = folder\n"
        "startup.MANIFEST_PATH = folder / 'target' / 'manifest.json'\n"
        "startup.STAMP_PATH = folder / 'target' / 'stamp'\n"
        "assert startup.start()\n"
        "print(startup._worker.process.pid, startup._worker.address, flush=True)\n"
        "time.sleep(120)\n"
    )
    run = subprocess.Popen(
        [sys.executable, str(script), str(small_project)],
        cwd=startup.PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert run.stdout is not None
    pid, address = run.stdout.readline().split()
    worker = psutil.Process(int(pid))
    run.kill()
    run.wait()
    gone, alive = psutil.wait_procs([worker], timeout=30)
    assert alive == []
    assert not Path(address).exists()


def test_no_worker_when_turned_off(small_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(startup.WORKER_SETTING, "off")
    assert not startup.start()
    assert startup.dbt_executable() == startup.DBT_EXECUTABLE


def test_a_project_that_does_not_parse_leaves_dbt_to_itself(small_project: Path) -> None:
    """The worker's parse fails: no worker, and dbt (run as itself) reports the error."""
    (small_project / "models" / "bad.sql").write_text("select {{ ref('plans' }}\n")
    assert startup.start()
    identity = startup.warehouse_identity(WarehouseSettings.from_env())
    assert startup.take_parse(identity) is None
    assert startup._worker is None and dbt_worker.SOCKET_ENV not in os.environ
    assert startup.dbt_executable() == startup.DBT_EXECUTABLE
    assert _parse_folders(small_project) == []
    code, _, _, output = _dbt("ls")
    assert code == 2 and "bad.sql" in output


@pytest.mark.parametrize(
    ("argv", "env", "served"),
    [
        (["build", "--select", "a", "--target", "duckdb"], {}, True),
        (["docs", "generate", "--static", "--no-compile"], {}, True),
        (["build"], {"DBT_PROJECT_DIR": ".", "DBT_PROFILES_DIR": "."}, True),  # the same folder
        (["build", "-t", "postgres"], {}, False),
        (["build", "--target=postgres"], {}, False),
        (["build"], {"DBT_TARGET": "postgres"}, False),
        (["build", "--vars", "{days: 3}"], {}, False),
        (["build", "--profiles-dir", "/elsewhere"], {}, False),
        (["build"], {"WAREHOUSE_PATH": "/other.duckdb"}, False),
        (["parse"], {}, False),
        (["deps"], {}, False),
        (["docs", "serve"], {}, False),
        (["--version"], {}, False),
    ],
)
def test_the_worker_serves_only_what_its_parse_fits(
    tmp_path: Path, argv: list[str], env: dict[str, str], served: bool
) -> None:
    parsed_with = {"WAREHOUSE": "duckdb", "WAREHOUSE_PATH": "/w.duckdb"}
    expected = dbt_worker.profile_settings(parsed_with, str(tmp_path))
    request = {"argv": argv, "cwd": str(tmp_path), "env": {**parsed_with, **env}}
    reason = dbt_worker.decline_reason(request, tmp_path, "duckdb", expected, None)
    assert (reason is None) == served, reason
    if served:  # ... unless a project file changed after the parse
        assert dbt_worker.decline_reason(request, tmp_path, "duckdb", expected, "models/a.sql")


def test_the_worker_stops_even_when_started_with_sigterm_ignored(small_project: Path) -> None:
    """A disposition of SIG_IGN survives exec: a run started so (a test runner, a daemon) once
    waited at exit for a worker that ignored its SIGTERM, for good."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        assert startup.start()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert startup._worker is not None
    worker = psutil.Process(startup._worker.process.pid)
    assert startup.take_parse(startup.warehouse_identity(WarehouseSettings.from_env()))
    started = time.monotonic()
    startup._end_worker()
    assert time.monotonic() - started < 10
    assert not worker.is_running()
