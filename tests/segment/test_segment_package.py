"""The events loader's batches as dlt takes them: Parquet files loaded as extracted, row ids."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dlt.normalize.items_normalizers.arrow import ArrowItemsNormalizer

from ingestion import segment
from ingestion.parquet_files import duckdb_over_parquet
from ingestion.segment import _with_row_ids
from tests.toolkit.files import track, write_events
from tests.toolkit.warehouse import pg_query, query


@pytest.fixture
def rewritten_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows of each extracted file dlt's normalize step rewrites (the rest it loads as is)."""
    rows: list[int] = []
    rewrite = ArrowItemsNormalizer._write_with_dlt_columns

    def counted(self: ArrowItemsNormalizer, file: str, table: str, add_dlt_id: bool) -> Any:
        with self.normalize_storage.extracted_packages.storage.open_file(file, "rb") as handle:
            rows.append(pq.ParquetFile(handle).metadata.num_rows)
        return rewrite(self, file, table, add_dlt_id)

    monkeypatch.setattr(ArrowItemsNormalizer, "_write_with_dlt_columns", counted)
    return rows


# Two loads: the second meets the first's unknown field (`plan`) after a new one (`seats`) in
# the same line, a variant of `plan` (a number in a text column), a re-delivered message and a
# file read line by line.
_ROWS_SQL = (
    "select message_id, plan, plan__v_bigint, seats, dense_rank() over (order by _dlt_load_id) "
    "from raw_segment.events order by message_id, 5"
)
_EXPECTED = [
    ("a1", None, None, None, 1),
    ("a1", None, None, None, 2),  # re-delivered in a later load: staging keeps the first
    ("a2", "pro", None, None, 1),
    ("b1", "team", None, 3, 2),
    ("b2", None, 7, None, 2),
    ("c1", "free", None, None, 2),
]


def _two_loads(folder: Path) -> None:
    write_events(folder / "1.jsonl.gz", [track("a1"), track("a2", plan="pro")])
    segment.load(str(folder))
    write_events(
        folder / "2.jsonl.gz",
        [{"seats": 3, **track("b1", plan="team")}, track("b2", plan=7), track("a1")],
    )
    write_events(folder / "3.jsonl.gz", [track("c1", plan="free"), "{broken"])
    segment.load(str(folder))


def test_extracted_files_load_as_they_are_across_loads_and_new_fields(
    tmp_path: Path, warehouse: Path, rewritten_rows: list[int]
):
    """Each batch carries a `_dlt_load_id` for dlt to fill: normalize never rewrites a row."""
    _two_loads(tmp_path / "events")

    assert sum(rewritten_rows) == 0  # only the empty file that creates the table, if any
    assert query(warehouse, _ROWS_SQL) == _EXPECTED
    loads = query(warehouse, "select count(*) from raw_segment._dlt_loads where status = 0")
    assert loads == [(2,)]
    load_ids = "select count(*) from raw_segment.events where _dlt_load_id not in "
    assert query(warehouse, load_ids + "(select load_id from raw_segment._dlt_loads)") == [(0,)]


@pytest.mark.slow  # starts the PostgreSQL server
def test_the_same_loads_land_alike_on_postgres(
    tmp_path: Path, postgres_warehouse: Any, warehouse: Path
):
    _two_loads(tmp_path / "events")

    assert pg_query(postgres_warehouse.url, _ROWS_SQL) == _EXPECTED
    assert not warehouse.exists()  # nothing went to the DuckDB file


def test_the_same_loads_land_alike_in_the_parquet_bucket(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
):
    """WAREHOUSE=spark: dlt's filesystem destination keeps the files as extracted."""
    monkeypatch.setenv("WAREHOUSE", "spark")
    monkeypatch.delenv("DESTINATION__FILESYSTEM__BUCKET_URL", raising=False)
    _two_loads(tmp_path / "events")

    with duckdb_over_parquet() as on_files:
        assert on_files.execute(_ROWS_SQL).fetchall() == _EXPECTED
        types = dict(
            on_files.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw_segment' and table_name = 'events'"
            ).fetchall()
        )
    assert (types["timestamp"], types["_dlt_load_id"], types["seats"]) == (
        "TIMESTAMP WITH TIME ZONE",
        "VARCHAR",
        "BIGINT",
    )


def test_the_first_load_of_a_new_table_with_unknown_fields_is_not_rewritten(
    tmp_path: Path, warehouse: Path, rewritten_rows: list[int]
):
    folder = tmp_path / "events"
    write_events(folder / "1.jsonl.gz", [track("a1", channel="web"), track("a2", plan="pro")])
    segment.load(str(folder))

    assert sum(rewritten_rows) == 0
    assert query(
        warehouse, "select count(*), count(channel), count(plan) from raw_segment.events"
    ) == [(2, 1, 1)]


def test_row_ids_are_unique_across_batches_and_have_dlts_shape():
    """Each batch's ids share 16 random characters and end in the row's number (base64)."""
    table = pa.table({"message_id": pa.array(["x"] * 70, type=pa.string())})
    first = _with_row_ids(table).column("_dlt_id").to_pylist()
    second = _with_row_ids(table).column("_dlt_id").to_pylist()

    assert len(set(first + second)) == 140
    assert all(re.fullmatch(r"[A-Za-z0-9+/]{22}", row_id) for row_id in first + second)
    assert {row_id[:16] for row_id in first} != {row_id[:16] for row_id in second}
    assert [row_id[16:] for row_id in first[:2]] == ["AAAAAA", "AAAAAB"]
    assert first[64][16:] == "AAAABA"  # 64: the second digit turns over
