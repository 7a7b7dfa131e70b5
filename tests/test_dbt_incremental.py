"""Incremental builds equal a full refresh.

The hand-checked fixture of test_dbt_usage (tests/toolkit/usage_fixture.py) is built once;
then a new completed dlt load brings the next day (Feb 1) and, as late or awkward data would,
a late event for Jan 30 (within the lookback), a late event for Jan 10 (older than the
lookback: caught because its load is new), a re-delivered copy of an old messageId (the first
copy must still win), a new user, and a group call that moves u3's latest group
(re-attributing u3's old events without context.groupId). A load that crashed is appended too
and must count nowhere.

After an incremental `dbt run`, every mart must equal, row for row, the marts of a
`dbt run --full-refresh` of the same raw data.

Then a CSV license is corrected with no new event (a re-sent file: lic_1 starts earlier,
ends, and has more seats), so `fct_seat_utilization_daily` rows before the lookback window
appear, change and disappear; the next incremental run must again equal a full refresh.
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion.settings import dbt_env
from tests.toolkit.dbt import (
    DBT_MARTS,
    L1,
    L2,
    L_FAILED,
    append_load,
    create_raw_postgres,
    create_raw_warehouse,
    mart_rows,
    raw_event,
    run_dbt,
)
from tests.toolkit.usage_fixture import RAW_ROWS
from tests.toolkit.warehouse import pg_query, query

pytestmark = pytest.mark.slow

L3 = "1706800000.000003"  # completed, after the first build
L3_CRASHED = "1706800000.000004"  # written but never completed
L4 = "1706900000.000005"  # completed: a corrected license file, no events
L5 = "1707000000.000006"  # completed: one late anonymous page, before the first event day

NEW_EVENTS = [
    # The new day.
    raw_event(
        "n1",
        "track",
        "2024-02-01T09:00:00Z",
        load=L3,
        user_id="u1",
        event="Report Created",
        context_group_id="acc_a",
    ),
    raw_event("n2", "page", "2024-02-01T10:00:00Z", load=L3, user_id="u2", name="Home"),
    # A new user, first active on the new day.
    raw_event(
        "n3",
        "track",
        "2024-02-01T11:00:00Z",
        load=L3,
        user_id="u5",
        event="Dashboard Viewed",
        context_group_id="acc_b",
    ),
    # Late event for Jan 30 (within the 3-day lookback).
    raw_event(
        "n4",
        "track",
        "2024-01-30T09:00:00Z",
        load=L3,
        user_id="u2",
        event="Report Shared",
        context_group_id="acc_c",
    ),
    # Late event for Jan 10 (older than the lookback).
    raw_event(
        "n5",
        "track",
        "2024-01-10T09:00:00Z",
        load=L3,
        user_id="u4",
        event="Report Created",
        context_group_id="acc_a",
    ),
    # Re-delivered copy of m3 (Jan 3, acc_b) with other content: the first copy wins.
    raw_event(
        "m3",
        "track",
        "2024-02-01T08:00:00Z",
        load=L3,
        user_id="u2",
        event="Alert Configured",
        context_group_id="acc_c",
    ),
    # u3 joins acc_b: u3's events without context.groupId (Jan 8, 22) move to acc_b.
    raw_event("n6", "group", "2024-02-01T07:00:00Z", load=L3, user_id="u3", group_id="acc_b"),
    # A crashed load: counts nowhere.
    raw_event(
        "n7",
        "track",
        "2024-02-02T09:00:00Z",
        load=L3_CRASHED,
        user_id="u1",
        event="Report Created",
        context_group_id="acc_a",
    ),
]


# lic_1 (acc_b) was 2 seats from Jan 15, open-ended: now 4 seats, Jan 3 to Jan 19.
CORRECTED_LICENSE = {
    "license_id": "lic_1",
    "account_id": "acc_b",
    "seats": 4,
    "starts_on": "2024-01-03",
    "ends_on": "2024-01-20",
    "annual_price": 1500.0,
    "_source_file": "l2.csv",
    "_dlt_load_id": L4,
    "_dlt_id": "license-correction-0",
}


def test_incremental_run_equals_full_refresh(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    create_raw_warehouse(path, RAW_ROWS, completed_loads=[L1, L2], failed_loads=[L_FAILED])
    # Seeds and models, no data tests (test_dbt_usage runs those on the same fixture).
    first = run_dbt(
        ["build", "--exclude", "resource_type:test", "resource_type:unit_test"], path, tmp_path
    )
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
    before = mart_rows(path)

    new_events = [{"_dlt_id": f"incremental-{i}", **row} for i, row in enumerate(NEW_EVENTS)]
    append_load(path, "raw_segment", "events", new_events, L3)
    incremental = run_dbt(["run"], path, tmp_path)
    assert incremental.returncode == 0, incremental.stdout[-6000:] + incremental.stderr[-2000:]
    # The run really was incremental: it rebuilt from Jan 8 (u3's oldest re-attributed
    # event; the late Jan 10 event comes next), not from the first day.
    assert query(path, "select reprocess_from from intermediate.int_product_reprocess_from") == [
        (before["fct_active_users_daily"][7][0],)
    ]
    after_incremental = mart_rows(path)

    full = run_dbt(["run", "--full-refresh"], path, tmp_path)
    assert full.returncode == 0, full.stdout[-6000:] + full.stderr[-2000:]
    after_full = mart_rows(path)

    for mart in DBT_MARTS:
        assert after_incremental[mart] == after_full[mart], mart
    # The new data did change the product marts (the comparison is not vacuous).
    assert after_full["fct_active_users_daily"] != before["fct_active_users_daily"]
    assert after_full["fct_active_users_daily"][-1][:2] == (
        before["fct_active_users_daily"][-1][0].replace(month=2, day=1),
        3,
    )
    # The re-delivered m3 kept its first copy (Jan 3, acc_b).
    assert query(
        path,
        "select activity_date, account_id from intermediate.int_events_attributed"
        " where message_id = 'm3'",
    ) == [(before["fct_active_users_daily"][2][0], "acc_b")]

    # A license corrected between runs, no new event: rows before the restart day change.
    seats_before = mart_rows(path)["fct_seat_utilization_daily"]
    append_load(path, "raw_file_drop", "licenses", [CORRECTED_LICENSE], L4)
    corrected = run_dbt(["run"], path, tmp_path)
    assert corrected.returncode == 0, corrected.stdout[-6000:] + corrected.stderr[-2000:]
    (restart,) = query(path, "select reprocess_from from intermediate.int_product_reprocess_from")[
        0
    ]
    after_correction = mart_rows(path)
    full = run_dbt(["run", "--full-refresh"], path, tmp_path)
    assert full.returncode == 0, full.stdout[-6000:] + full.stderr[-2000:]
    after_full = mart_rows(path)
    for mart in DBT_MARTS:
        assert after_correction[mart] == after_full[mart], mart
    seats_after = after_full["fct_seat_utilization_daily"]
    acc_b_before = {row[1]: row[2] for row in seats_before if row[0] == "acc_b"}
    acc_b_after = {row[1]: row[2] for row in seats_after if row[0] == "acc_b"}
    # Not vacuous: acc_b gained, changed and lost rows, some of them before the restart day
    # (only the license comparison can catch those).
    assert min(acc_b_after) < min(acc_b_before) < restart
    assert any(acc_b_after.get(day) not in (None, seats) for day, seats in acc_b_before.items())
    assert set(acc_b_before) - set(acc_b_after)

    # A late anonymous page older than the first event day (Jan 1): the first event day
    # moves to Dec 30, and fct_active_users_daily must gain Dec 30 and 31 (zeros) although
    # no identified event arrived.
    early_page = raw_event(
        "a1", "page", "2023-12-30T12:00:00Z", load=L5, anonymous_id="anon-early", name="Home"
    )
    append_load(path, "raw_segment", "events", [{"_dlt_id": "early-0", **early_page}], L5)
    early = run_dbt(["run"], path, tmp_path)
    assert early.returncode == 0, early.stdout[-6000:] + early.stderr[-2000:]
    after_early = mart_rows(path)
    full = run_dbt(["run", "--full-refresh"], path, tmp_path)
    assert full.returncode == 0, full.stdout[-6000:] + full.stderr[-2000:]
    after_full = mart_rows(path)
    for mart in DBT_MARTS:
        assert after_early[mart] == after_full[mart], mart
    assert after_full["fct_active_users_daily"][:2] == [
        (date(2023, 12, 30), 0, 0, 0, None, 0),
        (date(2023, 12, 31), 0, 0, 0, None, 0),
    ]


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_a_group_call_restaged_from_a_late_load_moves_the_account(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A load completing out of order brings the first copy of a group call already built.

    Its staged copy (another account, an earlier time) replaces the kept one in
    stg_segment__events; int_segment_group_calls must drop the old copy too, not only append
    the new one, so the user's latest group, their events' account and dim_accounts follow,
    as a full refresh has them.
    """
    path = tmp_path / "warehouse.duckdb"
    events = [
        raw_event("g1", "group", "2024-01-05T00:00:00Z", load=L2, user_id="u1", group_id="acc_b"),
        raw_event("t1", "track", "2024-01-03T09:00:00Z", load=L2, user_id="u1", event="Sent"),
        raw_event("t2", "track", "2024-01-06T09:00:00Z", load=L2, user_id="u2", event="Sent"),
        # The first copy of g1, in L1, which completes only after L2 was built.
        raw_event("g1", "group", "2024-01-04T00:00:00Z", load=L1, user_id="u1", group_id="acc_a"),
    ]
    complete_l1 = (
        "insert into raw_segment._dlt_loads (load_id, schema_name, status, inserted_at,"
        f" schema_version_hash) values ('{L1}', 'raw_segment', 0, now(), 'hash') returning 1"
    )
    with pytest.MonkeyPatch.context() as env:
        if engine == "duckdb":
            create_raw_warehouse(path, {"raw_segment.events": events}, completed_loads=[L2])
            env.delenv("WAREHOUSE", raising=False)
            env.setenv("WAREHOUSE_PATH", str(path))

            def rows(sql: str) -> list[tuple[Any, ...]]:
                return query(path, sql)

            def complete_late_load() -> None:
                with duckdb.connect(str(path)) as con:
                    con.execute(complete_l1)

        else:
            server = request.getfixturevalue("postgres_server")
            database = server.create_database(f"restaged_{uuid.uuid4().hex[:8]}")
            create_raw_postgres(database.url, {"raw_segment.events": events}, [L2])
            for key, value in database.env().items():
                env.setenv(key, value)

            def rows(sql: str) -> list[tuple[Any, ...]]:
                return pg_query(database.url, sql)

            def complete_late_load() -> None:
                pg_query(database.url, complete_l1)

        for key, value in dbt_env().items():
            env.setenv(key, value)
        marts = {
            "latest": "select * from intermediate.int_user_latest_group order by 1",
            "group_calls": "select message_id, group_id, dlt_load_id"
            " from intermediate.int_segment_group_calls where message_id is not null",
            "accounts": "select * from marts.dim_accounts order by 1",
            "activity": "select * from marts.fct_account_activity_daily order by 1, 2",
        }
        first = run_dbt(
            ["build", "--exclude", "resource_type:test", "resource_type:unit_test"], path, tmp_path
        )
        assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
        assert rows(marts["latest"]) == [("u1", "acc_b")]

        complete_late_load()
        incremental = run_dbt(["run"], path, tmp_path)
        assert incremental.returncode == 0, incremental.stdout[-6000:]
        after_incremental = {name: rows(sql) for name, sql in marts.items()}
        assert after_incremental["latest"] == [("u1", "acc_a")]
        assert after_incremental["group_calls"] == [("g1", "acc_a", L1)]
        assert [row[0] for row in after_incremental["accounts"]] == ["acc_a"]

        full = run_dbt(["run", "--full-refresh"], path, tmp_path)
        assert full.returncode == 0, full.stdout[-6000:]
        assert {name: rows(sql) for name, sql in marts.items()} == after_incremental
