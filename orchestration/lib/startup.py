"""What a run does before its heavy imports: read the project's `.env`, start the dbt worker.

Dagster's definitions need dbt's manifest (the dbt assets, and the raw assets' keys, come from
it), so a run whose manifest is missing or stale (a fresh clone, a changed model, another
warehouse) first runs `dbt parse`: 5-10 s, during which this process would wait. `start()`
starts the run's dbt worker (`dbt_worker`) as soon as the warehouse settings are known: it
imports dbt and parses the project beside this process's own start-up (importing Dagster, dbt
and dlt: 3-5 s; the demo's sample world and vendor sandbox), into a target folder of its own.
`project.dbt_project`, under its file lock, takes the result (`take_parse`) instead of parsing
again; a parse that failed or was for another warehouse is dropped, and dagster-dbt's
preparation then runs as before and reports dbt's error. With the manifest already current
(every later run) nothing starts.

The worker then runs the run's dbt commands (the build, the docs page) as forks of itself,
without importing dbt or loading the project again (`dbt_executable()`). Its parse is
dagster-dbt's own command (`dbt parse --quiet`, in the environment dagster-dbt gives dbt); this
module imports nothing heavy, so that an entry point can call `load_project_env()` and
`start()` before its own imports.
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ingestion.settings import PROJECT_ROOT, WarehouseSettingError, WarehouseSettings
from orchestration.lib import dbt_worker

ENV_FILE = PROJECT_ROOT / ".env"
# dlt sends anonymous usage reports unless told not to (dlthub.com/docs/reference/telemetry);
# Dagster's are off in dagster.yaml, dbt's in dbt_project.yml. `true` here turns dlt's on.
DLT_TELEMETRY_SETTING = "RUNTIME__DLTHUB_TELEMETRY"
# dlt's notes on vendor fields that were null in every record of a load (their columns wait for
# a first value; the vendors' contracts allow such fields) would drown a command's progress and
# summary. dlt reads its log level once, when something first reads a dlt setting (the demo's
# clock check does, before the run), so a command sets it with the project's other defaults.
DLT_LOG_LEVEL_SETTING = "RUNTIME__LOG_LEVEL"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
# The venv's dbt, not whichever `dbt` is first on PATH (dagster-dbt would run that one).
DBT_EXECUTABLE = dbt_worker.real_dbt()
# The dbt worker (`start()`): run as a script, so that its client half starts without importing
# this project's packages. `off` in PRODUCTOPS_DBT_WORKER runs every dbt command as its own
# process, as dagster-dbt does by default.
WORKER_SCRIPT = dbt_worker.__file__
WORKER_SETTING = "PRODUCTOPS_DBT_WORKER"
# dagster-dbt's DbtProject writes here (target path "target"); tests/test_startup.py checks
# that the two agree.
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
# Beside the manifest: the warehouse and folder it was parsed for (`stamp_text`).
STAMP_PATH = MANIFEST_PATH.parent / "warehouse_path.txt"
# What a dbt command reads from the project (folders as in dbt_project.yml's `*-paths`, then
# installed packages; files that are absent are skipped): one of them newer than the manifest
# makes it stale (`manifest_is_current`), and they belong to `dbt_inputs_fingerprint`.
DBT_INPUT_FOLDERS = ("models", "seeds", "macros", "tests", "analyses", "snapshots", "dbt_packages")
DBT_INPUT_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml")
# What `dbt parse` leaves in its target folder for later commands, the manifest last: its
# modification time is what `manifest_is_current` compares.
PARSE_ARTIFACTS = ("partial_parse.msgpack", "semantic_manifest.json", "manifest.json")


@dataclass
class DbtWorker:
    """The dbt worker `start()` started (`dbt_worker.serve`): for which warehouse, where."""

    identity: str
    folder: Path  # its parse's target folder
    address: Path  # its socket, in a folder only this user can enter
    process: subprocess.Popen[bytes]
    parsed: bool | None = None  # unknown until `take_parse` reads the worker's report


_worker: DbtWorker | None = None


def load_project_env(command: bool = False) -> Path | None:
    """Read the project's `.env` (as .env.example says) without overriding exported variables.

    Relative paths in it (WAREHOUSE_PATH, DAGSTER_HOME) are taken from the project root, as
    everywhere else. Then the project's defaults for what neither sets: dlt's anonymous usage
    reports are off (`DLT_TELEMETRY_SETTING`), as Dagster's and dbt's are; for a `command`
    (`productops run`, `make run`), dlt logs errors only (`DLT_LOG_LEVEL_SETTING`).
    """
    loaded = None
    if ENV_FILE.exists():
        from dotenv import dotenv_values

        for key, value in dotenv_values(ENV_FILE).items():
            if not value or key in os.environ:  # an empty `KEY=` in a copied example is unset
                continue
            if key == "DAGSTER_HOME" and not Path(value).is_absolute():
                value = str(PROJECT_ROOT / value)
            os.environ[key] = value
        loaded = ENV_FILE
    os.environ.setdefault(DLT_TELEMETRY_SETTING, "false")
    if command:
        os.environ.setdefault(DLT_LOG_LEVEL_SETTING, "ERROR")
    return loaded


def warehouse_identity(settings: WarehouseSettings) -> str:
    """What a parsed manifest is bound to: the DuckDB database name, or the PostgreSQL database.

    dbt-duckdb names the database after the file's stem and the manifest holds no other trace
    of the file, so a manifest parsed for `a/warehouse.duckdb` serves `b/warehouse.duckdb`
    (a new run folder, a test's warehouse) without parsing again.
    """
    if settings.engine == "postgres":
        server = settings.server
        return f"postgres:{server.host}:{server.port or 5432}/{server.database}"
    if settings.engine == "spark":
        return f"spark:{settings.spark_bucket_url}"
    return f"duckdb:{settings.path.stem}"


def stamp_text(identity: str, project_dir: Path) -> str:
    """What the stamp beside a manifest says: the warehouse, and the folder it was parsed in.

    dbt's partial-parse file holds each seed's folder (its `root_path`): parsed in another
    folder (a moved or copied project), its seeds would be read from there.
    """
    return f"{identity}\n{project_dir.resolve()}"


def manifest_is_current(manifest: Path, project_dir: Path, stamp: Path, identity: str) -> bool:
    """The manifest exists, is newer than every dbt input file, and is for this warehouse.

    dbt-duckdb names the database after the file, so a manifest parsed for another warehouse
    file (or engine) points at relations that do not exist here; one parsed in another folder
    points at seed files there (`stamp_text`).
    """
    expected = stamp_text(identity, project_dir)
    if not (manifest.exists() and stamp.exists() and stamp.read_text() == expected):
        return False
    inputs = [project_dir / name for name in (*DBT_INPUT_FILES, *DBT_INPUT_FOLDERS)]
    return dbt_worker.changed_since(inputs, manifest.stat().st_mtime) is None


def dbt_env(settings: WarehouseSettings) -> dict[str, str]:
    """A dbt process's variables beyond this process's: the warehouse's, the venv's `dbt` first."""
    path = os.pathsep.join([str(Path(DBT_EXECUTABLE).parent), os.environ.get("PATH", "")])
    return {**settings.dbt_env(), "PATH": path}


def start() -> bool:
    """Start the run's dbt worker (`dbt_worker`), which parses the project in the background.

    Returns whether one started: not when the manifest is current (a later run's dbt commands
    run as their own processes, as before the worker), when the settings are invalid (the run
    reports those itself), under `dagster dev` (it prepares on every load and runs dbt its own
    way), when PRODUCTOPS_DBT_WORKER is `off`, or when a worker already runs.
    """
    if (
        _worker is not None
        or os.environ.get("DAGSTER_IS_DEV_CLI")
        or os.environ.get(WORKER_SETTING, "").lower() in ("off", "0", "false", "no")
    ):
        return False
    try:
        settings = WarehouseSettings.from_env()
    except WarehouseSettingError:
        return False
    identity = warehouse_identity(settings)
    if manifest_is_current(MANIFEST_PATH, DBT_PROJECT_DIR, STAMP_PATH, identity):
        return False
    _spawn(settings, identity)
    return True


def _spawn(settings: WarehouseSettings, identity: str) -> None:
    """Start `dbt_worker.serve`, parsing into a target folder of its own."""
    global _worker
    # Named like dagster-dbt's per-run folders, so `project.prune_dbt_targets` clears one a
    # killed run left behind.
    folder = MANIFEST_PATH.parent / f"productops_dbt-parse-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True)
    address = Path(tempfile.mkdtemp(prefix="productops-dbt-")) / "socket"  # mode 0700
    env = {
        **os.environ,
        **dbt_env(settings),
        # As dagster-dbt runs dbt (DbtCliResource.cli), so that the partial-parse state matches.
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_TARGET_PATH": str(folder),
        "DBT_LOG_PATH": str(folder),
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
    }
    inputs = [DBT_PROJECT_DIR / name for name in (*DBT_INPUT_FILES, *DBT_INPUT_FOLDERS)]
    # Listening before the worker starts: a command sent while it starts and parses waits.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(address))
        listener.listen(8)
        process = subprocess.Popen(
            [sys.executable, WORKER_SCRIPT, "serve", str(listener.fileno()), str(address)]
            + [str(DBT_PROJECT_DIR), settings.engine, *map(str, inputs)],
            cwd=DBT_PROJECT_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            pass_fds=(listener.fileno(),),
        )
    _worker = DbtWorker(identity, folder, address, process)
    os.environ[dbt_worker.SOCKET_ENV] = str(address)


def dbt_executable() -> str:
    """The `dbt` this process's commands run: the worker's client while one serves, else the venv's.

    The client is a small script (beside the manifest) running `dbt_worker.client`,
    which falls back to the venv's dbt itself whenever the worker cannot serve a command.
    """
    if _worker is None or _worker.parsed is False:
        return DBT_EXECUTABLE
    script = MANIFEST_PATH.parent / "productops-dbt"
    text = (
        "#!/bin/sh\n"
        "# dbt through the run's dbt worker (orchestration/lib/dbt_worker.py); see startup.py.\n"
        f'exec {shlex.quote(sys.executable)} {shlex.quote(WORKER_SCRIPT)} client "$@"\n'
    )
    if not script.exists() or script.read_text() != text:
        staging = script.with_name(f".{script.name}.{os.getpid()}.tmp")
        staging.write_text(text)
        staging.chmod(0o755)
        os.replace(staging, script)
    return str(script)


def take_parse(identity: str, meanwhile: Callable[[], object] | None = None) -> Path | None:
    """The folder of the worker's parse once it finished well for `identity`, else None.

    Waits for the parse, running `meanwhile` in a thread while it does (this process would
    otherwise only wait). The caller moves the `PARSE_ARTIFACTS` out and deletes the folder. A
    worker parsing for another warehouse is stopped (its commands would all decline).
    """
    worker = _worker
    if worker is None or worker.parsed is not None:
        return None
    if worker.identity != identity:
        _end_worker()
        return None
    thread = None
    if meanwhile is not None:
        thread = threading.Thread(target=meanwhile, name="while-dbt-parses", daemon=True)
        thread.start()
    assert worker.process.stdout is not None
    worker.parsed = worker.process.stdout.readline() == b"parsed\n"
    if thread is not None:
        thread.join()
    if worker.parsed and all((worker.folder / name).is_file() for name in PARSE_ARTIFACTS):
        return worker.folder
    if not worker.parsed:
        _end_worker()
    return None


def _end_worker() -> None:
    """Stop the worker (at exit, or when it cannot serve), and delete its folders."""
    global _worker
    if _worker is not None:
        os.environ.pop(dbt_worker.SOCKET_ENV, None)
        if _worker.process.poll() is None:
            _worker.process.terminate()
            try:
                _worker.process.wait(timeout=5)
            except subprocess.TimeoutExpired:  # SIGTERM ignored (a disposition it inherited)
                _worker.process.kill()
                _worker.process.wait()
        shutil.rmtree(_worker.folder, ignore_errors=True)
        shutil.rmtree(_worker.address.parent, ignore_errors=True)
    _worker = None


atexit.register(_end_worker)  # also a run that stops early (a refused setting)
