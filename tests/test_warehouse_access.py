"""Opening the DuckDB warehouse while another process writes it (orchestration/lib/warehouse.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.lib import warehouse
from orchestration.lib.warehouse import connect_when_free

# A writer that creates a table, says so, keeps the file for `seconds`, then closes it.
WRITER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("create table t as select 42 as answer")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _start_writer(path: Path, seconds: float) -> subprocess.Popen[str]:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "holding"
    return writer


def test_a_reader_waits_for_the_writer_then_reads_what_it_wrote(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    writer = _start_writer(path, 2.0)
    try:
        with pytest.raises(duckdb.IOException, match="(?i)lock"):
            duckdb.connect(str(path), read_only=True)  # what the wait is for
        with connect_when_free(path, read_only=True, timeout=60) as con:
            assert con.execute("select answer from t").fetchall() == [(42,)]
        assert writer.poll() is not None  # it opened only once the writer had gone
    finally:
        writer.wait(timeout=60)


def test_a_reader_gives_up_after_its_timeout_with_duckdbs_lock_error(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    writer = _start_writer(path, 30.0)
    try:
        with pytest.raises(duckdb.IOException, match="(?i)lock"):
            connect_when_free(path, read_only=True, timeout=0.5)
    finally:
        writer.kill()
        writer.wait(timeout=60)


def test_an_error_other_than_the_lock_raises_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_waiting(seconds: float) -> None:
        raise AssertionError(f"waited {seconds} s on an error that is not the lock")

    monkeypatch.setattr(warehouse.time, "sleep", no_waiting)
    folder = tmp_path / "a-folder.duckdb"
    folder.mkdir()
    with pytest.raises(duckdb.Error):
        connect_when_free(folder, read_only=True, timeout=60)
