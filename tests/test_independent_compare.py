"""The comparison behind the independent METRICS.md checks sees every kind of difference.

Small frames written here; the end-to-end test runs the same comparison on a built world.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.toolkit.dbt import L1, create_raw_warehouse, raw_event
from tests.toolkit.independent import accounts, support, usage
from tests.toolkit.independent.compare import Expected, compare_with_mart, differences

UTC = dt.UTC
COLUMNS = ["account_id", "day", "users", "rate", "plan", "active", "seen_at"]
ROWS = [
    ("acc_1", dt.date(2024, 1, 1), 3, 0.25, "pro", True, dt.datetime(2024, 1, 1, 9, tzinfo=UTC)),
    ("acc_2", dt.date(2024, 1, 1), 0, None, None, False, dt.datetime(2024, 1, 2, 0, tzinfo=UTC)),
    ("acc_1", dt.date(2024, 1, 2), 7, 1 / 3, "pro", True, None),
]
KEYS = ["account_id", "day"]


def table(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def changed(row: int, column: str, value: object) -> pd.DataFrame:
    rows: list[list[object]] = [list(r) for r in ROWS]
    rows[row][COLUMNS.index(column)] = value
    return table([tuple(r) for r in rows])


def test_equal_tables_show_no_difference_across_representations() -> None:
    mart = table(ROWS)
    mart["users"] = mart["users"].astype(np.int64)  # numpy integers, as pandas holds them
    mart.loc[2, "rate"] = 1 / 3 * (1 + 1e-12)  # float noise far inside 1e-9 relative
    tokyo = ZoneInfo("Asia/Tokyo")  # the same instant read in another session time zone
    mart.loc[0, "seen_at"] = dt.datetime(2024, 1, 1, 18, tzinfo=tokyo)
    mart.loc[1, "rate"] = float("nan")  # a null, as pandas may hold it
    found = differences("t", table(ROWS), mart, KEYS)
    assert not found, found.message()


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [
        ("users", 4, "expected 3, mart 4"),  # integer
        ("rate", 0.25 * (1 + 1e-8), "expected 0.25, mart 0.2500000025"),  # float beyond 1e-9
        ("plan", "Pro", "expected 'pro', mart 'Pro'"),  # text, case counts
        ("active", False, "expected True, mart False"),  # boolean
        ("active", 1, "expected True, mart 1"),  # a boolean is not the integer 1
        ("seen_at", dt.datetime(2024, 1, 1, 9, 0, 1, tzinfo=UTC), "mart datetime.datetime"),
        ("plan", None, "expected 'pro', mart None"),  # a value against a null
    ],
)
def test_a_changed_value_of_each_type_is_one_difference(
    column: str, value: object, shown: str
) -> None:
    found = differences("fct_x", table(ROWS), changed(0, column, value), KEYS)
    assert len(found.differing) == 1 and not found.only_expected and not found.only_mart
    key, name, _, _ = found.differing[0]
    assert key == ("acc_1", dt.date(2024, 1, 1)) and name == column
    assert f"('acc_1', datetime.date(2024, 1, 1)) {column}: " in found.message()
    assert shown in found.message()


def test_a_changed_date_key_is_a_missing_row_and_an_extra_row() -> None:
    found = differences("fct_x", table(ROWS), changed(1, "day", dt.date(2024, 1, 3)), KEYS)
    assert found.only_expected == [("acc_2", dt.date(2024, 1, 1))]
    assert found.only_mart == [("acc_2", dt.date(2024, 1, 3))]
    assert found.differing == []


def test_missing_and_extra_rows_are_named_with_counts_and_at_most_ten_examples() -> None:
    extra = [("acc_9", dt.date(2024, 2, d), 1, 1.0, "x", True, None) for d in range(1, 13)]
    found = differences("fct_x", table(ROWS), table(ROWS[1:] + extra), KEYS)
    assert found.only_expected == [("acc_1", dt.date(2024, 1, 1))]
    assert len(found.only_mart) == 12
    message = found.message()
    assert message.startswith(
        "fct_x: expected 3 rows, mart 14 rows; only expected 1, only in the mart 12, "
        "differing values 0"
    )
    assert len(re.findall("only in the mart: ", message)) == 10
    assert "only expected: ('acc_1', datetime.date(2024, 1, 1))" in message


def test_duplicate_keys_are_a_difference() -> None:
    found = differences("fct_x", table(ROWS), table([*ROWS, ROWS[0]]), KEYS)
    assert found and found.duplicate_keys == {"expected": 0, "mart": 1}


def test_a_column_the_mart_lacks_is_an_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match="no column"):
        differences("fct_x", table(ROWS), table(ROWS).drop(columns="rate"), KEYS)


def test_a_slice_of_a_mart_is_read_from_the_marts_schema_of_a_real_warehouse() -> None:
    """Only the rows `where` selects are compared; a wrong value among them is found."""
    with duckdb.connect() as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.metrics_daily as select * from (values "
            "(date '2024-01-01', 'dau', null, 5.0), (date '2024-01-01', 'events', 'acc_1', 9.0),"
            " (date '2024-01-02', 'dau', null, 6.0)) as t(metric_date, metric_name, account_id,"
            " value)"
        )
        expected = pd.DataFrame(
            {
                "metric_name": ["dau", "dau"],
                "metric_date": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)],
                "value": [5, 7],
            }
        )
        found = compare_with_mart(
            con,
            Expected(
                "metrics_daily", ["metric_name", "metric_date"], expected, "account_id is null"
            ),
        )
    assert found.label == "metrics_daily (account_id is null)"
    assert (found.expected_rows, found.mart_rows) == (2, 2)
    assert found.differing == [(("dau", dt.date(2024, 1, 2)), "value", 7, 6.0)]


@pytest.mark.parametrize("area", [usage, support, accounts])
def test_independent_checks_read_no_dbt_model(area) -> None:
    """Expected values come from raw tables and seeds only, never from what dbt built."""
    source = Path(area.__file__).read_text()
    assert re.findall(r"\b(?:marts|staging|intermediate)\.\w+", source) == []
    assert re.findall(r"\braw_\w+\.\w+", source)


def test_both_attributions_let_a_group_call_without_received_at_lose_a_timestamp_tie(
    tmp_path: Path,
) -> None:
    """docs/metrics.md: on a `timestamp` tie the later `received_at` wins, and a call
    without one loses, in the usage area (Python) and in the account area (SQL) alike."""
    ts = "2024-01-01 10:00:00+00"
    rows = {
        "raw_segment.events": [
            raw_event("g-a", "group", ts, user_id="u1", group_id="acc_a", traits='{"name": "A"}'),
            raw_event(
                "g-z",
                "group",
                ts,
                user_id="u1",
                group_id="acc_b",
                received_at=None,
                traits='{"name": "B"}',
            ),
            raw_event(
                "g-c",
                "group",
                ts,
                user_id="u2",
                group_id="acc_a",
                received_at=None,
                traits='{"name": "Not A"}',
            ),
            raw_event("t-1", "track", "2024-01-01 11:00:00+00", user_id="u1", event="x"),
        ]
    }
    path = tmp_path / "raw.duckdb"
    create_raw_warehouse(path, rows, completed_loads=[L1])
    with duckdb.connect(str(path)) as con:
        assert usage.account_of(usage.activity(con)) == {"u1": "acc_a", "u2": "acc_a"}
        work = con.cursor()
        work.execute("set session TimeZone = 'UTC'")
        work.execute(accounts.EVENTS)
        work.execute(accounts.ATTRIBUTED)
        assert work.execute("select * from user_group order by 1").fetchall() == [
            ("u1", "acc_a"),
            ("u2", "acc_a"),
        ]
        name = work.execute(
            "select arg_max(json_extract_string(traits, '$.name'), latest) from ev"
            " where group_id = 'acc_a'"
        ).fetchall()
        assert name == [("A",)]
