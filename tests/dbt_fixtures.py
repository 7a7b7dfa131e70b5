"""A small raw warehouse for the dbt end-to-end test, in the shapes dlt writes.

The tables and columns are the contract of docs/architecture.md (and, for Zendesk and Stripe,
the names dlt gives the vendors' fields). Every dataset gets a `_dlt_loads` table; rows are
tied to load ids, so the test can leave one load out of `_dlt_loads` (a crashed load) and
check that its rows count nowhere.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DBT_EXECUTABLE = Path(os.environ.get("DBT_EXECUTABLE", PROJECT_ROOT / ".venv" / "bin" / "dbt"))

DLT_LOADS = (
    "load_id varchar, schema_name varchar, status bigint, inserted_at timestamptz,"
    " schema_version_hash varchar"
)
DLT_ROW = "_dlt_load_id varchar, _dlt_id varchar"
DLT_CHILD = "_dlt_root_id varchar, _dlt_parent_id varchar, _dlt_list_idx bigint, _dlt_id varchar"

RAW_TABLES: dict[str, str] = {
    "raw_segment.events": (
        "message_id varchar, type varchar, timestamp timestamptz, user_id varchar,"
        " anonymous_id varchar, event varchar, name varchar, group_id varchar,"
        " context_group_id varchar,"
        " received_at timestamptz, sent_at timestamptz, properties varchar, traits varchar,"
        f" context varchar, _source_file varchar, {DLT_ROW}"
    ),
    "raw_zendesk.tickets": (
        "url varchar, id bigint, created_at timestamptz, updated_at timestamptz, type varchar,"
        " subject varchar, priority varchar, status varchar, requester_id bigint,"
        f" assignee_id bigint, organization_id bigint, via__channel varchar, {DLT_ROW}"
    ),
    "raw_zendesk.tickets__tags": f"value varchar, {DLT_CHILD}",
    "raw_zendesk.ticket_metrics": (
        "url varchar, id bigint, ticket_id bigint, created_at timestamptz, updated_at timestamptz,"
        " solved_at timestamptz, reopens bigint, replies bigint,"
        " reply_time_in_minutes__calendar bigint, reply_time_in_minutes__business bigint,"
        " first_resolution_time_in_minutes__calendar bigint,"
        " first_resolution_time_in_minutes__business bigint,"
        " full_resolution_time_in_minutes__calendar bigint,"
        f" full_resolution_time_in_minutes__business bigint, {DLT_ROW}"
    ),
    "raw_zendesk.satisfaction_ratings": (
        "url varchar, id bigint, ticket_id bigint, score varchar, created_at timestamptz,"
        f" updated_at timestamptz, {DLT_ROW}"
    ),
    "raw_zendesk.organizations": (
        "url varchar, id bigint, name varchar, external_id varchar, created_at timestamptz,"
        f" updated_at timestamptz, {DLT_ROW}"
    ),
    "raw_typeform.responses": (
        "response_id varchar, submitted_at timestamptz, user_id varchar, account_id varchar,"
        f" survey varchar, score bigint, comment varchar, answers varchar, {DLT_ROW}"
    ),
    "raw_stripe.subscriptions": (
        "id varchar, object varchar, customer varchar, status varchar, start_date bigint,"
        " ended_at bigint, canceled_at bigint, current_period_start bigint,"
        f" current_period_end double, {DLT_ROW}"
    ),
    "raw_stripe.subscriptions__items__data": (
        "id varchar, object varchar, quantity bigint, price__id varchar, price__product varchar,"
        " price__unit_amount bigint, price__currency varchar,"
        f" price__recurring__interval varchar, {DLT_CHILD}"
    ),
    "raw_stripe.customers": (
        "id varchar, object varchar, name varchar, created bigint,"
        f" metadata__account_id varchar, {DLT_ROW}"
    ),
    "raw_file_drop.survey_responses": (
        "response_id varchar, submitted_at timestamptz, user_id varchar, account_id varchar,"
        f" survey varchar, score bigint, comment varchar, _source_file varchar, {DLT_ROW}"
    ),
    "raw_file_drop.licenses": (
        "license_id varchar, account_id varchar, product varchar, plan varchar, seats bigint,"
        " starts_on date, ends_on date, annual_price double, currency varchar,"
        f" _source_file varchar, {DLT_ROW}"
    ),
}
DATASETS = sorted({name.split(".")[0] for name in RAW_TABLES})


def create_raw_warehouse(
    path: Path,
    rows: Mapping[str, Iterable[Mapping[str, Any]]],
    completed_loads: Iterable[str],
    failed_loads: Iterable[str] = (),
) -> None:
    """Create every raw table (empty unless `rows` has some) and each dataset's `_dlt_loads`.

    `completed_loads` get `status = 0` in every dataset's `_dlt_loads`; `failed_loads` get
    status 1; any other load id used in `rows` has no `_dlt_loads` record at all.
    """
    con = duckdb.connect(str(path))
    try:
        con.execute("set TimeZone = 'UTC'")
        for dataset in DATASETS:
            con.execute(f"create schema if not exists {dataset}")
            con.execute(f"create table {dataset}._dlt_loads ({DLT_LOADS})")
            loads = [(load_id, 0) for load_id in completed_loads]
            loads += [(load_id, 1) for load_id in failed_loads]
            for load_id, status in loads:
                con.execute(
                    f"insert into {dataset}._dlt_loads values (?, ?, ?, now(), 'hash')",
                    [load_id, dataset, status],
                )
        for table, ddl in RAW_TABLES.items():
            con.execute(f"create table {table} ({ddl})")
            columns = [part.strip().split(" ")[0] for part in ddl.split(",")]
            for index, row in enumerate(rows.get(table, [])):
                unknown = set(row) - set(columns)
                if unknown:
                    raise ValueError(f"{table}: unknown columns {sorted(unknown)}")
                values = {"_dlt_id": f"{table}-{index}", **row}
                names = [name for name in columns if name in values]
                placeholders = ", ".join("?" * len(names))
                con.execute(
                    f"insert into {table} ({', '.join(names)}) values ({placeholders})",
                    [values[name] for name in names],
                )
    finally:
        con.close()


def run_dbt(
    args: list[str], warehouse: Path, work_dir: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run dbt on the project against `warehouse`, with target and logs under `work_dir`."""
    env = {
        **os.environ,
        "WAREHOUSE_PATH": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = [
        str(DBT_EXECUTABLE),
        *args,
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work_dir / "target"),
        "--log-path",
        str(work_dir / "logs"),
    ]
    return subprocess.run(
        command,
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def fetch_rows(warehouse: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a query against the built warehouse (read-only)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql).fetchall()
    finally:
        con.close()
