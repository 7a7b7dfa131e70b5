"""One dbt process for a whole run: dbt imported and the project parsed once, each command forked.

Every `dbt` command a run starts (the `dbt build`, the docs page) is a new Python process that
imports dbt (1.5-2.5 s) and loads the project (partial parse, 1-3 s) before it does anything;
`docs generate --no-compile` is almost only that. The worker does both once, beside the run's
own start-up (`startup.start()`, in place of the background `dbt parse`), and then serves
commands: for each it forks a copy of itself, which runs the command with dbt's programmatic
entry point on the manifest already in memory (`dbtRunner(manifest=...)`, dbt's documented way
of reusing a parsed project) and exits. A fork is a fresh process as far as dbt is concerned:
its own connections, its own DuckDB lock, gone when the command ends.

The command's side is `client()`, run as `dbt` by dagster-dbt and the docs step
(`startup.dbt_executable()`, a two-line wrapper script): it hands the worker its arguments,
environment, folder and standard streams (the file descriptors themselves, over a Unix socket),
so dbt's output goes straight to whoever reads the client's, as a dbt process's would; it
forwards SIGINT, SIGTERM and SIGHUP to the fork (which ignores those the client was started
ignoring, as dbt would), and returns the fork's exit code (dbt's: 0, 1 for failed nodes, 2 for
an error). A fork whose client dies kills itself. Whatever the worker cannot serve exactly as
dbt would, it declines and the client runs the real `dbt` instead: a command that parses
(`parse`, `deps`, `debug`, ...), `--vars` or another project, profile or target, other
warehouse settings, or a project file changed since the worker parsed it. With no worker
(`dagster dev`, tests, PRODUCTOPS_DBT_WORKER=off) the wrapper is not used at all.

The client half imports only the standard library: it runs as a script, once per command.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

# The variable that carries the worker's socket to a client (set by `startup.start()`).
SOCKET_ENV = "PRODUCTOPS_DBT_WORKER_SOCKET"
# dbt commands a fork runs on the parsed manifest; every other command is the real dbt's.
SERVED_COMMANDS = frozenset(
    {"build", "run", "test", "seed", "snapshot", "compile", "show", "ls", "list", "docs"}
)
# Options that change what dbt parses: a command with one of them parses for itself.
PARSE_OPTIONS = ("--vars", "--project-dir", "--profiles-dir", "--profile")
# dbt's exit codes (dbt.cli.exceptions): nodes failed, or dbt itself failed.
EXIT_FAILED, EXIT_ERROR = 1, 2
# What dagster-dbt, a terminal or a crashing run stops dbt with; the client passes them on.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_HEADER = struct.Struct("!I")


# --- the client: `dbt ARGS` through the worker ------------------------------------------------


def real_dbt() -> str:
    """The venv's own `dbt`, beside this interpreter (`startup.DBT_EXECUTABLE`)."""
    return str(Path(sys.executable).parent / "dbt")


def client(argv: list[str]) -> int:
    """Run `dbt argv` in a fork of the worker; the real `dbt` when there is none or it declines."""
    address = os.environ.get(SOCKET_ENV)
    if address:
        code = _through_worker(address, argv)
        if code is not None:
            return code
    dbt = real_dbt()
    os.execv(dbt, [dbt, *argv])
    return EXIT_ERROR  # not reached: execv replaces this process


def _through_worker(address: str, argv: list[str]) -> int | None:
    """The fork's exit code; None when the worker is gone or declined (nothing has run)."""
    # A stop signal this process was started ignoring, the real dbt would ignore too: the fork
    # ignores it and the client does not forward it.
    ignored = [int(s) for s in _STOP_SIGNALS if signal.getsignal(s) == signal.SIG_IGN]
    try:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(address)
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "ignored": ignored}
        body = json.dumps(request).encode()
        socket.send_fds(connection, [_HEADER.pack(len(body))], [0, 1, 2])
        connection.sendall(body)
        replies = connection.makefile("r", encoding="utf-8")
        first = replies.readline().split()
    except OSError:
        return None
    if first[:1] == ["declined"]:
        print(f"dbt worker: {' '.join(first[1:])}; running dbt itself", file=sys.stderr)
    if len(first) != 2 or first[0] != "pid":
        return None  # declined, or the worker ended
    fork = int(first[1])

    def forward(signum: int, _frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):  # the fork has just ended
            os.kill(fork, signum)

    for signum in _STOP_SIGNALS:
        if signum not in ignored:
            signal.signal(signum, forward)
    try:
        last = replies.readline().split()
    except OSError:
        last = []
    if len(last) == 2 and last[0] == "exit":
        return int(last[1])
    print(f"dbt (worker process {fork}) ended without an exit status", file=sys.stderr)
    return EXIT_ERROR


# --- the worker ---------------------------------------------------------------------------------


def serve(listening: int, address: str, project_dir: Path, target: str, inputs: list[Path]) -> int:
    """Parse the project, say so on stdout, then fork one process per command until told to stop.

    `listening`: the socket at `address`, bound and listening since before this process
    started, so that a command sent during the parse waits for it. `inputs`: the project's
    files; one changed after the parse began makes every later command decline (the real dbt
    parses it again). The worker ends when the process that started it does, and removes its
    socket and the socket's private folder.
    """
    parent = os.getppid()
    # A process started with SIGTERM ignored (the disposition survives exec: some test runners
    # and daemons ignore it) would outlive the run's attempt to stop it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    report = os.dup(1)  # stdout is the starter's pipe: only the parse's outcome goes there
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    listener = socket.socket(fileno=listening)
    try:
        parsed_at = time.time()
        from dbt.cli.main import dbtRunner

        result = dbtRunner().invoke(["parse", "--quiet", "--target", target])
        manifest = result.result if result.success else None
        os.write(report, b"parsed\n" if manifest is not None else b"failed\n")
        os.close(report)
        if manifest is None:
            return EXIT_FAILED
        listener.settimeout(1.0)
        expected = profile_settings(dict(os.environ), os.getcwd())
        while os.getppid() == parent:
            _reap_forks()
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            if os.fork() == 0:
                listener.close()
                changed = changed_since(inputs, parsed_at)
                os._exit(_serve_one(connection, manifest, project_dir, target, expected, changed))
            connection.close()
        return 0
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(address)
            os.rmdir(os.path.dirname(address))


def _reap_forks() -> None:
    """Collect the forks that have ended.

    Waited for, their CPU time counts as the worker's children's, and so, once the run waits
    for the worker, as the run's (what bench/run_steps.py reports).
    """
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


# What profiles.yml and dbt read from the environment to find the warehouse: a command whose
# values differ was not parsed for (`ingestion.settings.WarehouseSettings.dbt_env`).
_PROFILE_KEYS = (
    "WAREHOUSE",
    "WAREHOUSE_PATH",
    "DBT_POSTGRES_HOST",
    "DBT_POSTGRES_PORT",
    "DBT_POSTGRES_USER",
    "DBT_POSTGRES_PASSWORD",
    "DBT_POSTGRES_DBNAME",
    "DBT_SPARK_BUCKET_URL",
    "DBT_SPARK_WAREHOUSE_DIR",
    "DBT_SPARK_METASTORE_URL",
    "DBT_TARGET",  # what --target and --profile default to
    "DBT_PROFILE",
)


def profile_settings(env: dict[str, str], cwd: str) -> dict[str, str | None]:
    """What decides the project, profile and warehouse a dbt command in `cwd` with `env` uses.

    dbt's project and profiles folders default to the working folder (as dagster-dbt and the
    docs step run it); either way they are compared as resolved paths.
    """
    settings: dict[str, str | None] = {key: env.get(key) for key in _PROFILE_KEYS}
    for key in ("DBT_PROJECT_DIR", "DBT_PROFILES_DIR"):
        settings[key] = os.path.realpath(os.path.join(cwd, env.get(key) or "."))
    return settings


def changed_since(inputs: list[Path], moment: float) -> str | None:
    """The first file under `inputs` written after `moment`, if any (a new file counts too).

    Also what makes a manifest stale (`startup.manifest_is_current`).
    """
    for root in inputs:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in paths:
            try:
                if path.stat().st_mtime > moment:
                    return str(path)
            except OSError:
                continue
    return None


def decline_reason(
    request: dict[str, Any],
    project_dir: Path,
    target: str,
    expected: dict[str, str | None],
    changed: str | None,
) -> str | None:
    """Why the worker's parse does not fit this command (None: it fits)."""
    argv: list[str] = request["argv"]
    env: dict[str, str] = request["env"]
    command = next((word for word in argv if not word.startswith("-")), None)
    if command not in SERVED_COMMANDS:
        return f"`{command}` parses the project itself"
    if command == "docs" and "generate" not in argv:
        return "only `docs generate` is served"
    if any(word.split("=")[0] in PARSE_OPTIONS for word in argv):
        return "an option that changes what dbt parses"
    if any(value != target for value in _option_values(argv, ("--target", "-t"))):
        return f"another target than {target}"
    if Path(request["cwd"]).resolve() != project_dir.resolve():
        return f"run outside {project_dir}"
    settings = profile_settings(env, request["cwd"])
    for key, value in expected.items():
        if settings[key] != value:
            return f"{key} differs from the parse's"
    if changed is not None:
        return f"{changed} changed after the worker parsed the project"
    return None


def _option_values(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """Every value given to one of the option's `names` (`--target x`, `-t x`, `--target=x`)."""
    values = []
    for index, word in enumerate(argv):
        name, equals, value = word.partition("=")
        if name in names:
            values.append(value if equals else (argv[index + 1 : index + 2] or [""])[0])
    return values


def _serve_one(
    connection: socket.socket,
    manifest: Any,
    project_dir: Path,
    target: str,
    expected: dict[str, str | None],
    changed: str | None,
) -> int:
    """In a fork: take one command and its streams, run it on the manifest, return dbt's code."""
    header, fds, _flags, _address = socket.recv_fds(connection, _HEADER.size, 3)
    (length,) = _HEADER.unpack(header)
    body = b""
    while len(body) < length:
        chunk = connection.recv(length - len(body))
        if not chunk:
            return EXIT_ERROR
        body += chunk
    request = json.loads(body)
    reason = decline_reason(request, project_dir, target, expected, changed)
    if reason is not None:
        connection.sendall(f"declined {reason}\n".encode())
        return 0
    _name_process(f"dbt {request['argv'][0] if request['argv'] else ''}")
    for number, fd in enumerate(fds):
        os.dup2(fd, number)
        os.close(fd)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    # The stop signals as a dbt process started by the client would have them (the worker's own
    # may differ: it was started by the run, which may ignore SIGINT).
    for signum in _STOP_SIGNALS:
        default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
        signal.signal(signum, signal.SIG_IGN if signum in request["ignored"] else default)
    connection.sendall(f"pid {os.getpid()}\n".encode())
    # The client is what dagster-dbt (or the docs step) waits on and signals: without it,
    # nobody would stop this command, so its end ends this fork.
    threading.Thread(target=_exit_when_closed, args=(connection,), daemon=True).start()

    from dbt.cli.exceptions import DbtInternalException, DbtUsageException
    from dbt.cli.main import dbtRunner

    result = dbtRunner(manifest=manifest).invoke(request["argv"])
    code = 0 if result.success else EXIT_FAILED if result.exception is None else EXIT_ERROR
    if isinstance(result.exception, (DbtUsageException, DbtInternalException)):
        # Raised by the command line's parsing, before dbt logs anything (`dbt` prints these)
        print(f"Error: {result.exception}", file=sys.stderr)
    # What a dbt process does as it exits, before the client learns the exit code: dbt-duckdb,
    # for one, closes the warehouse (writing its WAL into the file) in an atexit handler. The
    # fork then ends with os._exit, skipping the rest of the interpreter's shutdown.
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    connection.sendall(f"exit {code}\n".encode())
    return code


def _name_process(name: str) -> None:
    """Show a fork as its command (`dbt build`) where `top` and `ps -o comm` look (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def _exit_when_closed(connection: socket.socket) -> None:
    """Kill this fork once the client's end of the connection closes."""
    try:
        connection.recv(1)
    finally:
        os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    """`dbt_worker.py client ARGS...`, or `serve FD SOCKET PROJECT_DIR TARGET INPUT...`."""
    if argv[:1] == ["client"]:
        return client(argv[1:])
    if argv[:1] == ["serve"] and len(argv) >= 5:
        listening, address, project_dir, target, *inputs = argv[1:]
        return serve(int(listening), address, Path(project_dir), target, [Path(p) for p in inputs])
    print(__doc__, file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
