"""dbt on hand-made raw tables: the raw warehouse dlt would write, dbt runs, marts read back.

The tables and columns are the contract of docs/architecture.md (and, for Zendesk and Stripe,
the names dlt gives the vendors' fields). Every dataset gets a `_dlt_loads` table; rows are
tied to load ids, so a test can leave one load out of `_dlt_loads` (a crashed load) and check
that its rows count nowhere. The same rows can be written to DuckDB or PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import psycopg2

from ingestion.settings import dbt_env
from tests.toolkit.paths import DBT_PROJECT_DIR, VENV_BIN
from tests.toolkit.warehouse import Rows, pg_query, query

if TYPE_CHECKING:
    import pytest

    from tools.pg_cluster import Cluster

DBT_EXECUTABLE = Path(os.environ.get("DBT_EXECUTABLE", VENV_BIN / "dbt"))

# Load ids of the hand-made fixtures (dlt's are epoch seconds with a fraction).
L1 = "1704000000.000001"  # completed
L2 = "1704100000.000002"  # completed, later
L_FAILED = "1704150000.000008"  # in _dlt_loads with status 1
L_CRASHED = "1704200000.000009"  # not in _dlt_loads at all

# The marts dbt builds (fct_experiment_results is written by a Python asset after dbt).
DBT_MARTS = {
    "fct_active_users_daily",
    "fct_account_activity_daily",
    "fct_feature_adoption_weekly",
    "fct_retention_weekly",
    "fct_nps_monthly",
    "fct_csat_monthly",
    "fct_tickets",
    "fct_support_daily",
    "fct_seat_utilization_daily",
    "dim_accounts",
    "fct_account_health_weekly",
    "metrics_daily",
    "fct_user_lifecycle_weekly",
    "fct_engagement_l28",
    "fct_funnel_weekly",
}

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


def raw_event(message_id: str, kind: str, ts: str, load: str = L1, **fields: Any) -> dict[str, Any]:
    """A `raw_segment.events` row as the events loader writes it (`fields` add or override)."""
    return {
        "message_id": message_id,
        "type": kind,
        "timestamp": ts,
        "received_at": fields.pop("received_at", ts),
        "_source_file": fields.pop("_source_file", "events/2024/01/01/a.jsonl.gz"),
        "_dlt_load_id": load,
        **fields,
    }


def _columns(ddl: str) -> list[str]:
    return [part.strip().split(" ")[0] for part in ddl.split(",")]


def _raw_statements(
    rows: Mapping[str, Iterable[Mapping[str, Any]]],
    completed_loads: Iterable[str],
    failed_loads: Iterable[str],
    mark: str = "?",
    double: str = "double",
) -> Iterator[tuple[str, list[Any]]]:
    """DDL and inserts of every raw table and each dataset's `_dlt_loads`.

    `mark` is the driver's placeholder, `double` the engine's name of a double column.
    """
    loads = [(load_id, 0) for load_id in completed_loads]
    loads += [(load_id, 1) for load_id in failed_loads]
    for dataset in DATASETS:
        yield f"create schema if not exists {dataset}", []
        yield f"create table {dataset}._dlt_loads ({DLT_LOADS})", []
        for load_id, status in loads:
            yield (
                f"insert into {dataset}._dlt_loads values ({mark}, {mark}, {mark}, now(), 'hash')",
                [load_id, dataset, status],
            )
    for table, ddl in RAW_TABLES.items():
        yield f"create table {table} ({ddl.replace(' double', f' {double}')})", []
        columns = _columns(ddl)
        for index, row in enumerate(rows.get(table, [])):
            unknown = set(row) - set(columns)
            if unknown:
                raise ValueError(f"{table}: unknown columns {sorted(unknown)}")
            values = {"_dlt_id": f"{table}-{index}", **row}
            names = [name for name in columns if name in values]
            placeholders = ", ".join([mark] * len(names))
            yield (
                f"insert into {table} ({', '.join(names)}) values ({placeholders})",
                [values[name] for name in names],
            )


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
    with duckdb.connect(str(path)) as con:
        con.execute("set TimeZone = 'UTC'")
        for sql, params in _raw_statements(rows, completed_loads, failed_loads):
            con.execute(sql, params)


def create_raw_postgres(
    url: str,
    rows: Mapping[str, Iterable[Mapping[str, Any]]],
    completed_loads: Iterable[str],
    failed_loads: Iterable[str] = (),
) -> None:
    """`create_raw_warehouse` on a PostgreSQL database: the same tables and rows."""
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        statements = _raw_statements(
            rows, completed_loads, failed_loads, mark="%s", double="double precision"
        )
        for sql, params in statements:
            cursor.execute(sql, params)
    con.close()


def raw_warehouse_for_dbt(
    rows: Mapping[str, Iterable[Mapping[str, Any]]],
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
    database: Cluster | None = None,
) -> Callable[[str], Rows]:
    """Hand-made raw rows of load L1 for `run_dbt`; returns a query on that warehouse.

    The rows go into the DuckDB file `path`, or into the PostgreSQL `database` when given, and
    the environment points dbt at it (`dbt_env`) for the rest of the test.
    """
    if database is None:
        create_raw_warehouse(path, rows, completed_loads=[L1])
        monkeypatch.delenv("WAREHOUSE", raising=False)
        monkeypatch.setenv("WAREHOUSE_PATH", str(path))
    else:
        create_raw_postgres(database.url, rows, [L1])
        for key, value in database.env().items():
            monkeypatch.setenv(key, value)
    for key, value in dbt_env().items():
        monkeypatch.setenv(key, value)
    if database is None:
        return lambda sql: query(path, sql)
    url = database.url
    return lambda sql: pg_query(url, sql)


def append_load(
    path: Path, dataset: str, table: str, rows: list[dict[str, Any]], load_id: str
) -> None:
    """Land `rows` in `dataset.table` as one more completed dlt load."""
    with duckdb.connect(str(path)) as con:
        con.execute("set TimeZone = 'UTC'")
        con.execute(
            f"insert into {dataset}._dlt_loads values (?, '{dataset}', 0, now(), 'hash')",
            [load_id],
        )
        for row in rows:
            names = list(row)
            con.execute(
                f"insert into {dataset}.{table} ({', '.join(names)})"
                f" values ({', '.join('?' * len(names))})",
                [row[name] for name in names],
            )


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


def mart_rows(path: Path, marts: Iterable[str] = DBT_MARTS) -> dict[str, Rows]:
    """Each mart's rows, ordered by every column (so two builds compare row for row)."""
    rows = {}
    for mart in marts:
        columns = query(
            path,
            "select column_name from information_schema.columns"
            f" where table_schema = 'marts' and table_name = '{mart}' order by ordinal_position",
        )
        order = ", ".join(str(i + 1) for i in range(len(columns)))
        rows[mart] = query(path, f"select * from marts.{mart} order by {order}")
    return rows
