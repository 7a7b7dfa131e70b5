"""A throwaway PostgreSQL server for tests, benchmarks and trying `WAREHOUSE=postgres` locally.

    python -m tools.pg_cluster start /tmp/pg        # initdb + start on a free port; prints the URL
    python -m tools.pg_cluster ensure /tmp/pg       # the same, or restart/reuse the one there
    python -m tools.pg_cluster env /tmp/pg          # `export ...` lines for that server
    python -m tools.pg_cluster stop /tmp/pg         # stop it and delete the folder
    python -m tools.pg_cluster stop-all /tmp        # stop every server started under a folder

The server uses Debian's packaged binaries (`/usr/lib/postgresql/<version>/bin`, installed by
`apt-get install postgresql`), keeps its data *and* its socket in the given folder, listens on
127.0.0.1 only and trusts local connections: it is for throwaway use, never for real data.
As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

SERVER_USER = "postgres"
DATABASE = "productops"
STATE_FILE = "cluster.json"


class PostgresNotInstalledError(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bin_dir() -> Path:
    """The newest `/usr/lib/postgresql/<version>/bin`, or the folder of an `initdb` on PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise PostgresNotInstalledError(
        "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb, no initdb on "
        "PATH). Install them with `sudo apt-get install postgresql` (.ci/run does this)."
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Cluster:
    """A running throwaway server: where its data is and how to reach it."""

    data_dir: Path
    port: int
    user: str = SERVER_USER
    database: str = DATABASE
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        """A connection string for dlt (`DESTINATION__POSTGRES__CREDENTIALS`) and psycopg2.

        The server trusts local connections and ignores the password; dlt insists on one.
        """
        return f"postgresql://{self.user}:{self.user}@{self.host}:{self.port}/{self.database}"

    def env(self) -> dict[str, str]:
        """The settings that switch the project to this server (docs/postgres.md)."""
        return {"WAREHOUSE": "postgres", "DESTINATION__POSTGRES__CREDENTIALS": self.url}

    def create_database(self, name: str) -> Cluster:
        """A new, empty database on this server (one per test keeps tests apart)."""
        import psycopg2
        from psycopg2 import sql

        con = psycopg2.connect(self.url)
        try:
            con.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with con.cursor() as cursor:
                cursor.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        finally:
            con.close()
        return replace(self, database=name)


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", SERVER_USER, "--", *command]
    return command


def _run(command: list[str]) -> None:
    result = subprocess.run(_as_server_user(command), capture_output=True, text=True)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        raise RuntimeError(f"{' '.join(command)} failed (exit {result.returncode}):\n{output}")


def _pg_ctl_start(bin_dir: Path, data_dir: Path, port: int) -> None:
    # Throwaway data: no fsync. Socket in the data folder, TCP on loopback only, UTC sessions.
    options = (
        f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c TimeZone=UTC"
    )
    _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-o", options, "-l",
          str(data_dir / "server.log"), "-w", "-t", "60", "start"])  # fmt: skip


def start(data_dir: Path, port: int | None = None) -> Cluster:
    """Create (initdb) a new cluster in `data_dir` (which must not hold one) and start it."""
    bin_dir = find_bin_dir()
    data_dir = data_dir.resolve()
    if (data_dir / "PG_VERSION").exists():
        raise RuntimeError(f"{data_dir} already holds a cluster: stop it, or pick a new folder")
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data_dir, SERVER_USER, SERVER_USER)
        # runuser keeps root's cwd; the server user must be able to read its own folder path.
        data_dir.chmod(0o700)
        for parent in data_dir.parents:
            if parent == Path("/"):
                break
            parent.chmod(parent.stat().st_mode | 0o011)
    port = port or free_port()
    _run([str(bin_dir / "initdb"), "-D", str(data_dir), "-A", "trust", "-U", SERVER_USER,
          "-E", "UTF8", "--locale=C.UTF-8"])  # fmt: skip
    _pg_ctl_start(bin_dir, data_dir, port)
    cluster = Cluster(data_dir=data_dir, port=port)
    _run([str(bin_dir / "createdb"), "-h", str(data_dir), "-p", str(port), "-U", SERVER_USER,
          DATABASE])  # fmt: skip
    (data_dir / STATE_FILE).write_text(json.dumps({"port": port}))
    return cluster


def ensure(data_dir: Path) -> Cluster:
    """The cluster in `data_dir`: reused when running, started again when stopped, else new."""
    data_dir = data_dir.resolve()
    if not (data_dir / STATE_FILE).exists():
        return start(data_dir)
    cluster = read(data_dir)
    bin_dir = find_bin_dir()
    status = subprocess.run(
        _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "status"]),
        capture_output=True,
    )
    if status.returncode != 0:  # stopped, e.g. after a reboot: start it on its old port
        _pg_ctl_start(bin_dir, data_dir, cluster.port)
    return cluster


def read(data_dir: Path) -> Cluster:
    """The cluster `start` left running in `data_dir`."""
    state = json.loads((data_dir.resolve() / STATE_FILE).read_text())
    return Cluster(data_dir=data_dir.resolve(), port=int(state["port"]))


def stop(data_dir: Path) -> None:
    """Stop the server in `data_dir` (if it runs) and delete the folder."""
    data_dir = data_dir.resolve()
    if (data_dir / "postmaster.pid").exists():
        bin_dir = find_bin_dir()
        with contextlib.suppress(RuntimeError):
            _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "-w", "stop"])
    shutil.rmtree(data_dir, ignore_errors=True)


def stop_all(root: Path) -> list[Path]:
    """Stop and delete every cluster `start` created anywhere under `root` (a CI safety net)."""
    stopped = []
    for state in sorted(root.resolve().rglob(STATE_FILE)):
        stop(state.parent)
        stopped.append(state.parent)
    return stopped


@contextlib.contextmanager
def running(data_dir: Path) -> Iterator[Cluster]:
    """A server for the length of a `with` block; stopped and deleted even on failure."""
    try:
        yield start(data_dir)
    finally:
        stop(data_dir)


def main(argv: list[str] | None = None) -> int:
    """CLI: start, ensure, env, stop, stop-all."""
    parser = argparse.ArgumentParser(prog="python -m tools.pg_cluster", description=__doc__)
    parser.add_argument("action", choices=["start", "ensure", "env", "stop", "stop-all"])
    parser.add_argument("data_dir", type=Path, help="folder for the cluster (created by start)")
    parser.add_argument("--port", type=int, help="port to listen on (default: a free one)")
    args = parser.parse_args(argv)
    try:
        if args.action == "stop":
            stop(args.data_dir)
            print(f"stopped and removed {args.data_dir}")
            return 0
        if args.action == "stop-all":
            for folder in stop_all(args.data_dir):
                print(f"stopped and removed {folder}")
            return 0
        if args.action == "start":
            cluster = start(args.data_dir, args.port)
        elif args.action == "ensure":
            cluster = ensure(args.data_dir)
        else:
            cluster = read(args.data_dir)
    except (PostgresNotInstalledError, RuntimeError, FileNotFoundError) as error:
        print(f"pg_cluster: {error}", file=sys.stderr)
        return 1
    if args.action in ("start", "ensure"):
        print(f"# PostgreSQL at {cluster.url} (data in {cluster.data_dir})", file=sys.stderr)
    for key, value in cluster.env().items():
        print(f"export {key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
