"""One command for your own data (#11), the demo apart, and the pieces of crash recovery (#17).

Fast tests of each piece; the slow one runs `python -m orchestration.run` on sources one of
which refuses its credential, and checks that the marts still build and the summary says so.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import psutil
import pytest
from dagster._core.test_utils import instance_for_test

from orchestration.lib import project, recovery, startup
from orchestration.lib.automation import initial_events_cursor, newer_event_files
from tests.toolkit.paths import PROJECT_ROOT
from tests.toolkit.runs import alive, run_env, run_module, run_output, run_python
from tests.toolkit.sandbox import demo_settings
from tests.toolkit.warehouse import table_counts


def test_production_layers_never_import_the_demo() -> None:
    offenders = []
    for package in ("ingestion", "orchestration"):
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                offenders += [
                    f"{path}:{node.lineno} {n}" for n in names if n.split(".")[0] == "demo"
                ]
    assert offenders == []


def test_dotenv_is_read_and_exported_variables_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "SOURCES__STRIPE__API_KEY=rk_from_env_file\n"
        "WAREHOUSE_PATH=from-env-file.duckdb\n"
        "DAGSTER_HOME=.home_from_env_file\n"
        "SOURCES__ZENDESK__API_TOKEN=\n"
    )
    monkeypatch.setattr(startup, "ENV_FILE", env_file)
    for name in ("SOURCES__STRIPE__API_KEY", "DAGSTER_HOME", "SOURCES__ZENDESK__API_TOKEN"):
        # Set, then delete: monkeypatch then puts back the variable as it was before the test
        # although load_project_env writes it (deleting an unset one records nothing, and the
        # key would leak into the next test of this process: `make test`'s order differs).
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("WAREHOUSE_PATH", "/exported/warehouse.duckdb")
    assert startup.load_project_env() == env_file
    assert os.environ["SOURCES__STRIPE__API_KEY"] == "rk_from_env_file"
    assert os.environ["WAREHOUSE_PATH"] == "/exported/warehouse.duckdb"
    assert os.environ["DAGSTER_HOME"] == str(PROJECT_ROOT / ".home_from_env_file")
    assert "SOURCES__ZENDESK__API_TOKEN" not in os.environ


@pytest.mark.parametrize(
    ("exported", "in_env_file", "expected"),
    [(None, None, "false"), ("true", None, "true"), (None, "true", "true"), ("0", "1", "0")],
)
def test_dlt_usage_reports_are_off_unless_asked_for(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    exported: str | None,
    in_env_file: str | None,
    expected: str,
) -> None:
    # As Dagster's and dbt's: an exported variable, then `.env`, then the project's default.
    env_file = tmp_path / ".env"
    env_file.write_text(f"{startup.DLT_TELEMETRY_SETTING}={in_env_file}\n" if in_env_file else "")
    monkeypatch.setattr(startup, "ENV_FILE", env_file if in_env_file else tmp_path / "none")
    monkeypatch.setenv(startup.DLT_TELEMETRY_SETTING, exported or "")
    if exported is None:
        monkeypatch.delenv(startup.DLT_TELEMETRY_SETTING)
    startup.load_project_env()
    assert os.environ[startup.DLT_TELEMETRY_SETTING] == expected


@pytest.mark.parametrize(("command", "level"), [(True, "ERROR"), (False, "WARNING")])
def test_a_command_quiets_dlt_before_dlt_reads_its_first_setting(
    tmp_path: Path, command: bool, level: str
) -> None:
    """`make run` printed dlt's notes on all-null vendor fields (some 60 lines a first run):
    the demo reads a dlt setting (the clock check) before the runner set dlt's log level, and
    dlt reads its level once. Entry points now set it with the project's defaults."""
    script = (
        "from pathlib import Path\n"
        "from orchestration.lib import startup\n"
        f"startup.ENV_FILE = Path({str(tmp_path / 'none')!r})\n"
        f"startup.load_project_env(command={command})\n"
        "import logging, dlt\n"
        "from ingestion.plausibility import max_future_skew\n"
        "max_future_skew()  # a dlt setting, read as `demo.run` does before the run\n"
        "from dlt.common import logger\n"
        "print(logging.getLevelName(logger.LOGGER.level))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != startup.DLT_LOG_LEVEL_SETTING}
    assert run_python(script, env=env, timeout=120).stdout.strip() == level


def test_demo_writes_its_own_warehouse_whatever_is_exported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from demo.run import DEMO_DAGSTER_HOME, DEMO_WAREHOUSE, demo_environment

    monkeypatch.setenv("WAREHOUSE_PATH", "/srv/company/warehouse.duckdb")
    monkeypatch.setenv("DAGSTER_HOME", "/srv/company/dagster")
    monkeypatch.delenv("WAREHOUSE", raising=False)
    assert demo_environment(use_environment=False, warehouse=None) is None
    assert os.environ["WAREHOUSE_PATH"] == str(DEMO_WAREHOUSE)
    assert os.environ["DAGSTER_HOME"] == str(DEMO_DAGSTER_HOME)
    assert "leaving WAREHOUSE_PATH=/srv/company/warehouse.duckdb alone" in capsys.readouterr().out


def test_demo_refuses_a_postgres_warehouse(monkeypatch: pytest.MonkeyPatch) -> None:
    from demo.run import demo_environment

    monkeypatch.setenv("WAREHOUSE", "postgres")
    refusal = demo_environment(use_environment=False, warehouse=None)
    assert refusal is not None and "make run-postgres" in refusal
    assert "productops run" in refusal


@pytest.mark.slow
def test_the_demo_warehouse_starts_afresh_for_another_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make run` with another `--end-date` (or SCALE, SEED): the new world's events reuse the
    last one's message ids, so loaded on top, staging would keep the old world's copy of each.
    The warehouse and dlt's state start afresh instead: it holds what a new warehouse would."""
    from demo import generate_world
    from demo.run import start_afresh_for_another_world
    from ingestion.sources import BY_NAME

    world, warehouse = tmp_path / "sample", tmp_path / "demo" / "warehouse.duckdb"
    monkeypatch.setenv("WAREHOUSE_PATH", str(warehouse))
    monkeypatch.delenv("WAREHOUSE", raising=False)
    monkeypatch.setenv("SOURCES__SEGMENT__BUCKET_URL", str(world / "events"))

    def events(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
        return con.execute(
            "select message_id, event, timestamp from raw_segment.events order by all"
        ).fetchall()

    loaded = []
    for end_date in (date(2026, 1, 31), date(2026, 2, 7)):  # `--end-date`, the same seed
        generate_world(world, scale=0.05, seed=1, end_date=end_date)
        assert start_afresh_for_another_world(world / "world.json") is bool(loaded)
        assert not start_afresh_for_another_world(world / "world.json")  # the same world
        BY_NAME["segment"].load()
        with duckdb.connect(str(warehouse), read_only=True) as con:
            loaded.append(events(con))
    assert "holds another sample world" in capsys.readouterr().out
    # the worlds share message ids, not events (here: world 1 a week earlier); on top, the
    # first copy of each id would keep world 1's time
    assert {row[0] for row in loaded[0]} & {row[0] for row in loaded[1]}
    assert set(loaded[0]) != set(loaded[1])
    fresh = tmp_path / "fresh" / "warehouse.duckdb"
    monkeypatch.setenv("WAREHOUSE_PATH", str(fresh))
    BY_NAME["segment"].load()
    with duckdb.connect(str(fresh), read_only=True) as con:
        assert loaded[1] == events(con)  # as loaded into a new warehouse


def test_events_sensor_first_cursor_skips_files_already_loaded(tmp_path: Path) -> None:
    loaded_at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()
    for name, mtime in (("old.jsonl", loaded_at - 3600), ("new.jsonl", loaded_at + 60)):
        (tmp_path / name).write_text("{}\n")
        os.utime(tmp_path / name, (mtime, mtime))
    files, cursor = newer_event_files(str(tmp_path), initial_events_cursor(loaded_at))
    assert [Path(url).name for url in files] == ["new.jsonl"]
    assert cursor is not None
    assert datetime.fromisoformat(cursor).timestamp() == pytest.approx(loaded_at + 60)
    assert newer_event_files(str(tmp_path), cursor)[0] == []
    # No events load yet: every file is new.
    assert len(newer_event_files(str(tmp_path), initial_events_cursor(None))[0]) == 2


def test_old_dbt_target_folders_are_pruned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "target"
    for index in range(8):
        folder = target / f"productops_dbt-run{index}-abc"
        folder.mkdir(parents=True)
        os.utime(folder, (1_000_000 + index, 1_000_000 + index))
    (target / "compiled").mkdir()
    monkeypatch.setattr(project, "DBT_PROJECT_DIR", tmp_path)
    removed = project.prune_dbt_targets(keep=5)
    assert sorted(p.name for p in removed) == [f"productops_dbt-run{i}-abc" for i in range(3)]
    assert sorted(p.name for p in target.iterdir()) == [
        "compiled",
        *[f"productops_dbt-run{i}-abc" for i in range(3, 8)],
    ]
    # A folder another process's build wrote to just now stays, whatever its rank.
    busy = target / "productops_dbt-run0-abc"
    busy.mkdir()
    (busy / "manifest.json").write_text("{}")
    os.utime(busy, (1_000_000, 1_000_000))
    assert project.prune_dbt_targets(keep=5) == []
    assert busy.is_dir()


def _dead_token() -> str:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    token = recovery.process_token(child.pid)
    child.kill()
    child.wait()
    return token


def _wait_for_environment(pid: int) -> None:
    """Right after a vfork, the kernel lets the parent go on before the child's new environment
    is set up; /proc shows an empty one for that moment (at most 5 s here)."""
    deadline = time.monotonic() + 5
    while not psutil.Process(pid).environ() and time.monotonic() < deadline:
        time.sleep(0.01)


def _add_run(instance: dg.DagsterInstance, tags: dict[str, str]) -> str:
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

    run_id = str(uuid.uuid4())
    instance.add_run(
        DagsterRun(
            job_name="build_marts", run_id=run_id, status=DagsterRunStatus.STARTED, tags=tags
        )
    )
    return run_id


def test_a_dead_run_is_failed_its_slot_freed_and_its_children_killed() -> None:
    dead = _dead_token()
    host = recovery.socket.gethostname()
    lines: list[str] = []
    with instance_for_test() as instance:
        instance.event_log_storage.set_concurrency_slots("warehouse", 1)
        dead_run = _add_run(instance, {recovery.PROCESS_TAG: dead, recovery.HOST_TAG: host})
        live_run = _add_run(instance, recovery.run_tags())
        other_host = _add_run(
            instance, {recovery.PROCESS_TAG: dead, recovery.HOST_TAG: "elsewhere"}
        )
        claim = instance.event_log_storage.claim_concurrency_slot("warehouse", dead_run, "dbt")
        assert claim.is_claimed
        # Started just before the reap: any runner of this user reaps a dead run's leftovers,
        # and a test in the other pytest worker may start one meanwhile (CI once lost it so).
        leftover = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"],
            env={**os.environ, recovery.PROCESS_ENV: dead},
        )
        _wait_for_environment(leftover.pid)

        assert recovery.reap_dead_runs(instance, lines.append) == [dead_run]

        status = {
            r: instance.get_run_by_id(r).status.value for r in (dead_run, live_run, other_host)
        }  # type: ignore[union-attr]
        assert status == {dead_run: "FAILURE", live_run: "STARTED", other_host: "STARTED"}
        info = instance.event_log_storage.get_concurrency_info("warehouse")
        assert info.claimed_slots == []
    assert any(f"run {dead_run} (build_marts) marked failed" in line for line in lines), lines
    assert leftover.wait(timeout=10) == -signal.SIGKILL
    assert any(f"process {leftover.pid}" in line for line in lines), lines


def _one_run_holds_the_slot_one_waits(instance: Any) -> tuple[str, str]:
    """Two live runs: the first holds the one warehouse slot, the second waits for it."""
    storage = instance.event_log_storage
    storage.set_concurrency_slots("warehouse", 1)
    holder = _add_run(instance, recovery.run_tags())
    waiter = _add_run(instance, recovery.run_tags())
    assert storage.claim_concurrency_slot("warehouse", holder, "segment_raw").is_claimed
    assert not storage.claim_concurrency_slot("warehouse", waiter, "zendesk_raw").is_claimed
    return holder, waiter


def test_waiting_for_the_slot_names_the_run_that_holds_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with instance_for_test() as instance:
        holder, waiter = _one_run_holds_the_slot_one_waits(instance)
        with recovery.report_slot_waits(instance, {waiter}, "warehouse", interval=0.1):
            time.sleep(0.6)
    out = capsys.readouterr().out
    assert f"waiting for run {holder} (step segment_raw), which holds the warehouse slot" in out


def test_the_slot_wait_report_ends_with_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    # A report under way when the wait ends must finish first: once the run has its slot, no
    # report prints and no reap kills a process (CI once lost a test's process, tagged with a
    # dead runner's token, to a reap still running after the test before it).
    reaps: list[float] = []

    def slow_reap(instance: Any, log: Any = print) -> list[str]:
        time.sleep(0.5)
        reaps.append(time.monotonic())
        return []

    monkeypatch.setattr(recovery, "reap_dead_runs", slow_reap)
    with instance_for_test() as instance:
        _, waiter = _one_run_holds_the_slot_one_waits(instance)
        with recovery.report_slot_waits(instance, {waiter}, "warehouse", interval=0.05):
            time.sleep(0.2)  # the first report's reap is under way
        ended = time.monotonic()
        reporters = [t for t in threading.enumerate() if t.name == "slot-wait-reporter"]
    assert reaps and max(reaps) <= ended
    assert not [thread for thread in reporters if thread.is_alive()]


def _stale_lock_holder(path: Path) -> subprocess.Popen[str]:
    """A process holding DuckDB's lock on `path`, tagged with a dead runner's token.

    Any runner of this user reaps such a process (a test in the other pytest worker may start
    one meanwhile), so a holder killed before it says it is ready is started again."""
    for _ in range(3):
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"import duckdb,time; c=duckdb.connect({str(path)!r}); "
                "print('ready', flush=True); time.sleep(60)",
            ],
            env={**os.environ, recovery.PROCESS_ENV: _dead_token()},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None
        if holder.stdout.readline() == "ready\n":
            return holder
        holder.kill()
        assert holder.wait() == -signal.SIGKILL, "the lock holder failed on its own"
    raise AssertionError("the lock holder was killed three times before it was ready")


def test_a_stale_duckdb_lock_names_the_pid_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    holder = _stale_lock_holder(path)
    try:
        with pytest.raises(duckdb.IOException) as raised:
            duckdb.connect(str(path))
        message = str(raised.value)
        hint = recovery.explain_lock_error(message, str(path))
        assert hint is not None
        assert f"PID {holder.pid}" in hint and f"kill {holder.pid}" in hint
        assert "left behind by a run that crashed" in hint
    finally:
        holder.kill()
        holder.wait()
    assert recovery.explain_lock_error("Catalog Error: no such table", str(path)) is None


def test_summary_names_the_failed_source_warnings_and_rejects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration import run

    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.delenv("WAREHOUSE", raising=False)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        for schema, rows in (("raw_stripe", 0), ("raw_zendesk", 3), ("raw_segment", 2)):
            con.execute(f"create schema {schema}")
            con.execute(
                f"create table {schema}.rejected_records as select range as id from range({rows})"
            )
    outcome = {
        "success": False,
        "run_ids": ["a", "b"],
        "checks_passed": ["marts/dim_accounts:unique_account_id"],
        "checks_warned": [
            {
                "name": "raw_stripe/customers:great_expectations",
                "description": "Stripe customers suite",
                "counts": "unresolved_accounts=4",
                "details": [
                    "WARN expect_column_values_to_not_be_null(metadata__account_id): 4 of 9 rows"
                ],
            }
        ],
        "checks_failed": [],
        "failed_sources": {"stripe": "HTTP 401: set SOURCES__STRIPE__API_KEY"},
        "step_failures": [],
    }
    text = run.summary(outcome, 1.0, "test")
    assert "checks: 1 passed, 1 warned, 0 failed" in text
    assert (
        "  WARN raw_stripe/customers:great_expectations: Stripe customers suite "
        "(unresolved_accounts=4)" in text
    )
    assert (
        "      WARN expect_column_values_to_not_be_null(metadata__account_id): 4 of 9 rows" in text
    )
    assert "rejected records: 5 (raw_segment 2, raw_zendesk 3)" in text
    assert "source FAILED: stripe: HTTP 401: set SOURCES__STRIPE__API_KEY" in text
    assert run.outcome_exit_code(outcome) == 1
    # It ends with where to look: the report, the docs, the published marts.
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "latest.html").write_text("<html></html>")
    tail = run.summary(outcome, 1.0, "test").splitlines()[-3:]
    assert tail[0] == f"report (open in a browser): {tmp_path / 'reports' / 'latest.html'}"
    assert tail[1] == "dbt docs (every model and metric): not written this run"
    assert tail[2].startswith("published marts (what analysts and BI open): ")
    only_warnings = {**outcome, "success": True, "failed_sources": {}}
    assert run.outcome_exit_code(only_warnings) == 0


@pytest.mark.slow
def test_a_failed_source_still_lets_the_marts_build(tmp_path: Path) -> None:
    from demo import generate_world
    from demo.sandbox import Sandbox

    world = tmp_path / "world"
    manifest = generate_world(world, scale=0.05, seed=5, end_date=date(2026, 3, 31))
    warehouse = tmp_path / "warehouse.duckdb"

    def run(sandbox: Sandbox, **overrides: str) -> tuple[int, str]:
        env = run_env(tmp_path, demo_settings(world, manifest, sandbox), **overrides)
        result = run_module("orchestration.run", env=env, timeout=900)
        return result.returncode, run_output(result)

    def marts() -> dict[str, int]:
        return table_counts(warehouse, "marts")

    with Sandbox(world, page_size=50) as sandbox:
        code, printed = run(sandbox)
        assert code == 0, printed[-4000:]
        first = marts()
        # Stripe now refuses the key: its step fails, the marts still build from the rest.
        code, printed = run(sandbox, SOURCES__STRIPE__API_KEY="rk_test_revoked")
    assert code == 1, printed[-4000:]
    assert "source FAILED: stripe:" in printed, printed[-4000:]
    assert "source FAILED: zendesk" not in printed
    assert "the marts were built from what the other sources loaded" in printed
    assert "step FAILED" not in printed, printed[-4000:]
    assert first["fct_active_users_daily"] == 90
    assert marts() == first


def test_events_sensor_right_after_a_run_requests_nothing_already_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, defs: dg.Definitions
) -> None:
    landing = tmp_path / "events"
    landing.mkdir()
    old = landing / "part-0000.jsonl"
    old.write_text('{"type": "track"}\n')
    os.utime(old, (time.time() - 600, time.time() - 600))
    monkeypatch.setenv("SOURCES__SEGMENT__BUCKET_URL", str(landing))
    sensor = defs.resolve_sensor_def("new_event_files")
    with instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(["raw_segment", "events"]))
        with dg.build_sensor_context(instance=instance, definitions=defs) as context:
            first = sensor.evaluate_tick(context)
        assert first.run_requests == [] and first.cursor is not None
        new = landing / "part-0001.jsonl"
        new.write_text('{"type": "track"}\n')
        os.utime(new, (time.time() + 5, time.time() + 5))
        with dg.build_sensor_context(
            instance=instance, cursor=first.cursor, definitions=defs
        ) as context:
            second = sensor.evaluate_tick(context)
    assert [r.tags["new_files"] for r in second.run_requests] == ["1"]


def test_a_daemon_run_whose_worker_died_is_failed_too() -> None:
    from dagster._core.events import EngineEventData

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    with instance_for_test() as instance:
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        worker_died = _add_run(instance, {})
        worker_lives = _add_run(instance, {})
        for run_id, pid in ((worker_died, child.pid), (worker_lives, os.getpid())):
            run = instance.get_run_by_id(run_id)
            assert run is not None
            instance.report_engine_event(
                "Started process for run", run, EngineEventData.in_process(pid)
            )
        child.kill()
        child.wait()
        assert recovery.reap_dead_runs(instance, lambda line: None) == [worker_died]
        lives = instance.get_run_by_id(worker_lives)
        assert lives is not None and lives.status.value == "STARTED"


def test_the_watchdog_kills_a_killed_runners_children() -> None:
    script = (
        "import subprocess, sys, time\n"
        "from orchestration.lib.recovery import start_watchdog\n"
        "start_watchdog()\n"
        "child = subprocess.Popen(['sleep', '60'], start_new_session=True)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    runner = subprocess.Popen(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    assert runner.stdout is not None
    grandchild = int(runner.stdout.readline())
    _wait_for_environment(grandchild)
    assert recovery.PROCESS_ENV in psutil.Process(grandchild).environ()
    runner.kill()  # SIGKILL: no cleanup code of the runner runs
    runner.wait()
    deadline = time.monotonic() + 15
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    # Its own session: a process-group kill would have missed it; the watchdog did not.
    assert not alive(grandchild)


def test_the_demo_server_starts_afresh_for_another_world(
    postgres_warehouse: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make run-postgres` with another world: its local server's database is emptied (every
    schema that holds something, dlt's state for the server), as the demo's DuckDB file is."""
    import psycopg2

    from demo.run import start_afresh_for_another_world
    from ingestion.settings import WarehouseSettings

    settings = WarehouseSettings.from_env()
    world = tmp_path / "world.json"

    def schemas() -> set[str]:
        with psycopg2.connect(settings.postgres_url()) as pg, pg.cursor() as cursor:
            cursor.execute(
                "select nspname from pg_namespace where nspname not like 'pg\\_%' "
                "and nspname <> 'information_schema'"
            )
            found = {row[0] for row in cursor.fetchall()}
        pg.close()
        return found

    world.write_text('{"seed": 1}')
    assert not start_afresh_for_another_world(world)  # an empty database: nothing to drop
    with psycopg2.connect(settings.postgres_url()) as pg, pg.cursor() as cursor:
        cursor.execute("create schema raw_segment")
        cursor.execute("create table raw_segment.events (message_id text)")
        cursor.execute("create table public.leftover (id int)")
    pg.close()
    settings.pipelines_dir().mkdir(parents=True)
    assert not start_afresh_for_another_world(world)  # the same world: kept
    assert {"raw_segment", "public"} <= schemas()
    world.write_text('{"seed": 2}')
    assert start_afresh_for_another_world(world)
    assert schemas() == {"public"}
    assert not settings.pipelines_dir().exists()
    out = capsys.readouterr().out
    assert "holds another sample world" in out and "starting it afresh" in out
    assert not start_afresh_for_another_world(world)
