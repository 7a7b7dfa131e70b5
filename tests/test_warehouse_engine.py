"""WAREHOUSE switches the engine: settings, errors, and loaders really landing on PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ingestion.pipeline import make_pipeline
from ingestion.settings import WarehouseSettingError, dbt_env, warehouse_engine
from tests.toolkit.files import write_file_drop
from tests.toolkit.warehouse import pg_query
from tools.compare_marts import differences


def test_duckdb_is_the_default(monkeypatch: pytest.MonkeyPatch, warehouse: Path) -> None:
    monkeypatch.delenv("WAREHOUSE", raising=False)
    assert warehouse_engine() == "duckdb"
    assert dbt_env() == {"WAREHOUSE": "duckdb", "WAREHOUSE_PATH": str(warehouse)}
    assert make_pipeline("t", "raw_t").destination.destination_name == "duckdb"


def test_an_unknown_engine_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAREHOUSE", "snowflake")
    choices = "WAREHOUSE=duckdb .*WAREHOUSE=postgres .* or WAREHOUSE=spark"
    with pytest.raises(WarehouseSettingError, match=choices):
        warehouse_engine()


def test_postgres_without_a_connection_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WAREHOUSE", "postgres")
    monkeypatch.delenv("DESTINATION__POSTGRES__CREDENTIALS", raising=False)
    monkeypatch.chdir(tmp_path)  # no .dlt/secrets.toml here
    with pytest.raises(WarehouseSettingError, match="DESTINATION__POSTGRES__CREDENTIALS="):
        dbt_env()


def test_dbt_gets_the_parts_of_dlts_connection_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAREHOUSE", "postgres")
    monkeypatch.setenv(
        "DESTINATION__POSTGRES__CREDENTIALS", "postgresql://ops:s3cret@db.internal:6543/analytics"
    )
    env = dbt_env()
    assert env["WAREHOUSE"] == "postgres"
    assert (env["DBT_POSTGRES_HOST"], env["DBT_POSTGRES_PORT"]) == ("db.internal", "6543")
    assert (env["DBT_POSTGRES_USER"], env["DBT_POSTGRES_PASSWORD"]) == ("ops", "s3cret")
    assert env["DBT_POSTGRES_DBNAME"] == "analytics"
    assert env["PGOPTIONS"] == "-c TimeZone=UTC"


@pytest.mark.slow
def test_file_drop_loader_lands_on_postgres_once_and_sets_bad_rows_aside(
    postgres_warehouse, warehouse: Path, tmp_path: Path
) -> None:
    from ingestion.sources import BY_NAME

    kwargs = write_file_drop(tmp_path)
    first = BY_NAME["file_drop"].load(**kwargs)
    second = BY_NAME["file_drop"].load(**kwargs)

    def pg(sql: str) -> list[tuple]:
        return pg_query(postgres_warehouse.url, sql)

    assert pg(
        "select response_id, user_id, survey, score from raw_file_drop.survey_responses order by 1"
    ) == [("r1", "u1", "nps", 9), ("r2", None, "csat", 4)]
    licenses = pg(
        "select license_id, account_id, seats, starts_on, ends_on, annual_price "
        "from raw_file_drop.licenses order by 1"
    )
    assert licenses == [
        ("L1", "acc_1", 50, date(2026, 1, 1), None, 60000.0),
        ("L3", None, 5, date(2026, 1, 1), date(2026, 6, 30), 1000.0),
    ]
    reasons = sorted(r for (r,) in pg("select reason from raw_file_drop.rejected_records"))
    assert reasons == [
        "csat score must be 1-5, got 0",
        "nps score must be 0-10, got 11",
        "seats is not an integer: 'fifty'",
        "submitted_at is not a timestamp: 'yesterday'",
    ]
    assert (first.rows, first.rejected) == ({"survey_responses": 2, "licenses": 2}, 4)
    # files already read are not read again: the tables are only confirmed, with no rows
    assert (second.rows, second.rejected) == ({"survey_responses": 0, "licenses": 0}, 0)
    assert not warehouse.exists()  # nothing went to the DuckDB file


def test_mart_comparison_tolerates_driver_types_and_catches_a_changed_value() -> None:
    left = {"fct": (["d", "x"], [(date(2026, 1, 1), 0.1 + 0.2), (date(2026, 1, 2), None)])}
    same = {"fct": (["d", "x"], [(date(2026, 1, 2), None), (date(2026, 1, 1), Decimal("0.3"))])}
    changed = {"fct": (["d", "x"], [(date(2026, 1, 1), 0.3001), (date(2026, 1, 2), None)])}
    from tools.compare_marts import _rows

    def normalised(marts):
        return {name: (columns, _rows(rows)) for name, (columns, rows) in marts.items()}

    assert differences(normalised(left), normalised(same)) == []
    assert differences(normalised(left), normalised(changed))
    assert differences(normalised(left), {}) == ["fct: only on the left"]


@pytest.mark.slow
def test_production_dagster_yaml_stores_runs_on_postgres(
    postgres_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    from ingestion.settings import PROJECT_ROOT

    storage = postgres_server.create_database("dagster_storage")
    for key, value in {
        "DAGSTER_PG_HOST": storage.host,
        "DAGSTER_PG_PORT": str(storage.port),
        "DAGSTER_PG_USER": storage.user,
        "DAGSTER_PG_PASSWORD": storage.user,
        "DAGSTER_PG_DB": storage.database,
    }.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "dagster.yaml").write_text((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))

    @dg.asset
    def heartbeat() -> int:
        return 1

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = dg.materialize([heartbeat], instance=instance)
        assert result.success
    assert pg_query(storage.url, "select run_id, status from runs") == [(result.run_id, "SUCCESS")]


def test_dagster_graph_follows_the_engine(tmp_path: Path) -> None:
    """Loaded fresh with WAREHOUSE=postgres: dbt targets postgres, kinds say so, no DuckDB copy."""
    import json
    import os

    from tests.toolkit.runs import run_python

    script = (
        "import json\n"
        "from orchestration.definitions import defs\n"
        "graph = defs.resolve_asset_graph()\n"
        "keys = {k.to_user_string() for k in graph.get_all_asset_keys()}\n"
        "kinds = sorted(graph.get(next(k for k in graph.get_all_asset_keys()"
        " if k.to_user_string() == 'raw_zendesk/tickets')).kinds)\n"
        "dbt = defs.resources['dbt']\n"
        "print(json.dumps({'published': 'published/marts' in keys,"
        " 'marts': 'marts/fct_tickets' in keys, 'kinds': kinds, 'target': dbt.target}))\n"
    )
    env = {
        **os.environ,
        "WAREHOUSE": "postgres",
        "DESTINATION__POSTGRES__CREDENTIALS": "postgresql://u:p@db.invalid:5432/productops",
        "WAREHOUSE_PATH": str(tmp_path / "warehouse.duckdb"),
        "DAGSTER_HOME": str(tmp_path),
    }
    out = run_python(script, env=env).stdout
    graph = json.loads(out.strip().splitlines()[-1])
    assert graph == {
        "published": False,
        "marts": True,
        "kinds": ["dlt", "postgres", "zendesk"],
        "target": "postgres",
    }
