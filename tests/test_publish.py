"""Readers open the published marts file; publishing never waits for them or breaks them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.publish import publish_marts
from tests.toolkit.paths import PROJECT_ROOT


def _warehouse(path: Path, dau: int) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        con.execute("create or replace table marts.fct_active_users_daily (dau integer)")
        con.execute("insert into marts.fct_active_users_daily values (?)", [dau])
        con.execute("create schema if not exists staging")
        con.execute("create or replace table staging.not_published (x integer)")


def test_publish_swaps_a_new_file_in_while_a_reader_holds_the_old(tmp_path: Path) -> None:
    warehouse, published = tmp_path / "warehouse.duckdb", tmp_path / "analytics.duckdb"
    _warehouse(warehouse, dau=1)
    assert publish_marts(warehouse, published) == {"fct_active_users_daily": 1}

    reader = duckdb.connect(str(published), read_only=True)
    try:
        assert reader.execute("select dau from marts.fct_active_users_daily").fetchall() == [(1,)]
        _warehouse(warehouse, dau=2)
        publish_marts(warehouse, published)  # must not fail although the reader is connected
        # The open reader keeps its consistent snapshot; a new connection sees the new data.
        assert reader.execute("select dau from marts.fct_active_users_daily").fetchall() == [(1,)]
    finally:
        reader.close()
    with duckdb.connect(str(published), read_only=True) as fresh:
        assert fresh.execute("select dau from marts.fct_active_users_daily").fetchall() == [(2,)]
        schemas = {
            r[0] for r in fresh.execute("select schema_name from duckdb_schemas()").fetchall()
        }
        assert "staging" not in schemas
    assert not list(tmp_path.glob(".*.tmp"))


# --- issue #14: a DuckDB 1.x client opens the published file; issue #17: paths and kills -------

DUCKDB_1X = "duckdb==1.4.*"


@pytest.fixture(scope="session")
def duckdb_1x_python() -> Path:
    """A Python with DuckDB 1.4 in its own venv (cached between runs: PyPI is reachable in CI).

    Most BI drivers still embed a DuckDB 1.x engine; this client stands in for them.
    """
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "productops-tests"
    venv = cache / "duckdb-1.4"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import duckdb; print(duckdb.__version__)"]
    if not python.exists() or subprocess.run(probe, capture_output=True).returncode != 0:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", DUCKDB_1X],
            check=True,
        )
    version = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()
    assert version.startswith("1.4."), version
    return python


def test_duckdb_1x_client_reads_the_published_marts(tmp_path: Path, duckdb_1x_python: Path) -> None:
    warehouse, published = tmp_path / "warehouse.duckdb", tmp_path / "analytics.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_nps_monthly as select date '2026-03-01' as month, "
            "42.5::double as nps, 120::bigint as responses, 'x'::varchar as note, "
            "[1, 2]::integer[] as ids, {'a': 1}::struct(a integer) as s"
        )
    publish_marts(warehouse, published)
    script = (
        "import duckdb, json, sys\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "print(json.dumps(con.execute('select month::varchar, nps, responses, note, ids, s.a "
        "from marts.fct_nps_monthly').fetchall()))\n"
    )
    result = subprocess.run(
        [str(duckdb_1x_python), "-c", script, str(published)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [["2026-03-01", 42.5, 120, "x", [1, 2], 1]]


def test_without_the_storage_version_a_duckdb_1x_client_cannot_read(
    tmp_path: Path, duckdb_1x_python: Path
) -> None:
    """The control: proves the test above exercises the storage version, not luck."""
    plain = tmp_path / "plain.duckdb"
    with duckdb.connect(str(plain)) as con:
        con.execute("create table t as select 1 as x")
    if duckdb.__version__.startswith("1."):
        pytest.fail("the project's duckdb is 1.x: this control needs DuckDB 2")
    result = subprocess.run(
        [
            str(duckdb_1x_python),
            "-c",
            "import duckdb, sys; duckdb.connect(sys.argv[1])",
            str(plain),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0


@pytest.mark.parametrize("folder", ["it's here", "x'; drop table marts.t; --", 'q"uote [1]*'])
def test_paths_with_quotes_publish_and_run_no_sql(tmp_path: Path, folder: str) -> None:
    base = tmp_path / folder
    base.mkdir()
    warehouse, published = base / "ware'house.duckdb", base / "ana'lytics.duckdb"
    _warehouse(warehouse, dau=7)
    assert publish_marts(warehouse, published) == {"fct_active_users_daily": 1}
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute("select dau from marts.fct_active_users_daily").fetchall() == [(7,)]
    assert sorted(p.name for p in base.iterdir()) == ["ana'lytics.duckdb", "ware'house.duckdb"]


def test_a_publish_killed_midway_leaves_a_temp_file_the_next_publish_removes(
    tmp_path: Path,
) -> None:
    warehouse, published = tmp_path / "warehouse.duckdb", tmp_path / "analytics.duckdb"
    _warehouse(warehouse, dau=3)
    # A real kill: a child process publishes and is SIGKILLed while it holds its staging file.
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "import orchestration.lib.publish as p\n"
        "real = p.os.replace\n"
        "def hang(a, b):\n"
        "    print('staged', flush=True); time.sleep(60)\n"
        "p.os.replace = hang\n"
        "p.publish_marts(Path(sys.argv[1]), Path(sys.argv[2]))\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(warehouse), str(published)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "staged"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    leftovers = list(tmp_path.glob(".analytics-*.tmp"))
    assert [p.name for p in leftovers] == [f".analytics-{child.pid}.tmp"]

    # A live publisher's staging file is not touched; the dead one's is.
    live = tmp_path / f".analytics-{os.getppid()}.tmp"
    live.write_bytes(b"in progress")
    assert publish_marts(warehouse, published) == {"fct_active_users_daily": 1}
    assert sorted(p.name for p in tmp_path.glob(".*.tmp")) == [live.name]
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute("select dau from marts.fct_active_users_daily").fetchall() == [(3,)]
